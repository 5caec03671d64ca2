import math
import os
import signal
import sqlite3
import time

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import checkpoints
from tests.conftest import make_builder


class CountFits(keras.callbacks.Callback):
    """Counts the trainings it sees; the count is kept on the class (callbacks are
    copied per trial)."""

    fits = 0

    def on_train_begin(self, logs=None):
        type(self).fits += 1


def search(tuner, data, **kwargs):
    x, y = data
    kwargs.setdefault("epochs", 2)
    kwargs.setdefault("validation_split", 0.25)
    kwargs.setdefault("verbose", 0)
    tuner.search(x, y, **kwargs)


def make_tuner(builder, tmp_path, **kwargs):
    kwargs.setdefault("objective", "val_accuracy")
    kwargs.setdefault("max_trials", 3)
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("verbose", 0)
    kwargs.setdefault("project_name", "p")
    return kh.Tuner(builder, directory=tmp_path, **kwargs)


def read_rows(tmp_path):
    with sqlite3.connect(tmp_path / "p" / "trials.db") as connection:
        return connection.execute(
            "SELECT id, status, score, error FROM trials ORDER BY id"
        ).fetchall()


def test_search_records_every_trial_in_sqlite(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=4)
    search(tuner, digits)
    rows = read_rows(tmp_path)
    assert [row[:2] for row in rows] == [(i, "completed") for i in range(1, 5)]
    trials = tuner.trials
    assert all(len(t.history) == 2 and "val_accuracy" in t.history[0] for t in trials)
    for trial in trials:
        best = max(h["val_accuracy"] for h in trial.history)
        assert trial.score == pytest.approx(best)
        assert trial.started < trial.ended  # both recorded, in order
    assert tuner.best_score == max(t.score for t in trials)
    assert tuner.best_params == tuner.best_trial.params


def test_first_trial_runs_the_defaults(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=1)
    search(tuner, digits)
    assert tuner.trials[0].params == {
        "layers": 1,
        "units_0": 8,
        "act": "relu",
        "lr": 0.01,
    }


def test_objective_direction_min_picks_the_lowest(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, objective="val_loss", algorithm="random")
    search(tuner, digits)
    assert tuner.best_score == min(t.score for t in tuner.trials)
    assert tuner.objective == kh.Objective("val_loss", "min")


def test_fit_arguments_can_be_tuned(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=4, algorithm="random")
    search(tuner, digits, epochs=kh.Int(1, 3), batch_size=kh.Choice([16, 64]))
    for trial in tuner.trials:
        assert trial.params["batch_size"] in (16, 64)
        assert len(trial.history) == trial.params["epochs"]
    assert tuner.space["batch_size"] == kh.Choice("batch_size", [16, 64])


def test_conditional_dimensions_are_recorded_only_when_active(
    builder, digits, tmp_path
):
    tuner = make_tuner(builder, tmp_path, max_trials=6, algorithm="random")
    search(tuner, digits, epochs=1)
    layer_counts = {t.params["layers"] for t in tuner.trials}
    assert layer_counts == {1, 2}
    for trial in tuner.trials:
        assert ("units_1" in trial.params) == (trial.params["layers"] == 2)
    assert "units_1" in tuner.space


def test_no_duplicates_and_exhaustion_on_a_small_space(digits, tmp_path, capsys):
    @kh.tunable
    def build_model():
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(
                    kh.Choice("units", [4, 8]),
                    activation=kh.Choice("act", ["relu", "tanh"]),
                ),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = make_tuner(build_model, tmp_path, max_trials=10, verbose=1)
    search(tuner, digits, epochs=1)
    params = [tuple(sorted(t.params.items())) for t in tuner.trials]
    assert len(params) == 4
    assert len(set(params)) == 4
    assert "search space is exhausted" in capsys.readouterr().out


def test_conditional_repeats_are_not_trained_twice(digits, tmp_path):
    # units_1 matters only when layers == 2: 2 + 2 * 2 = 6 distinct models.
    @kh.tunable
    def build_model():
        model = keras.Sequential([keras.Input((64,))])
        for i in range(kh.Int("layers", 1, 2)):
            model.add(keras.layers.Dense(kh.Choice(f"units_{i}", [4, 8])))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    CountFits.fits = 0
    tuner = make_tuner(build_model, tmp_path, max_trials=12, algorithm="random")
    search(tuner, digits, epochs=1, callbacks=[CountFits()])
    params = [tuple(sorted(t.params.items())) for t in tuner.trials]
    assert len(params) == len(set(params)) == 6
    assert CountFits.fits == 6


