"""Multi-fidelity searches end to end (keras_hparams/multi_fidelity.py and its hooks
in the loop, runner and training): real Keras models, real SQLite files.

The schedule of every search here: `epochs=3`, `factor=3`, 8 configurations, so
rungs of 1 and 3 epochs and brackets of (3 at 1 epoch, the best 1 to 3), (2 at 3),
(3 at 1, the best 1 to 3): 10 runs, 16 epochs when promoted trials continue.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math

import keras
import pytest

import keras_hparams as kh
from keras_hparams.algorithms.brackets import Schedule
from keras_hparams.trial import COMPLETED, PRUNED
from tests.conftest import make_builder
from tests.test_tuner import make_tuner, search

MAX_TRIALS, EPOCHS = 8, 3
RUNS = 10
TOTAL_EPOCHS = Schedule(EPOCHS, 3).total_epochs(MAX_TRIALS)
ROWS, BATCH = 300, 32
STEPS = math.ceil(ROWS * 0.75 / BATCH)  # training batches per epoch


class LogRuns(keras.callbacks.Callback):
    """Logs each run's first epoch, its optimizer's step count at its start, and
    each epoch it trains, on the class (callbacks are copied per trial)."""

    runs: list[tuple[int, int]] = []
    epochs: list[int] = []
    interrupt_at: tuple[int, int] | None = None  # (run number, epoch): Ctrl-C

    def on_train_begin(self, logs=None):
        self.first = None

    def on_epoch_begin(self, epoch, logs=None):
        cls = type(self)
        if self.first is None:
            self.first = epoch
            cls.runs.append((epoch, int(self.model.optimizer.iterations.numpy())))
        if cls.interrupt_at == (len(cls.runs), epoch):
            cls.interrupt_at = None
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        type(self).epochs.append(epoch)

    @classmethod
    def reset(cls):
        cls.runs, cls.epochs, cls.interrupt_at = [], [], None


def hyperband_search(tuner, digits, **kwargs):
    search(tuner, digits, epochs=EPOCHS, batch_size=BATCH, **kwargs)


def check_schedule(trials):
    """Every run of the schedule recorded once, each trial where it ended."""
    assert len(trials) == MAX_TRIALS
    for trial in trials:
        budget = trial.extra["budget"]
        assert len(trial.history) == budget
        assert trial.status == (COMPLETED if budget == EPOCHS else PRUNED)
        assert trial.extra["budget_scores"][-1] == [budget, trial.score]
    runs = [epochs for t in trials for epochs, _ in t.extra["budget_scores"]]
    assert sorted(runs) == [1] * 6 + [3] * 4


@pytest.fixture(scope="module")
def hyperband(tmp_path_factory, digits):
    """One sequential Hyperband search, with the runs it trained and its output."""
    LogRuns.reset()
    root = tmp_path_factory.mktemp("hyperband")
    tuner = make_tuner(
        make_builder(),
        root,
        algorithm="hyperband",
        max_trials=MAX_TRIALS,
        verbose=1,
        keep_checkpoints=2,
    )
    board = keras.callbacks.TensorBoard(str(root / "logs"))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        hyperband_search(tuner, digits, callbacks=[LogRuns(), board])
    return tuner, list(LogRuns.runs), list(LogRuns.epochs), output.getvalue()


def test_a_hyperband_search_runs_its_schedule(hyperband):
    tuner, runs, epochs, _ = hyperband
    check_schedule(tuner.trials)
    assert len(runs) == RUNS
    assert len(epochs) == TOTAL_EPOCHS == 16


def test_a_promoted_trial_continues_from_its_saved_state(hyperband):
    tuner, runs, _, _ = hyperband
    # Two promotions from 1 epoch to 3: each starts at epoch 1 (0-based) with
    # its optimizer's state of the first run, so it trains epochs 2 and 3 only.
    promoted = [(epoch, steps) for epoch, steps in runs if epoch > 0]
    assert promoted == [(1, STEPS), (1, STEPS)]
    continued = [t for t in tuner.trials if len(t.extra["budget_scores"]) == 2]
    assert len(continued) == 2
    for trial in continued:
        assert trial.extra["budget_scores"][0][1] == max(
            h["val_accuracy"] for h in trial.history[:1]
        )


def test_the_best_model_is_trained_at_the_highest_budget(hyperband, digits):
    tuner, _, _, _ = hyperband
    best = tuner.best_trial
    assert best.status == COMPLETED and len(best.history) == EPOCHS
    assert tuner.best_score == max(
        t.score for t in tuner.trials if t.status == COMPLETED
    )
    x, y = digits
    held_out = int(len(x) * 0.75)
    _, accuracy = tuner.best_model().evaluate(x[held_out:], y[held_out:], verbose=0)
    assert accuracy == pytest.approx(tuner.best_score, abs=1e-6)
    # No saved progress is left; the best trials keep their model only.
    folders = sorted((tuner.project_directory / "trials").iterdir())
    assert [sorted(p.name for p in f.iterdir()) for f in folders] == [
        ["model.keras"]
    ] * 2


def test_progress_lines_show_each_runs_epochs(hyperband):
    _, _, _, output = hyperband
    assert "Hyperband (rungs of 1, 3 epochs)" in output
    assert "Trial 1/8 started for 1 epoch: " in output
    assert "Trial 4/8 started for 3 epochs: " in output
    assert output.count("continues from epoch 1 to 3: ") == 2
    assert "PRUNED after 1 epoch: val_accuracy=" in output
    assert output.count(" after 3 epochs in ") == 4


def test_tensorboard_shows_a_promoted_trial_as_one_session(hyperband):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import event_accumulator

    tuner, _, _, _ = hyperband
    (trial,) = [t for t in tuner.trials if len(t.extra["budget_scores"]) == 2][:1]
    folder = tuner.project_directory.parent / "logs" / f"trial_{trial.id:04d}"
    events = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.TENSORS: 0}
    )
    events.Reload()
    assert len(events.Tensors("_hparams_/session_start_info")) == 1
    assert [s.step for s in events.Tensors("val_accuracy")] == [0, 1]
    validation = event_accumulator.EventAccumulator(
        str(folder / "validation"), size_guidance={event_accumulator.TENSORS: 0}
    )
    validation.Reload()
    assert [s.step for s in validation.Tensors("epoch_accuracy")] == [0, 1, 2]


@pytest.mark.slow
def test_ctrl_c_mid_bracket_resumes_without_losing_or_repeating_epochs(
    tmp_path, digits
):
    LogRuns.reset()
    LogRuns.interrupt_at = (4, 2)  # the first promotion, as its second epoch begins
    tuner = make_tuner(
        make_builder(),
        tmp_path,
        algorithm="bayesian_hyperband",
        max_trials=MAX_TRIALS,
        save_progress_every=0,
    )
    with pytest.raises(KeyboardInterrupt):
        hyperband_search(tuner, digits, callbacks=[LogRuns()])
    interrupted = [t for t in tuner.trials if t.status == "interrupted"]
    assert [(t.extra["budget"], len(t.history)) for t in interrupted] == [(3, 2)]
    resumed = make_tuner(
        make_builder(),
        tmp_path,
        algorithm="bayesian_hyperband",
        max_trials=MAX_TRIALS,
        save_progress_every=0,
    )
    hyperband_search(resumed, digits, callbacks=[LogRuns()])
    check_schedule(resumed.trials)
    # Epochs 1 and 2 of the promotion before Ctrl-C, epoch 3 after: none twice.
    assert len(LogRuns.epochs) == TOTAL_EPOCHS
    assert LogRuns.runs[4] == (2, 2 * STEPS)


def test_enqueued_values_and_conditional_dimensions_take_part(tmp_path, digits):
    wanted = {"layers": 2, "units_0": 12, "act": "tanh", "units_1": 4, "lr": 0.05}
    tuner = make_tuner(
        make_builder(),
        tmp_path,
        algorithm=kh.algorithms.Hyperband(0, max_epochs=EPOCHS),
        max_trials=4,
    )
    tuner.enqueue(wanted)
    search(tuner, digits, epochs=EPOCHS)
    first = tuner.trials[0]
    assert first.params == wanted and first.extra["bracket"] == 0
    for trial in tuner.trials:
        assert ("units_1" in trial.params) == (trial.params["layers"] == 2)
    assert [len(t.history) for t in tuner.trials].count(EPOCHS) == 2


# -- what a multi-fidelity search refuses, before any training ----------------------


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"cv": 3},
            r"Tuner\(algorithm=Hyperband\) continues each trial's one model from "
            r"its saved state, so it cannot score a trial by cross-validation .* "
            r"Received: cv=3",
        ),
        (
            {"executions_per_trial": 2},
            r"cannot train several models per trial. Received: "
            r"executions_per_trial=2; use 1",
        ),
        (
            {"pruner": "median"},
            r"Tuner\(algorithm=Hyperband\) stops trials at its rungs itself, so it "
            r"takes no pruner. Received: pruner='median'",
        ),
        (
            {"objective": ["val_loss", "params"]},
            r"ranks the runs at each rung by one score, so it takes one objective "
            r"and no constraints. Received: val_loss \(min\), params \(min\)",
        ),
        (
            {"constraints": kh.Constraint("params", at_most=10_000)},
            r"one objective and no constraints. Received: val_accuracy \(max\); "
            r"subject to params",
        ),
    ],
)
def test_options_that_cannot_be_honoured_are_refused(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        make_tuner(make_builder(), tmp_path, algorithm="hyperband", **options)


@pytest.mark.parametrize(
    "algorithm, fit, message",
    [
        (
            "hyperband",
            {"epochs": kh.Choice([3, 9])},
            r"Tuner\(algorithm=Hyperband\) sets the epochs of each run itself, so "
            r"search\(epochs=...\) must be a fixed integer \(the longest run\). "
            r"Received: epochs=Choice\('epochs'",
        ),
        (
            "bayesian_hyperband",
            {"epochs": 3, "initial_epoch": 1},
            r"Tuner\(algorithm=BayesianHyperband\) starts each new trial at epoch 0. "
            r"Received: initial_epoch=1",
        ),
        (
            kh.algorithms.Hyperband(max_epochs=9),
            {"epochs": 3},
            r"Hyperband\(max_epochs=9\) and search\(epochs=3\) disagree",
        ),
        (
            kh.algorithms.Hyperband(min_epochs=4),
            {"epochs": 3},
            r"For Hyperband, expected min_epochs <= max_epochs. Received: "
            r"min_epochs=4, max_epochs=3",
        ),
    ],
)
def test_search_arguments_a_schedule_cannot_use_are_refused(
    tmp_path, digits, algorithm, fit, message
):
    tuner = make_tuner(make_builder(), tmp_path, algorithm=algorithm)
    with pytest.raises(ValueError, match=message):
        search(tuner, digits, **fit)
    assert tuner.trials == []


def test_a_project_is_not_resumed_with_another_schedule(tmp_path, digits):
    first = make_tuner(make_builder(), tmp_path, algorithm="hyperband", max_trials=1)
    search(first, digits, epochs=1)
    again = make_tuner(
        make_builder(),
        tmp_path,
        algorithm=kh.algorithms.Hyperband(factor=2),
        max_trials=2,
    )
    with pytest.raises(
        kh.SearchSpaceMismatchError,
        match=r"ran its trials with the schedule \{'algorithm': 'Hyperband', "
        r"'max_epochs': 1, 'factor': 3, 'min_epochs': 1\}; this search has "
        r"\{.*'factor': 2.*\}. Use the same settings to resume",
    ):
        search(again, digits, epochs=1)


# -- several trials at once -----------------------------------------------------


def _epochs_by_trial(folder):
    """The epochs each trial's CSVLogger (appending) wrote, by trial folder."""
    logged = {}
    for path in sorted(folder.glob("trial_*/log.csv")):
        with open(path) as handle:
            logged[path.parent.name] = [
                int(row["epoch"]) for row in csv.DictReader(handle)
            ]
    return logged


