"""Ctrl-C and SIGTERM during a search: a clean stop, never lost.

A batch scheduler (SLURM, Kubernetes, a spot instance's notice) asks a job to end
with SIGTERM. During `search()` it stops the search as Ctrl-C does (the running
trials recorded `interrupted`, the workers stopped, the lock let go), then the
process exits with status 143 (128 + SIGTERM), as if the signal had ended it.

Python drops an exception raised in a finalizer or weakref callback ("Exception
ignored in ..."), and a signal that lands while the garbage collector runs them
(building Keras models makes reference cycles; the tuner collects them every few
trials) would be dropped with it: the search would go on. During `search()`, a
Ctrl-C or SIGTERM outside the collector raises at once, as usual; one inside it is
kept and raised at the next safe point: a batch's end, or between trials.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Iterator
from typing import Any

import keras

_state: dict[str, Any] = {"collecting": False, "pending": None, "received": None}


class Terminated(SystemExit):
    """SIGTERM during a search: it stops cleanly, then the process exits with 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)

    def __str__(self) -> str:
        return "stopped by SIGTERM"


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    del info
    _state["collecting"] = phase == "start"


def _on_signal(signum: int, frame: Any) -> None:
    del frame
    error = KeyboardInterrupt if signum == signal.SIGINT else Terminated
    _state["received"] = error
    if _state["collecting"]:
        _state["pending"] = error  # raised here, Python would drop it
        return
    raise error()


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """While active, Ctrl-C raises `KeyboardInterrupt` and SIGTERM `Terminated`,
    and one that lands during garbage collection is kept for `check()`.

    Does nothing outside the main thread; leaves alone a signal for which the
    program has a handler of its own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.SIG_DFL,
    }
    ours = [s for s, default in defaults.items() if signal.getsignal(s) is default]
    _state.update(collecting=False, pending=None, received=None)
    gc.callbacks.append(_on_gc)
    for signum in ours:
        signal.signal(signum, _on_signal)
    try:
        yield
        check()
    finally:
        for signum in ours:
            signal.signal(signum, defaults[signum])
        gc.callbacks.remove(_on_gc)
        _state.update(collecting=False, pending=None, received=None)


def check() -> None:
    """Raises the `KeyboardInterrupt` or `Terminated` of a signal kept during
    garbage collection."""
    pending = _state["pending"]
    if pending is not None:
        _state["pending"] = None
        raise pending()


def converted(error: Exception) -> None:
    """Raises the `KeyboardInterrupt` or `Terminated` of a signal received during
    this search, chained to `error`: TensorFlow's C++ code can turn the exception
    that the signal raised inside it into another error, which would otherwise be
    recorded as a failed trial while the search went on."""
    received = _state["received"]
    if received is not None:
        _state["pending"] = None
        raise received() from error


class SafePoint(keras.callbacks.Callback):
    """Checks for a kept Ctrl-C or SIGTERM at each batch's end."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        check()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        check()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        check()