def test_same_seed_same_proposals(digits, tmp_path):
    runs = []
    for name in ("a", "b"):
        tuner = kh.Tuner(
            make_builder(),
            "val_accuracy",
            max_trials=4,
            algorithm="random",
            seed=3,
            directory=tmp_path,
            project_name=name,
            verbose=0,
        )
        search(tuner, digits, epochs=1)
        runs.append([t.params for t in tuner.trials])
    assert runs[0] == runs[1]


def test_bayesian_search_is_deterministic_for_a_seed(digits, tmp_path):
    runs = []
    for name in ("a", "b"):
        tuner = kh.Tuner(
            make_builder(),
            "val_accuracy",
            max_trials=6,
            seed=1,
            directory=tmp_path,
            project_name=name,
            verbose=0,
        )
        search(tuner, digits, epochs=1)
        runs.append([(t.params, round(t.score, 6)) for t in tuner.trials])
    assert runs[0] == runs[1]


def test_resume_trains_only_the_missing_trials(builder, digits, tmp_path):
    CountFits.fits = 0
    first = make_tuner(builder, tmp_path, max_trials=3)
    search(first, digits, callbacks=[CountFits()])
    before = first.trials
    assert CountFits.fits == 3

    CountFits.fits = 0
    second = make_tuner(builder, tmp_path, max_trials=5)
    search(second, digits, callbacks=[CountFits()])
    assert CountFits.fits == 2
    after = second.trials
    assert [t.id for t in after] == [1, 2, 3, 4, 5]
    assert after[:3] == before

    CountFits.fits = 0
    search(make_tuner(builder, tmp_path, max_trials=5), digits, callbacks=[CountFits()])
    assert CountFits.fits == 0


def test_overwrite_starts_again(builder, digits, tmp_path):
    search(make_tuner(builder, tmp_path, max_trials=2), digits, epochs=1)
    tuner = make_tuner(builder, tmp_path, max_trials=1, overwrite=True)
    assert tuner.trials == []
    search(tuner, digits, epochs=1)
    assert len(tuner.trials) == 1


def test_overwrite_refuses_a_folder_with_other_files(builder, tmp_path):
    make_tuner(builder, tmp_path)
    (tmp_path / "p" / "notes.txt").write_text("mine")
    with pytest.raises(
        ValueError, match=r"deletes only what keras-hparams wrote.*notes"
    ):
        make_tuner(builder, tmp_path, overwrite=True)
    assert (tmp_path / "p" / "notes.txt").exists()


def test_resume_with_a_changed_dimension_is_refused(digits, tmp_path):
    def builder_with(high):
        @kh.tunable
        def build_model():
            model = keras.Sequential(
                [
                    keras.Input((64,)),
                    keras.layers.Dense(kh.Int("units", 4, high)),
                    keras.layers.Dense(10, activation="softmax"),
                ]
            )
            model.compile(
                "sgd", "sparse_categorical_crossentropy", metrics=["accuracy"]
            )
            return model

        return build_model

    search(make_tuner(builder_with(8), tmp_path, max_trials=1), digits, epochs=1)
    tuner = make_tuner(builder_with(16), tmp_path, max_trials=2)
    with pytest.raises(
        kh.SearchSpaceMismatchError,
        match=r"searched with Int\('units'.*high=8.*overwrite=True",
    ):
        search(tuner, digits, epochs=1)
    assert len(tuner.trials) == 1


def test_resume_with_a_changed_fit_marker_is_refused(builder, digits, tmp_path):
    search(
        make_tuner(builder, tmp_path, max_trials=1),
        digits,
        epochs=1,
        batch_size=kh.Choice([16, 32]),
    )
    with pytest.raises(kh.SearchSpaceMismatchError, match="batch_size"):
        search(
            make_tuner(builder, tmp_path, max_trials=2),
            digits,
            epochs=1,
            batch_size=kh.Choice([16, 64]),
        )


def test_resume_with_another_objective_is_refused(builder, digits, tmp_path):
    search(make_tuner(builder, tmp_path, max_trials=1), digits, epochs=1)
    with pytest.raises(kh.SearchSpaceMismatchError, match="objective"):
        make_tuner(builder, tmp_path, objective="val_loss")