def _check_each_run_once(tuner, tmp_path):
    check_schedule(tuner.trials)
    logged = _epochs_by_trial(tmp_path / "csv")
    assert logged == {
        f"trial_{t.id:04d}": list(range(t.extra["budget"])) for t in tuner.trials
    }
    folders = (tuner.project_directory / "trials").iterdir()
    assert all(p.name == "model.keras" for f in folders for p in f.iterdir())


@pytest.mark.slow
def test_two_worker_processes_record_every_run_once(tmp_path, digits):
    tuner = make_tuner(
        make_builder(),
        tmp_path,
        algorithm="hyperband",
        max_trials=MAX_TRIALS,
        executor="processes",
        n_workers=2,
    )
    logger = keras.callbacks.CSVLogger(str(tmp_path / "csv" / "log.csv"), append=True)
    hyperband_search(tuner, digits, callbacks=[logger])
    _check_each_run_once(tuner, tmp_path)


@pytest.mark.slow
def test_dask_workers_continue_promoted_trials_from_state_sent_to_them(
    tmp_path, digits
):
    from tests.test_execution import _dask_client

    with _dask_client() as client:
        tuner = make_tuner(
            make_builder(),
            tmp_path,
            algorithm="bayesian_hyperband",
            max_trials=MAX_TRIALS,
            executor=client,
        )
        logger = keras.callbacks.CSVLogger(
            str(tmp_path / "csv" / "log.csv"), append=True
        )
        hyperband_search(tuner, digits, callbacks=[logger])
    _check_each_run_once(tuner, tmp_path)
