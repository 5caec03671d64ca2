"""The project lock: one process at a time holds a project folder.

`search.lock` in the folder is locked (`flock`) while a `Tuner` holds the project:
from `Tuner()` until its search ends or it is closed, so no other process can
delete or change a project another one holds. The lock belongs to the process:
every `Tuner` of one process on one folder shares it (a notebook that makes a new
Tuner while the old one is still referenced keeps working), and the system
releases it when the process ends, however it ends. Reading a search (`kh.load`)
never takes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keras_hparams.errors import SearchLockedError

LOCK_NAME = "search.lock"


@dataclasses.dataclass
class _Held:
    """A lock this process holds: its open file, and who in the process uses it."""

    handle: Any
    holders: int = 0
    searching: bool = False


_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


class ProjectLock:
    """This process's hold on a project folder's lock.

    Args:
        directory: path of the project folder (it must exist).

    Example:

    ```python
    lock = ProjectLock(Path("hparams/digits"))
    lock.acquire()      # SearchLockedError if another process holds it
    with lock.searching():
        ...             # no other Tuner, here or elsewhere, searches meanwhile
    ```
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.key = os.path.realpath(self.directory)
        self.held = False

    def acquire(self) -> None:
        """Holds the lock (shared with this process's other holders)."""
        with _GUARD:
            if self.held:
                return
            entry = _HELD.get(self.key)
            if entry is None:
                entry = _HELD[self.key] = _Held(take_lock(self.directory))
            entry.holders += 1
            self.held = True

    def release(self) -> None:
        """Lets go; the file is unlocked once no holder in this process is left."""
        with _GUARD:
            if not self.held:
                return
            self.held = False
            entry = _HELD[self.key]
            entry.holders -= 1
            if entry.holders == 0:
                entry.handle.close()  # closing releases the flock
                del _HELD[self.key]

    @contextlib.contextmanager
    def searching(self) -> Iterator[None]:
        """Holds the lock while a search runs, and refuses a second search of the
        folder in this process; lets go when the search ends."""
        self.acquire()
        with _GUARD:
            entry = _HELD[self.key]
            busy = entry.searching
            entry.searching = True
        if busy:
            self.release()
            raise SearchLockedError(
                f"Another Tuner of this process is searching in {self.directory}. "
                "Wait for its search to end, or give this search another "
                "project_name."
            )
        try:
            yield
        finally:
            with _GUARD:
                entry.searching = False
            self.release()

    def check_not_searching(self) -> None:
        """Raises `SearchLockedError` while a search of this process runs here."""
        with _GUARD:
            entry = _HELD.get(self.key)
            if entry is not None and entry.searching:
                raise SearchLockedError(
                    f"A Tuner of this process is searching in {self.directory}, so "
                    "overwrite=True cannot delete it now. Wait for the search to end, "
                    "or give this search another project_name."
                )


def take_lock(directory: Path) -> Any:
    """The open, flock-ed `search.lock` of `directory` (closing it releases the
    lock); `SearchLockedError` if another process holds it."""
    path = Path(directory) / LOCK_NAME
    try:
        # "a+", not "w": a refused attempt must not wipe the holder's process id.
        handle = open(path, "a+")
    except OSError as error:
        raise OSError(
            error.errno,
            f"keras-hparams cannot write in {directory} ({error.strerror}): a Tuner "
            "writes its project there. To read a finished search on a read-only "
            f"disk, use kh.load({str(directory)!r}).",
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        which = f" (pid {holder})" if holder.isdigit() else ""
        raise SearchLockedError(
            f"Another process{which} holds {directory}: it is searching there, or "
            "has a Tuner on it that is not closed. Wait for it to end (or close that "
            "Tuner), or give this search another project_name."
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