def test_missing_objective_fails_with_the_metrics_reported(builder, digits, tmp_path):
    tuner = kh.Tuner(builder, "auc", max_trials=3, directory=tmp_path, verbose=0)
    with pytest.raises(
        kh.ObjectiveNotFoundError,
        match=r"'auc' is not among .*\['accuracy', 'loss'\]",
    ):
        tuner.search(*digits, epochs=1, verbose=0)  # the model has no AUC metric
    (trial,) = tuner.trials
    assert trial.status == "failed"
    assert "auc" in trial.error


def build_poisoned():
    """A model that outputs NaN when `poison` is on: the loss is NaN at epoch 1."""

    @kh.tunable
    def build_model():
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        if kh.Boolean("poison"):
            model.add(keras.layers.Lambda(lambda t: t * float("nan")))
        model.add(keras.layers.Softmax())
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build_model


def test_nan_trial_fails_and_the_search_goes_on(digits, tmp_path):
    tuner = make_tuner(build_poisoned(), tmp_path, max_trials=2)
    search(tuner, digits, epochs=3)
    by_poison = {t.params["poison"]: t for t in tuner.trials}
    assert by_poison[True].status == "failed"
    assert by_poison[True].error == "Training diverged: loss became nan at epoch 1."
    assert len(by_poison[True].history) == 1  # stopped at the first NaN epoch
    assert by_poison[False].status == "completed"
    assert tuner.best_trial.params["poison"] is False


class FailAt(keras.callbacks.Callback):
    """Raises at a given epoch of every training."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError(f"boom at epoch {epoch + 1}")


def build_refusing(refused):
    """A builder that raises for `refused` units (a Choice among 4, 8 and 16)."""

    @kh.tunable
    def build_model():
        units = kh.Choice("units", [4, 8, 16])
        if units == refused:
            raise ValueError(f"{refused} units are not allowed here")
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(units),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build_model


def test_failed_trial_is_recorded_and_the_search_goes_on(digits, tmp_path):
    build_model = build_refusing(8)
    tuner = make_tuner(build_model, tmp_path, max_trials=3)
    search(tuner, digits, epochs=1)
    statuses = {t.params["units"]: (t.status, t.error) for t in tuner.trials}
    assert statuses[8] == ("failed", "ValueError: 8 units are not allowed here")
    assert statuses[4][0] == statuses[16][0] == "completed"


def test_consecutive_failures_stop_the_search(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=10, max_consecutive_failures=2)
    with pytest.raises(
        kh.TooManyFailuresError,
        match=r"2 trials failed in a row, so the search stopped. The errors:\n"
        r"  trials 1, 2: RuntimeError: boom at epoch 2$",
    ) as raised:
        search(tuner, digits, epochs=3, callbacks=[FailAt(1)])
    assert str(raised.value).count("boom") == 1  # one line for one error
    trials = tuner.trials
    assert [t.status for t in trials] == ["failed", "failed"]
    assert len(trials[0].history) == 1  # the epoch before the crash is kept


def test_builder_returning_an_uncompiled_model_stops_at_the_first_trial(
    digits, tmp_path
):
    def build_model():
        return keras.Sequential(
            [keras.Input((64,)), keras.layers.Dense(kh.Int("units", 2, 4))]
        )

    tuner = make_tuner(build_model, tmp_path, max_trials=3, max_consecutive_failures=3)
    with pytest.raises(kh.BuildError, match=r"not compiled: call model\.compile"):
        search(tuner, digits)
    assert [t.status for t in tuner.trials] == ["failed"]


class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at an epoch of the first training it sees."""

    armed = True

    def on_epoch_end(self, epoch, logs=None):
        if type(self).armed and epoch == 1:
            type(self).armed = False
            raise KeyboardInterrupt


def test_ctrl_c_leaves_a_consistent_store_and_the_next_run_resumes(
    builder, digits, tmp_path
):
    InterruptAt.armed = True
    tuner = make_tuner(builder, tmp_path, max_trials=2)
    with pytest.raises(KeyboardInterrupt):
        search(tuner, digits, epochs=3, callbacks=[InterruptAt()])
    (trial,) = tuner.trials
    assert trial.status == "interrupted"

    search(make_tuner(builder, tmp_path, max_trials=2), digits, epochs=3)
    trials = tuner.trials
    assert [(t.id, t.status) for t in trials] == [(1, "completed"), (2, "completed")]
    assert trials[0].params == trial.params
    assert len(trials[0].history) == 3


