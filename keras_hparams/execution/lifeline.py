"""A worker process's tie to its driver: it dies with the driver, and beats while
it lives.

A worker killed with its driver cannot go on training an orphaned trial and
writing into a project that a restarted search runs again. On Linux the kernel
kills it when the driver dies (`prctl(PR_SET_PDEATHSIG, SIGKILL)`); everywhere, a
thread sees the driver gone (the worker re-parented) within half a second and
ends the process. The same thread writes the time into a value shared with the
driver, which kills a worker that stops beating (stopped with SIGSTOP, hung
outside Python).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from typing import Any

HEARTBEAT_EVERY = 0.5
_PR_SET_PDEATHSIG = 1


def start(driver_pid: int, heartbeat: Any) -> None:
    """Ties this process to `driver_pid` and starts beating into `heartbeat` (a
    shared double: `time.monotonic()` at the last beat)."""
    _die_with_parent()
    if os.getppid() != driver_pid:  # the driver died before the tie was made
        os._exit(1)
    threading.Thread(
        target=_watch,
        args=(driver_pid, heartbeat),
        name="keras-hparams-lifeline",
        daemon=True,
    ).start()


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return  # macOS has no parent-death signal: the watching thread does it
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _watch(driver_pid: int, heartbeat: Any) -> None:
    while True:
        heartbeat.value = time.monotonic()
        if os.getppid() != driver_pid:
            os._exit(1)
        time.sleep(HEARTBEAT_EVERY)
