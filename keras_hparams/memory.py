"""A search's memory in one process: flat across hundreds of trials.

Before each trial, Keras's session is cleared and garbage collected; the objects that
existed when the search started are frozen out of the collector's reach, so a
collection scans only what trials made; and the gradient functions TensorFlow
registers per traced model, which it never drops, are dropped.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import keras

_trials_since_collect = [0]
# A full garbage collection costs about 0.3 s with TensorFlow loaded, as long as a
# small trial: one every this many trials bounds memory at a tenth of the cost.
# With the objects older than the search frozen (`flat_memory`), one costs about
# 0.01 s, and every trial collects.
COLLECT_EVERY = 10


def free_memory() -> None:
    """Clears Keras's session before a trial and collects garbage: every trial
    when the older objects are frozen, else every `COLLECT_EVERY` trials."""
    _trials_since_collect[0] += 1
    collect = _frozen or _trials_since_collect[0] >= COLLECT_EVERY
    if collect:
        _trials_since_collect[0] = 0
    forget_custom_gradients()
    keras.backend.clear_session(free_memory=collect)


# TensorFlow registers a gradient function, named "CustomGradient-<uid>", each time
# a `tf.custom_gradient` is traced into a graph, and never unregisters it; the
# function's closure holds the traced graph. Keras's train step traces two per
# model, so without this every trial would leave about 2,700 Python objects and
# 2 MB behind that `clear_session()` and `gc.collect()` cannot free (see
# benchmarks/RESULTS.md, memory). The names present when a search starts are kept;
# those traced by earlier trials are dropped before each trial: their graphs are
# built, and nothing traces gradients through a finished trial's model again.
_CUSTOM_GRADIENT = "CustomGradient-"
_gradients_before_search: set[str] | None = None
_frozen = False  # whether `flat_memory` froze the older objects (not the caller)


def _gradient_registry() -> dict[str, Any] | None:
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another backend, or TF changed
        return None
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def flat_memory():
    """While a search runs in this process (or a worker of ours lives):

    - the objects that exist at its start (TensorFlow, Keras, the data: about
      400,000) are moved out of the garbage collector's reach with `gc.freeze()`,
      so that a full collection scans only what trials made since (0.3 s -> 0.01 s
      per collection), and given back at the end;
    - the custom gradients registered after its start are dropped before each
      trial (see above). Dask workers, which may run other work between and beside
      trials, keep theirs.
    """
    global _gradients_before_search, _frozen
    registry = _gradient_registry()
    _gradients_before_search = None if registry is None else set(registry)
    # (get_freeze_count() walks the frozen objects: 0.05 s with TensorFlow's.)
    freeze = gc.get_freeze_count() == 0  # else the caller manages freezing
    if freeze:
        gc.collect()
        gc.freeze()
        _frozen = True
    try:
        yield
    finally:
        _gradients_before_search = None
        if freeze:
            _frozen = False
            gc.unfreeze()


def forget_custom_gradients() -> None:
    """Drops the custom gradients that trials registered since the search began."""
    registry = _gradient_registry()
    if registry is None or _gradients_before_search is None:
        return
    for name in [
        name
        for name in registry
        if name.startswith(_CUSTOM_GRADIENT) and name not in _gradients_before_search
    ]:
        del registry[name]


def prepare(seed: int | None, trial_id: int) -> None:
    """Before a trial: frees the last one's memory, seeds this one's weights."""
    free_memory()
    if seed is not None:
        keras.utils.set_random_seed((seed * 100_003 + trial_id) % 2**32)