class SignalTurnedIntoAnotherError(keras.callbacks.Callback):
    """Sends this process a real SIGINT at the second epoch, and turns the
    KeyboardInterrupt it raises into another error, as TensorFlow's C++ code can."""

    armed = True

    def on_epoch_end(self, epoch, logs=None):
        if type(self).armed and epoch == 1:
            type(self).armed = False
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler raises before this ends
            except KeyboardInterrupt:
                message = "'dict' object has no attribute '_type_spec'"
                raise AttributeError(message) from None


def test_a_ctrl_c_that_tensorflow_turns_into_another_error_still_stops_the_search(
    builder, digits, tmp_path
):
    SignalTurnedIntoAnotherError.armed = True
    tuner = make_tuner(builder, tmp_path, max_trials=3)
    with pytest.raises(KeyboardInterrupt) as raised:
        search(tuner, digits, epochs=3, callbacks=[SignalTurnedIntoAnotherError()])
    assert isinstance(raised.value.__cause__, AttributeError)
    assert [t.status for t in tuner.trials] == ["interrupted"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_user_callbacks_are_copied_for_each_trial(builder, digits, tmp_path):
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0)
    tuner = make_tuner(builder, tmp_path, max_trials=2)
    search(tuner, digits, epochs=2, callbacks=[stopper])
    assert stopper.model is None  # the user's own instance was never used
    assert stopper.wait == 0


def test_early_stopping_keeps_the_best_epoch_score(digits, tmp_path):
    class Scripted(keras.Sequential):
        """Reports a fixed val_loss per epoch: 1.0, 0.5, 0.8, 0.9, ..."""

        script = [1.0, 0.5, 0.8, 0.9, 0.95, 0.97]

        def fit(self, *args, callbacks=(), epochs=1, **kwargs):
            callback_list = keras.callbacks.CallbackList(callbacks, model=self)
            callback_list.on_train_begin()
            for epoch in range(epochs):
                callback_list.on_epoch_end(
                    epoch, {"loss": 1.0, "val_loss": self.script[epoch]}
                )
                if self.stop_training:
                    break
            callback_list.on_train_end()

    def build_model():
        model = Scripted([keras.Input((64,)), keras.layers.Dense(kh.Int("u", 1, 2))])
        model.compile("sgd", "mse")
        return model

    tuner = make_tuner(build_model, tmp_path, objective="val_loss", max_trials=1)
    search(
        tuner,
        digits,
        epochs=6,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)],
    )
    (trial,) = tuner.trials
    assert len(trial.history) == 4  # stopped after two epochs without improvement
    assert trial.score == 0.5
    assert trial.best_epoch == 1


def test_best_model_has_the_best_epoch_weights(builder, digits, tmp_path):
    x, y = digits
    tuner = make_tuner(builder, tmp_path, max_trials=2)
    tuner.search(x, y, epochs=3, validation_split=0.25, verbose=0, shuffle=False)
    model = tuner.best_model()
    assert model.compiled
    split = int(len(x) * 0.75)
    _, accuracy = model.evaluate(x[split:], y[split:], verbose=0)
    assert accuracy == pytest.approx(tuner.best_score, abs=1e-6)


def test_best_model_of_a_reopened_search(digits, tmp_path):
    # As in a new process: the builder has found no dimension yet, and the best
    # values include a tuned fit argument that the builder does not use.
    x, y = digits
    # 4 units is the default: refusing it means the best trial is never the defaults.
    first = make_tuner(build_refusing(4), tmp_path, max_trials=3)
    first.search(
        x, y, epochs=1, validation_split=0.25, verbose=0, batch_size=kh.Choice([16, 32])
    )
    assert first.best_params["units"] != 4
    reopened = make_tuner(build_refusing(4), tmp_path)
    expected = first.best_model().predict(x, verbose=0)
    np.testing.assert_allclose(reopened.best_model().predict(x, verbose=0), expected)


