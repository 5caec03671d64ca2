"""Starting, signalling and waiting for the search processes of the fault tests.

A search (`tests/faults/child.py`) starts one of two ways:

- forked from a fork server that imported TensorFlow, Keras and keras_hparams once
  (multiprocessing's "forkserver"): a new search process in 0.1 s instead of 5 s,
  which is what lets one test kill a search dozens of times;
- as a fresh interpreter, `python -m tests.faults.child`, as a user runs a script.

Either way it is a real process with its own memory, killed by a real signal. Every
wait has a timeout: a child that hangs is killed and fails its test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180

_fork_server: Any = None


def fork_server() -> Any:
    """The multiprocessing context whose server has `tests.faults.child` imported."""
    global _fork_server
    if _fork_server is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tests.faults.child"])
        _fork_server = context
    return _fork_server


class Search:
    """One search process and the files it writes under `<directory>/runs/`."""

    _numbers = itertools.count(1)

    def __init__(self, directory: Path, config: dict[str, Any], fresh: bool) -> None:
        runs = directory / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        stem = runs / f"{next(self._numbers):04d}"
        self.config = {
            "directory": str(directory),
            "events": f"{stem}.events",
            "output": f"{stem}.out",
            "result": f"{stem}.json",
            **config,
        }
        self.fresh = fresh
        if fresh:
            self._start_interpreter()
        else:
            self.process = fork_server().Process(
                target=_run_child, args=(self.config,), daemon=False
            )
            self.process.start()
        self.pid = self.process.pid

    def _start_interpreter(self) -> None:
        config = dict(self.config)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("KH_FAULT_KILL", None)
        if config.get("kill"):
            env["KH_FAULT_KILL"] = config.pop("kill")
        with open(config["output"], "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.faults.child", json.dumps(config)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )

    # -- signals and waiting ----------------------------------------------------
    def kill(self) -> None:
        _signal(self.pid, signal.SIGKILL)

    def interrupt(self) -> None:
        _signal(self.pid, signal.SIGINT)

    def terminate(self) -> None:
        _signal(self.pid, signal.SIGTERM)

    def poll(self) -> int | None:
        if self.fresh:
            return self.process.poll()
        return self.process.exitcode

    def join(self, timeout: float) -> int | None:
        """The exit code once it ends within `timeout` seconds, else None."""
        if self.fresh:
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        self.process.join(timeout)
        return self.process.exitcode

    def wait(self, timeout: float = TIMEOUT) -> int:
        """The exit code (negative: killed by that signal); kills a hung child."""
        code = self.join(timeout)
        if code is not None:
            return code
        self.kill()
        if self.fresh:
            self.process.wait(10)
        else:
            self.process.join(10)
        raise AssertionError(
            f"The search process {self.pid} ran over {timeout} s and was killed. "
            f"Its output:\n{self.output()[-3000:]}"
        )

    def wait_for(self, event: str, timeout: float = TIMEOUT) -> bool:
        """Waits until the child logs `event`; False if it ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if event in self.events():
                return True
            if self.poll() is not None:
                return event in self.events()
            time.sleep(0.005)
        self.kill()
        raise AssertionError(f"The search never logged {event!r} in {timeout} s.")

    # -- what the child wrote ---------------------------------------------------
    def events(self) -> list[str]:
        """The events the child logged, in order, without its process id."""
        try:
            text = Path(self.config["events"]).read_text()
        except FileNotFoundError:
            return []
        return [line.partition(" ")[2] for line in text.splitlines()]

    def pids(self, event: str) -> list[int]:
        """The process ids that logged `event` (the search's, its workers')."""
        try:
            text = Path(self.config["events"]).read_text()
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            pid, _, logged = line.partition(" ")
            if logged == event and int(pid) not in found:
                found.append(int(pid))
        return found

    def events_of(self, pid: int) -> list[str]:
        """The events process `pid` logged, in order."""
        try:
            text = Path(self.config["events"]).read_text()
        except FileNotFoundError:
            return []
        prefix = f"{pid} "
        return [
            line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)
        ]

    def wait_for_pid(self, event: str, timeout: float = TIMEOUT) -> int:
        """The process id of the first process to log `event`."""
        assert self.wait_for(event, timeout), self.output()[-3000:]
        return self.pids(event)[0]

    def output(self) -> str:
        try:
            return Path(self.config["output"]).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def result(self) -> dict[str, Any] | None:
        try:
            return json.loads(Path(self.config["result"]).read_text())
        except FileNotFoundError:
            return None


def start(directory: Path, *, fresh: bool = False, **config: Any) -> Search:
    """Starts a search in `directory` (project `p`); `config` as `child.main` reads."""
    return Search(Path(directory), config, fresh)


def run(directory: Path, *, fresh: bool = False, **config: Any) -> Search:
    """Starts a search and waits for it to end."""
    search = start(directory, fresh=fresh, **config)
    search.wait()
    return search


def _run_child(config: dict[str, Any]) -> None:
    from tests.faults import child

    child.main(config)


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass  # it ended first


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the system
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def wait_gone(pids: list[int], timeout: float = 60) -> list[int]:
    """Waits until none of `pids` runs; those still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [pid for pid in pids if alive(pid)]
        if not running:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs mounted at `path` (a disk that fills on demand), or a skip
    where mounting is not allowed (not root, no CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Writes a file in `folder` until its disk is full; returns it."""
    filler = folder / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(handle, b"\0" * 4096)
    finally:
        os.close(handle)
    return filler
