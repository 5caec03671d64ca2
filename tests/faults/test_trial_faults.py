"""Faults inside a trial fail that trial only: recorded with their message, and the
search goes on.

One search, its trials scripted by a small `Algorithm` subclass: the defaults, then
an exception in the build, a Python MemoryError in the build, an exception at epoch
2, a NaN loss, an out-of-memory error from TensorFlow mid-epoch (raised by a
callback; under `KH_FAULTS=full` also a real one: a callback asks for a 32 GiB
tensor), then a healthy trial.
"""

from __future__ import annotations

import re

import keras
import pytest
import tensorflow as tf

import keras_hparams as kh
from keras_hparams.algorithms import Algorithm
from tests.faults import FULL, TALLY, invariants

pytestmark = pytest.mark.faults

EPOCHS = 2
FAULTS = ["build", "memory", "epoch", "nan", "oom"] + (["real_oom"] if FULL else [])


class Scripted(Algorithm):
    """Proposes the given values in order, one set per trial after the first."""

    def __init__(self, proposals: list[dict]) -> None:
        super().__init__(seed=0)
        self.proposals = proposals

    def propose(self, space, trials, n=1, *, direction="min"):
        start = len(trials) - 1  # the first trial runs the defaults
        return self.proposals[start : start + n]


class InjectFaults(keras.callbacks.Callback):
    """Raises mid-training for the trials whose model carries a fault."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        fault = getattr(self.model, "injected_fault", "none")
        if self.epoch == 1 and batch == 2:
            if fault == "epoch":
                raise RuntimeError("injected fault at epoch 2")
            if fault == "oom":
                raise tf.errors.ResourceExhaustedError(
                    None, None, "OOM when allocating tensor with shape[65536,65536]"
                )
            if fault == "real_oom":  # 32 GiB: TensorFlow gives up after 10 s
                keras.ops.zeros((2**33,))


@kh.tunable
def build_model():
    fault = kh.Choice("fault", ["none", *FAULTS])
    units = kh.Int("units", 4, 64, step=4, default=8)
    if fault == "build":
        raise RuntimeError("injected fault while building")
    if fault == "memory":
        bytearray(2**50)  # a real MemoryError: a petabyte
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(units)])
    if fault == "nan":
        model.add(keras.layers.Lambda(lambda t: t * float("nan")))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.injected_fault = fault
    return model


EXPECTED = {
    "build": (r"RuntimeError: injected fault while building", 0),
    "memory": (r"MemoryError", 0),
    "epoch": (r"RuntimeError: injected fault at epoch 2", 1),
    "nan": (r"Training diverged: loss became nan at epoch 1\.", 1),
    "oom": (r"ResourceExhaustedError: OOM when allocating tensor", 1),
    "real_oom": (r"ResourceExhaustedError: .*OOM when allocating tensor", 1),
}


def test_trial_faults_are_recorded_and_the_search_goes_on(digits, tmp_path):
    proposals = [{"fault": f, "units": 12 + 4 * i} for i, f in enumerate(FAULTS)]
    proposals.append({"fault": "none", "units": 64})
    tuner = kh.Tuner(
        build_model,
        "val_accuracy",
        max_trials=len(proposals) + 1,
        algorithm=Scripted(proposals),
        directory=tmp_path,
        project_name="p",
        max_consecutive_failures=len(FAULTS) + 1,
        keep_checkpoints=1,
        seed=0,
        verbose=0,
    )
    tuner.search(
        *digits, epochs=EPOCHS, validation_split=0.25, callbacks=[InjectFaults()]
    )

    trials = tuner.trials
    assert [t.params["fault"] for t in trials] == ["none", *FAULTS, "none"]
    assert [t.status for t in trials] == ["completed"] + ["failed"] * len(FAULTS) + [
        "completed"
    ]
    for trial in trials[1:-1]:
        message, epochs_recorded = EXPECTED[trial.params["fault"]]
        assert re.match(message, trial.error or ""), (trial.params, trial.error)
        assert len(trial.history) == epochs_recorded, trial.params["fault"]
        assert trial.score is None
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=EPOCHS)
    invariants.check_files(tmp_path / "p", rows, keep=1, final=True)
    assert tuner.best_trial.id in (1, len(trials))
    TALLY["trial faults recorded"] += len(FAULTS)


class LongError(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("out of memory: " + "detail " * 400 + "(end)")


def test_a_long_error_is_recorded_with_its_type_and_first_line(digits, tmp_path):
    tuner = kh.Tuner(
        build_model,
        "val_accuracy",
        max_trials=1,
        directory=tmp_path,
        project_name="p",
        max_consecutive_failures=2,
        verbose=0,
    )
    with pytest.raises(kh.NoCompletedTrialError) as raised:
        tuner.search(*digits, epochs=1, validation_split=0.25, callbacks=[LongError()])
    # The error quotes the first line, cut; the store keeps the whole message.
    assert "trial 1: RuntimeError: out of memory: detail" in str(raised.value)
    assert len(str(raised.value)) < 500
    (trial,) = tuner.trials
    assert trial.status == "failed"
    assert trial.error.startswith("RuntimeError: out of memory"), trial.error[:60]