def test_only_the_best_trials_keep_checkpoints(builder, digits, tmp_path):
    tuner = make_tuner(
        builder, tmp_path, max_trials=5, keep_checkpoints=2, algorithm="random"
    )
    search(tuner, digits, epochs=1)
    ranked = sorted(tuner.trials, key=lambda t: (-t.score, t.id))
    kept = {int(p.parent.name[6:]) for p in (tmp_path / "p" / "trials").glob("*/*")}
    assert kept == {ranked[0].id, ranked[1].id}
    assert not list((tmp_path / "p" / "trials").glob("*/partial-*"))
    assert checkpoints.path(tmp_path / "p", ranked[0].id).exists()


def test_no_checkpoints_kept_means_a_clear_error(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=1, keep_checkpoints=0)
    search(tuner, digits, epochs=1)
    with pytest.raises(FileNotFoundError, match="keep_checkpoints=0"):
        tuner.best_model()


def test_results_before_any_trial_are_a_clear_error(builder, tmp_path):
    with pytest.raises(RuntimeError, match="No completed trial"):
        _ = make_tuner(builder, tmp_path).best_params


def test_progress_prints_a_line_per_trial(builder, digits, tmp_path, capsys):
    tuner = make_tuner(builder, tmp_path, max_trials=2, verbose=1)
    search(tuner, digits, epochs=1)
    out = capsys.readouterr().out
    assert "Trial 1/2 started: layers=1" in out
    assert "Trial 2/2 val_accuracy=" in out and "| best " in out and "left" in out
    assert "Search done. Best val_accuracy=" in out

    quiet = make_tuner(builder, tmp_path / "q", max_trials=1, verbose=0)
    search(quiet, digits, epochs=1)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"max_trials": 0},
            ValueError,
            r"max_trials=...\) expects an integer >= 1\. "
            r"Received: 0",
        ),
        ({"max_trials": 2.5}, ValueError, "Received: 2.5"),
        ({"max_consecutive_failures": 0}, ValueError, "max_consecutive_failures"),
        ({"keep_checkpoints": -1}, ValueError, "keep_checkpoints"),
        ({"seed": "a"}, ValueError, "seed"),
        ({"verbose": 5}, ValueError, r"verbose=...\) expects 0, 1 or 2"),
        ({"project_name": "a/b"}, ValueError, "without path separators"),
        (
            {"algorithm": "tpe"},
            ValueError,
            r"one of \['bayesian', 'bayesian_hyperband', 'grid', 'hyperband', "
            r"'random'\] or an kh.algorithms.Algorithm instance. Received: "
            r"algorithm='tpe'",
        ),
        ({"objective": "val_foo"}, ValueError, r"kh.Objective\('val_foo', 'min'\)"),
        ({"objective": 3}, TypeError, "metric name or a kh.Objective"),
    ],
)
def test_bad_tuner_arguments(builder, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_tuner(builder, tmp_path, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epoch": 2}, TypeError, r"unknown: \['epoch'\]"),
        (
            {"validation_data": kh.Choice([1, 2])},
            ValueError,
            "cannot tune validation_data",
        ),
        ({"callbacks": [object()]}, TypeError, "keras.callbacks.Callback instances"),
    ],
)
def test_bad_search_arguments_fail_before_training(
    builder, digits, tmp_path, kwargs, error, match
):
    tuner = make_tuner(builder, tmp_path)
    with pytest.raises(error, match=match):
        tuner.search(*digits, **kwargs)
    assert tuner.trials == []


def test_marker_as_positional_argument_is_an_error(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path)
    with pytest.raises(ValueError, match="marker as positional argument 2"):
        tuner.search(digits[0], digits[1], kh.Int(1, 4))


def test_search_space_is_saved_in_the_store(builder, digits, tmp_path):
    search(
        make_tuner(builder, tmp_path, max_trials=2),
        digits,
        epochs=1,
        batch_size=kh.Choice([16, 32]),
    )
    reopened = make_tuner(builder, tmp_path)
    assert "batch_size" in reopened.space and "lr" in reopened.space
    assert reopened.space["lr"] == kh.Float("lr", 1e-3, 1e-1, log=True, default=1e-2)
    assert all(math.isfinite(t.score) for t in reopened.trials)
    assert np.isclose(reopened.best_score, max(t.score for t in reopened.trials))


