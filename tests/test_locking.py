"""Tests for keras_hparams/locking.py: one process at a time holds a project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from keras_hparams.errors import FatalError, SearchLockedError
from keras_hparams.locking import LOCK_NAME, ProjectLock

_OTHER_PROCESS = textwrap.dedent("""
    import sys
    from pathlib import Path
    from keras_hparams.errors import SearchLockedError
    from keras_hparams.locking import ProjectLock

    lock = ProjectLock(Path(sys.argv[1]))
    for line in sys.stdin:
        try:
            lock.acquire()
        except SearchLockedError as error:
            print("locked:", error, flush=True)
        else:
            lock.release()  # before answering, so the parent may take it at once
            print("acquired", flush=True)
""")


def test_the_lock_excludes_another_process_and_names_it(tmp_path):
    lock = ProjectLock(tmp_path)
    lock.acquire()
    process = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    try:
        process.stdin.write("try\n")
        process.stdin.flush()
        first = process.stdout.readline()
        lock.release()
        process.stdin.write("try\n")
        process.stdin.flush()
        second = process.stdout.readline()
        lock.acquire()  # the other process let it go again
    finally:
        process.stdin.close()
        process.wait(timeout=60)
        lock.release()
    assert first.startswith(
        f"locked: Another process (pid {os.getpid()}) holds {tmp_path}: it is "
        "searching there, or has a Tuner on it that is not closed."
    ), first
    assert "give this search another project_name" in first
    assert second.strip() == "acquired"
    assert process.returncode == 0


def test_holders_in_one_process_share_the_lock(tmp_path):
    first, second = ProjectLock(tmp_path), ProjectLock(tmp_path / ".")
    first.acquire()
    first.acquire()  # taking it again is a no-op
    second.acquire()  # the same folder, the same process: shared
    first.release()
    assert _held_elsewhere(tmp_path) is False  # second still holds it
    second.release()
    assert _held_elsewhere(tmp_path) is None  # let go: another process may take it


def _held_elsewhere(directory):
    """What a new process finds: False if locked, None if it could take the lock."""
    code = (
        "import sys; from pathlib import Path\n"
        "from keras_hparams.errors import SearchLockedError\n"
        "from keras_hparams.locking import take_lock\n"
        "try:\n    take_lock(Path(sys.argv[1]))\nexcept SearchLockedError:\n"
        "    sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(directory)], timeout=60)
    return {3: False, 0: None}[result.returncode]


def test_a_second_search_of_one_folder_in_this_process_is_refused(tmp_path):
    first, second = ProjectLock(tmp_path), ProjectLock(tmp_path)
    with first.searching():
        with (
            pytest.raises(
                SearchLockedError,
                match=re.escape(
                    f"Another Tuner of this process is searching in {tmp_path}."
                ),
            ),
            second.searching(),
        ):
            pass
        with pytest.raises(SearchLockedError, match="overwrite=True cannot delete"):
            second.check_not_searching()
    with second.searching():  # once the first search ended
        pass
    assert not first.held and not second.held


def test_a_folder_that_cannot_be_written_is_an_error_that_says_so(tmp_path):
    (tmp_path / LOCK_NAME).mkdir()  # open() fails, as on a read-only disk
    with pytest.raises(
        OSError, match=r"keras-hparams cannot write in .*use kh\.load\("
    ):
        ProjectLock(tmp_path).acquire()


def test_search_locked_error_is_fatal():
    assert issubclass(SearchLockedError, FatalError)
    assert issubclass(SearchLockedError, RuntimeError)
