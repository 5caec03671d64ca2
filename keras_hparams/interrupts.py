"""Ctrl-C during a search: never lost inside the garbage collector.

Python drops an exception raised in a finalizer or weakref callback ("Exception
ignored in ..."), and a Ctrl-C that lands while the garbage collector runs them
(building Keras models makes reference cycles; the tuner collects them every few
trials) would be dropped with it: the search would go on. During `search()`,
a Ctrl-C outside the collector raises `KeyboardInterrupt` at once, as usual; one
inside it is kept and raised at the next safe point: a batch's end, or between
trials.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Iterator
from typing import Any

import keras

_state = {"collecting": False, "pending": False}


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    del info
    _state["collecting"] = phase == "start"


def _on_sigint(signum: int, frame: Any) -> None:
    del signum, frame
    if _state["collecting"]:
        _state["pending"] = True  # raised here, Python would drop it
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """While active, a Ctrl-C during garbage collection is kept for `check()`.

    Does nothing outside the main thread, or when the program has its own SIGINT
    handler.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    _state.update(collecting=False, pending=False)
    gc.callbacks.append(_on_gc)
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
        check()
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        gc.callbacks.remove(_on_gc)
        _state.update(collecting=False, pending=False)


def check() -> None:
    """Raises the `KeyboardInterrupt` of a Ctrl-C kept during garbage collection."""
    if _state["pending"]:
        _state["pending"] = False
        raise KeyboardInterrupt


class SafePoint(keras.callbacks.Callback):
    """Checks for a kept Ctrl-C at each batch's end."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        check()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        check()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        check()