def test_enqueued_values_run_first_and_persist(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=3)
    tuner.enqueue({"layers": 2, "units_0": 16, "units_1": 4})
    make_tuner(builder, tmp_path).enqueue({"lr": 0.05})  # kept in the project
    search(tuner, digits, epochs=1)
    trials = tuner.trials
    assert trials[0].params == {
        "layers": 2,
        "units_0": 16,
        "act": "relu",
        "units_1": 4,
        "lr": 0.01,
    }
    assert trials[1].params == {"layers": 1, "units_0": 8, "act": "relu", "lr": 0.05}
    assert len(trials) == 3  # then the algorithm; no separate defaults trial


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ([("lr", 0.1)], TypeError, "expects a dict of values by hyperparameter name"),
        ({"units_0": 5}, ValueError, r"In Tuner.enqueue\(\), 5 is not a value of"),
    ],
)
def test_enqueue_errors(builder, tmp_path, params, error, match):
    builder()  # finds the dimensions, so values can be checked
    with pytest.raises(error, match=match):
        make_tuner(builder, tmp_path).enqueue(params)


def test_executions_per_trial_average_fresh_trainings(builder, digits, tmp_path):
    CountFits.fits = 0
    tuner = make_tuner(builder, tmp_path, max_trials=2, executions_per_trial=2)
    search(tuner, digits, epochs=2, callbacks=[CountFits()])
    assert CountFits.fits == 4
    for trial in tuner.trials:
        scores = trial.extra["scores"]
        assert len(scores) == 2
        assert trial.score == pytest.approx(np.mean(scores))
        assert trial.extra["score_std"] == pytest.approx(np.std(scores))
    assert tuner.best_model().compiled


def test_cross_validation_scores_by_the_mean_of_folds(builder, digits, tmp_path):
    x, y = digits
    CountFits.fits = 0
    tuner = make_tuner(builder, tmp_path, max_trials=2, cv=3)
    tuner.search(x, y, epochs=2, verbose=0, callbacks=[CountFits()])
    assert CountFits.fits == 6
    for trial in tuner.trials:
        assert len(trial.extra["scores"]) == 3
        assert trial.score == pytest.approx(np.mean(trial.extra["scores"]))
        assert len(trial.history) == 2 and "val_accuracy" in trial.history[0]


def test_cross_validation_needs_a_validation_objective(builder, tmp_path):
    with pytest.raises(ValueError, match=r"objective must be a validation metric"):
        make_tuner(builder, tmp_path, objective="accuracy", cv=3)


class SlowBatches(keras.callbacks.Callback):
    """Makes each batch last 0.05 s, and counts the batches (on the class: callbacks
    are copied per trial)."""

    batches = 0

    def on_train_batch_end(self, batch, logs=None):
        type(self).batches += 1
        time.sleep(0.05)


def test_trial_timeout_stops_and_records_the_trial(builder, digits, tmp_path):
    tuner = make_tuner(builder, tmp_path, max_trials=2, trial_timeout=1.0)
    # 225 rows / batch 16 = 15 batches of 0.05 s: an epoch takes about 0.75 s.
    with pytest.raises(kh.NoCompletedTrialError, match=r"2 timed_out\)\. "):
        search(tuner, digits, epochs=8, batch_size=16, callbacks=[SlowBatches()])
    for trial in tuner.trials:
        assert trial.status == "timed_out"
        assert 1 <= len(trial.history) < 8
        assert trial.extra["timeout"] == 1.0
        assert trial.score == max(h["val_accuracy"] for h in trial.history)


