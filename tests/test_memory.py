"""The search's memory in one process: a clear session per trial, no graphs left
behind, the objects older than the search frozen while it runs."""

import gc

import keras
import pytest

from keras_hparams import memory
from tests.test_tuner import make_tuner, search


class FirstLayerNames(keras.callbacks.Callback):
    names = []

    def on_train_begin(self, logs=None):
        type(self).names.append(self.model.layers[0].name)


def test_session_is_cleared_between_trials(builder, digits, tmp_path):
    # Without clear_session() the names would go on: dense, dense_2, dense_4, ...
    FirstLayerNames.names = []
    tuner = make_tuner(builder, tmp_path, max_trials=3)
    search(tuner, digits, epochs=1, callbacks=[FirstLayerNames()])
    assert FirstLayerNames.names == ["dense", "dense", "dense"]


def _custom_gradients() -> set[str]:
    registry = memory._gradient_registry()
    return {name for name in registry if name.startswith("CustomGradient-")}


def _func_graphs() -> int:
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


def test_trials_do_not_leave_their_graphs_behind(builder, digits, tmp_path):
    # TensorFlow keeps a gradient function per traced custom gradient, holding
    # its graph, for good: measure what one plain fit leaves behind.
    x, y = digits
    keras.backend.clear_session()
    graphs, gradients = _func_graphs(), _custom_gradients()
    model = builder.build({})
    model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    del model
    keras.backend.clear_session()
    one_fit = len(_custom_gradients() - gradients)
    one_fit_graphs = _func_graphs() - graphs
    if not one_fit:
        pytest.skip("this TensorFlow registers no custom gradient per model")
    assert one_fit_graphs > 0

    graphs, gradients = _func_graphs(), _custom_gradients()
    tuner = make_tuner(builder, tmp_path, max_trials=4)
    search(tuner, digits, epochs=1)
    # Only the last trial's are left: the earlier trials' were dropped.
    assert len(_custom_gradients() - gradients) <= one_fit
    keras.backend.clear_session()
    assert _func_graphs() - graphs <= one_fit_graphs
    # Gradients registered before the search are kept.
    assert gradients <= _custom_gradients()


class FreezeCount(keras.callbacks.Callback):
    counts = []

    def on_train_begin(self, logs=None):
        type(self).counts.append(gc.get_freeze_count())


def test_objects_older_than_the_search_are_frozen_while_it_runs(
    builder, digits, tmp_path
):
    assert gc.get_freeze_count() == 0
    FreezeCount.counts = []
    tuner = make_tuner(builder, tmp_path, max_trials=2)
    search(tuner, digits, epochs=1, callbacks=[FreezeCount()])
    # Full collections during the trials skip TensorFlow's and Keras's objects...
    assert len(FreezeCount.counts) == 2 and min(FreezeCount.counts) > 100_000
    # ...which are given back to the collector when the search ends.
    assert gc.get_freeze_count() == 0

    # A caller that froze objects itself keeps them frozen, as it left them.
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        search(make_tuner(builder, tmp_path / "2", max_trials=1), digits, epochs=1)
        # (Frozen objects freed by reference counting leave the count.)
        assert 0.9 * frozen < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