def test_trial_timeout_in_the_first_epoch_keeps_that_epoch(builder, digits, tmp_path):
    # Keras ends the epoch it stops in (validation included), so it is recorded.
    tuner = make_tuner(builder, tmp_path, max_trials=1, trial_timeout=0.01)
    SlowBatches.batches = 0
    with pytest.raises(kh.NoCompletedTrialError, match="trial_timeout=0.01"):
        search(tuner, digits, epochs=3, batch_size=8, callbacks=[SlowBatches()])
    (trial,) = tuner.trials
    assert trial.status == "timed_out"
    assert len(trial.history) == 1
    assert SlowBatches.batches == 1  # the batch during which the time ran out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"executions_per_trial": 0}, "executions_per_trial"),
        ({"cv": 1}, r"cv=...\) expects an integer >= 2"),
        ({"trial_timeout": -1}, r"trial_timeout=...\) expects a positive number"),
        ({"trial_timeout": True}, "trial_timeout"),
    ],
)
def test_bad_option_values(builder, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_tuner(builder, tmp_path, **kwargs)


class ScriptedLoss(keras.Sequential):
    """Reports val_loss from a fixed list per quality: no real training."""

    scripts = {"good": [1.0, 0.5, 0.3, 0.2], "bad": [5.0, 5.0, 5.0, 5.0]}
    quality = "good"

    def fit(self, *args, callbacks=(), epochs=1, initial_epoch=0, **kwargs):
        callback_list = keras.callbacks.CallbackList(callbacks, model=self)
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            value = self.scripts[self.quality][epoch]
            callback_list.on_epoch_end(epoch, {"loss": value, "val_loss": value})
            if self.stop_training:
                break
        callback_list.on_train_end()


def test_median_pruner_stops_a_clearly_worse_trial(digits, tmp_path):
    from keras_hparams.pruners import MedianPruner

    def build_model():
        model = ScriptedLoss([keras.Input((64,)), keras.layers.Dense(1)])
        model.quality = kh.Choice("quality", ["good", "bad"])
        kh.Int("seed", 0, 9)  # lets two "good" trials differ
        model.compile("sgd", "mse")
        return model

    tuner = make_tuner(
        build_model,
        tmp_path,
        objective="val_loss",
        max_trials=3,
        pruner=MedianPruner(n_startup_trials=2, n_warmup_epochs=1),
    )
    for seed, quality in ((1, "good"), (2, "good"), (3, "bad")):
        tuner.enqueue({"quality": quality, "seed": seed})
    search(tuner, digits, epochs=4)
    good, _, bad = tuner.trials
    assert good.status == "completed" and len(good.history) == 4
    assert bad.status == "pruned"
    assert len(bad.history) == 2  # stopped after epoch 2 (index 1), past the warmup
    assert bad.extra["pruned_at"] == 2
    assert bad.score == 5.0
    assert tuner.best_trial.id == good.id


def test_unknown_pruner_name_is_an_error(builder, tmp_path):
    with pytest.raises(ValueError, match=r"pruner=...\) expects None, one of"):
        make_tuner(builder, tmp_path, pruner="hyperband")


def test_pruner_with_cross_validation_is_refused(builder, tmp_path):
    with pytest.raises(ValueError, match="cannot be combined with cv"):
        make_tuner(builder, tmp_path, pruner="median", cv=3)


def test_grid_search_runs_every_combination_then_stops(digits, tmp_path, capsys):
    @kh.tunable
    def build_model():
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(
                    kh.Int("units", 4, 8, step=4),
                    activation=kh.Choice("act", ["relu", "tanh"]),
                ),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = make_tuner(
        build_model, tmp_path, max_trials=10, algorithm="grid", verbose=1
    )
    search(tuner, digits, epochs=1)
    combos = {(t.params["units"], t.params["act"]) for t in tuner.trials}
    assert combos == {(4, "relu"), (4, "tanh"), (8, "relu"), (8, "tanh")}
    assert len(tuner.trials) == 4
    assert "exhausted" in capsys.readouterr().out


def test_grid_over_a_continuous_range_fails_before_training(builder, digits, tmp_path):
    # The builder's lr is a Float without a step: found at the first build.
    tuner = make_tuner(builder, tmp_path, algorithm="grid")
    with pytest.raises(kh.UnsupportedSpaceError, match="lr"):
        search(tuner, digits, epochs=1)
    assert tuner.trials == []


def test_a_failed_build_still_registers_the_dimensions_it_met(digits, tmp_path):
    # The defaults fail after every marker ran; the search must go on proposing.
    @kh.tunable
    def build_model():
        units = kh.Int("units", 4, 16, step=4)
        if kh.Boolean("broken", default=True):
            raise RuntimeError("broken on purpose")
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(units),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = make_tuner(
        build_model,
        tmp_path,
        max_trials=4,
        algorithm="random",
        max_consecutive_failures=4,
    )
    search(tuner, digits, epochs=1)
    assert len(tuner.trials) == 4
    assert {"units", "broken"} <= set(tuner.space.names)
    assert any(t.status == "completed" for t in tuner.trials)


def test_a_builder_without_markers_runs_once(digits, tmp_path, capsys):
    def build_model():
        model = keras.Sequential(
            [keras.Input((64,)), keras.layers.Dense(10, activation="softmax")]
        )
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = make_tuner(build_model, tmp_path, max_trials=3, verbose=1)
    search(tuner, digits, epochs=1)
    assert len(tuner.trials) == 1
    assert "No hyperparameter was found" in capsys.readouterr().out
