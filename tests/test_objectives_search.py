"""Searches with several objectives and constraints, end to end: real tiny Keras
models on digits, the real trial store, the results, the console command, the
TensorBoard logs and the Pareto plot."""

from __future__ import annotations

import json
import re
import sqlite3

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams.algorithms import BayesianOptimization, MultiObjectiveBayesian
from keras_hparams.cli import main
from keras_hparams.errors import SearchSpaceMismatchError
from keras_hparams.trial import COMPLETED, INFEASIBLE, PRUNED
from tests.conftest import make_builder
from tests.test_results import digits_200

# The builder's largest model (two layers of 16 units) has 1482 parameters.
BIG = {"layers": 2, "units_0": 16, "units_1": 16}
LIMIT = kh.Constraint("params", at_most=1300)


def best_val_accuracy(model, history):
    """An objective of your own, opposed to the first one by design: every trial
    is on the front, so a choice among them is needed."""
    return max(history["val_accuracy"])


OBJECTIVES = [
    "val_accuracy",
    "params",
    kh.Objective.latency(repeats=3),
    "size",
    kh.Objective("anti", "min", measure=best_val_accuracy),
]


class CountFits(keras.callbacks.Callback):
    """Counts the trainings it sees (on the class: callbacks are copied)."""

    fits = 0

    def on_train_begin(self, logs=None):
        type(self).fits += 1


def make_tuner(directory, **kwargs):
    kwargs.setdefault("objective", OBJECTIVES)
    kwargs.setdefault("constraints", [LIMIT])
    kwargs.setdefault("max_trials", 5)
    return kh.Tuner(
        make_builder(),
        directory=directory,
        project_name="pareto",
        seed=0,
        verbose=0,
        keep_checkpoints=1,
        **kwargs,
    )


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """One search shared by the tests that read it: the largest model enqueued
    first (over the parameter limit: not trained), then the defaults, then three
    proposals; every objective kind; a TensorBoard callback."""
    root = tmp_path_factory.mktemp("objectives")
    tuner = make_tuner(root)
    tuner.enqueue(BIG)
    tuner.enqueue({})
    x, y = digits_200()
    CountFits.fits = 0
    board = keras.callbacks.TensorBoard(str(root / "logs"), write_graph=False)
    tuner.search(
        x, y, epochs=2, validation_split=0.25, verbose=0, callbacks=[CountFits(), board]
    )
    return tuner, CountFits.fits


def test_every_objective_kind_is_recorded_on_real_models(search):
    tuner, _ = search
    completed = [t for t in tuner.trials if t.status == COMPLETED]
    assert len(completed) >= 2
    for trial in completed:
        values = trial.extra["objectives"]
        assert list(values) == ["val_accuracy", "params", "latency", "size", "anti"]
        assert values["val_accuracy"] == trial.score
        assert values["val_accuracy"] == trial.history[trial.best_epoch]["val_accuracy"]
        model = tuner.builder.build(trial.params)
        assert values["params"] == model.count_params() <= 1300
        assert 0 < values["latency"] < 1 and values["size"] > 1000
        assert values["anti"] == max(h["val_accuracy"] for h in trial.history)
        assert trial.extra["constraints"] == {"params": values["params"]}


def test_a_model_over_the_parameter_limit_is_not_trained(search):
    tuner, fits = search
    first = tuner.trials[0]
    assert first.status == INFEASIBLE and first.params["units_0"] == 16
    assert first.history == [] and first.score is None
    assert first.extra["violations"] == ["params=1482 > 1300"]
    assert first.error == "Not trained: params=1482 > 1300."
    trained = [t for t in tuner.trials if t.history]
    assert fits == len(trained)  # no fit for any infeasible trial
    assert all(t.status == INFEASIBLE for t in tuner.trials if not t.history)


def test_the_objectives_are_stored_and_a_pareto_search_is_bayesian(search, tmp_path):
    tuner, _ = search
    assert isinstance(tuner.algorithm, MultiObjectiveBayesian)
    with sqlite3.connect(tuner.project_directory / "trials.db") as connection:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    assert json.loads(meta["objective"]) == {"name": "val_accuracy", "direction": "max"}
    assert json.loads(meta["objectives"]) == tuner.objectives.get_config()
    assert tuner.objectives.names == [
        "val_accuracy",
        "params",
        "latency",
        "size",
        "anti",
    ]


def test_the_front_is_every_completed_trial_and_best_params_asks_for_a_choice(search):
    tuner, _ = search
    completed = [t.id for t in tuner.trials if t.status == COMPLETED]
    assert sorted(t.id for t in tuner.best_trials) == completed
    with pytest.raises(ValueError, match="so no one trial is best: "):
        _ = tuner.best_params
    with pytest.raises(ValueError, match=re.escape("Choose one with choose(")):
        tuner.best_model()


def test_choose_decides_what_best_params_model_and_export_read(search, tmp_path):
    tuner, _ = search
    front = tuner.best_trials
    try:
        chosen = tuner.choose(kh.Best("val_accuracy"))
        assert chosen.id == front[0].id  # the front is ordered by the first objective
        assert tuner.best_params == chosen.params
        assert tuner.best_score == chosen.score
        assert tuner.choose(front[-1].id) == front[-1]
        assert tuner.best_trial == front[-1]
    finally:
        tuner.choose(None)
    # Every front trial kept its model file (keep_checkpoints=1 notwithstanding).
    model = tuner.best_model(choose=front[-1].id)
    assert model.count_params() == front[-1].extra["objectives"]["params"]
    path = tuner.export(tmp_path / "chosen.keras", choose=front[-1])
    details = json.loads((tmp_path / "chosen.params.json").read_text())
    assert details["trial"] == front[-1].id
    assert details["values"] == front[-1].extra["objectives"]
    assert keras.models.load_model(path).count_params() == model.count_params()


def test_a_reopened_search_reads_the_objectives(search):
    tuner, _ = search
    with kh.load(tuner.project_directory) as loaded:
        assert loaded.objectives.get_config() == tuner.objectives.get_config()
        assert [t.id for t in loaded.best_trials] == [t.id for t in tuner.best_trials]
        with pytest.raises(ValueError, match="so no one trial is best"):
            _ = loaded.best_params
        best = tuner.best_trials[0]
        assert loaded.choose(best.id).params == best.params
        assert loaded.best_model().count_params() == best.extra["objectives"]["params"]


def test_results_and_summary_show_every_objective_and_the_front(search, capsys):
    tuner, _ = search
    rows = tuner.results()
    front = {t.id for t in tuner.best_trials}
    for row, trial in zip(rows, tuner.trials, strict=True):
        assert list(row)[:8] == [
            "id", "status", "val_accuracy", "params", "latency", "size", "anti",
            "front",
        ]  # fmt: skip
        assert row["front"] == (trial.id in front)
        assert row["params"] == trial.extra["constraints"]["params"]
    assert rows[0]["val_accuracy"] is None  # not trained
    tuner.summary()
    out = capsys.readouterr().out
    assert (
        "Objectives: val_accuracy, maximized, params, minimized, latency, "
        "minimized, size, minimized, anti, minimized. Constraints: params <= 1300."
    ) in out
    assert f"Pareto front ({len(front)} trials)" in out
    assert "infeasible" in out


def test_the_console_command_shows_the_front_and_takes_a_choice(search, capsys):
    tuner, _ = search
    project = str(tuner.project_directory)
    assert main(["show", project]) == 0
    assert "Pareto front" in capsys.readouterr().out
    assert main(["best", project]) == 1
    assert "so no one trial is best" in capsys.readouterr().err
    best = tuner.best_trials[-1]
    assert main(["best", project, "--trial", str(best.id)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["trial"] == best.id and printed["objectives"]["params"] > 0
    limit = best.extra["objectives"]["params"]
    rule = ["--best", "val_accuracy", "--where", f"params<={limit}"]
    assert main(["best", project, *rule]) == 0
    picked = json.loads(capsys.readouterr().out)
    assert picked["objectives"]["params"] <= limit


def test_the_console_command_refuses_bad_choices(search, capsys):
    tuner, _ = search
    project = str(tuner.project_directory)
    assert main(["best", project, "--where", "params<=10"]) == 1
    assert "--where limits the trials of --best" in capsys.readouterr().err
    assert main(["best", project, "--trial", "1", "--best", "anti"]) == 1
    assert "pass either --trial or --best" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["best", project, "--best", "anti", "--where", "params=10"])
    assert "expected NAME<=NUMBER or NAME>=NUMBER" in capsys.readouterr().err


@pytest.mark.slow
def test_pareto_plot(search, tmp_path):
    tuner, _ = search
    figure = tuner.plot(tmp_path / "front.png", kind="pareto")
    assert (tmp_path / "front.png").stat().st_size > 0
    assert len(figure.axes) == 10  # one panel per pair of the 5 objectives
    assert figure.axes[0].get_xlabel() == "val_accuracy (higher is better)"
    assert figure.axes[0].get_ylabel() == "params (lower is better)"
    assert main(["plot", str(tuner.project_directory), "--kind", "pareto",
                 "--out", str(tmp_path / "cli.png")]) == 0  # fmt: skip
    # The other plots show the first objective.
    tuner.plot(tmp_path / "all.png")
    assert (tmp_path / "all.png").exists()


def test_tensorboard_logs_every_objective(search):
    pytest.importorskip("tensorboard")
    from tests.test_callbacks import read_events

    tuner, _ = search
    from tensorboard.util import tensor_util

    for trial in tuner.trials:
        if trial.status != COMPLETED:
            continue
        events = read_events(
            tuner.project_directory.parent / "logs" / f"trial_{trial.id:04d}"
        )
        for name, value in trial.extra["objectives"].items():
            (point,) = events.Tensors(name)
            assert tensor_util.make_ndarray(point.tensor_proto) == pytest.approx(value)


def test_one_metric_stores_and_proposes_as_it_always_did(digits, tmp_path):
    tuner = kh.Tuner(
        make_builder(),
        "val_accuracy",
        max_trials=2,
        directory=tmp_path,
        seed=0,
        verbose=0,
    )
    assert type(tuner.algorithm) is BayesianOptimization
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert all("objectives" not in t.extra for t in tuner.trials)
    with sqlite3.connect(tuner.project_directory / "trials.db") as connection:
        keys = {row[0] for row in connection.execute("SELECT key FROM meta")}
    assert "objectives" not in keys
    assert tuner.best_trials == [tuner.best_trial]


def test_a_metric_limit_is_checked_after_training(digits, tmp_path):
    tuner = kh.Tuner(
        make_builder(),
        "val_loss",
        constraints=kh.Constraint("val_accuracy", at_least=1.01),  # out of reach
        max_trials=2,
        directory=tmp_path,
        seed=0,
        verbose=0,
    )
    with pytest.raises(
        kh.NoCompletedTrialError,
        match=r"\(2 trials: 2 infeasible\)\. 2 broke a constraint \(trial 1: "
        r"val_accuracy=",
    ):  # no trial is feasible: the search says so, never quietly
        tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    for trial in tuner.trials:
        assert trial.status == INFEASIBLE and len(trial.history) == 1
        assert trial.score == trial.extra["objectives"]["val_loss"]
        assert trial.extra["violations"][0].startswith("val_accuracy=")
    with pytest.raises(RuntimeError, match="No completed trial"):
        _ = tuner.best_params  # infeasible trials are never best


def test_resume_refuses_another_objective_list_or_constraints(digits, tmp_path):
    first = make_tuner(tmp_path, objective=["val_accuracy", "params"], max_trials=1)
    first.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    expected = (
        f"The project {tmp_path / 'pareto'} was searched with objectives "
        "val_accuracy (max), params (min); subject to params <= 1300; this search "
        "has {now}. Pass overwrite=True to start again, or use a new project_name."
    )
    for objective, constraints, now in [
        (["val_accuracy", "size"], [LIMIT], "val_accuracy (max), size (min); subject "
         "to params <= 1300"),
        (["val_accuracy", "params"], [], "val_accuracy (max), params (min)"),
        (["val_accuracy"], [LIMIT], "val_accuracy (max); subject to params <= 1300"),
        ("val_accuracy", None, "val_accuracy (max)"),
    ]:  # fmt: skip
        with pytest.raises(
            SearchSpaceMismatchError, match=re.escape(expected.format(now=now))
        ):
            make_tuner(tmp_path, objective=objective, constraints=constraints)
    # The same objectives resume.
    again = make_tuner(tmp_path, objective=["val_accuracy", "params"], max_trials=2)
    again.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert len(again.trials) == 2


def test_a_single_metric_project_refuses_a_pareto_resume(digits, tmp_path):
    make_tuner(
        tmp_path, objective="val_accuracy", constraints=None, max_trials=1
    ).search(*digits, epochs=1, validation_split=0.25, verbose=0)
    with pytest.raises(
        SearchSpaceMismatchError,
        match=re.escape(
            "was searched with objectives val_accuracy (max); this search has "
            "val_accuracy (max), params (min)."
        ),
    ):
        make_tuner(tmp_path, objective=["val_accuracy", "params"], constraints=None)


class StopAfterFirstEpoch(kh.pruners.Pruner):
    """Prunes every trial but the first after its first epoch; records what it was
    asked about."""

    asked: list = []

    def should_prune(self, values, trials, *, objective, direction="min"):
        type(self).asked.append((objective, direction))
        return len(trials) > 0


@pytest.mark.slow
def test_pruning_watches_the_first_objective(digits, tmp_path):
    StopAfterFirstEpoch.asked = []
    tuner = make_tuner(
        tmp_path,
        objective=["val_accuracy", "params"],
        constraints=None,
        max_trials=3,
        pruner=StopAfterFirstEpoch(),
    )
    tuner.search(*digits, epochs=3, validation_split=0.25, verbose=0)
    assert set(StopAfterFirstEpoch.asked) == {("val_accuracy", "max")}
    pruned = [t for t in tuner.trials if t.status == PRUNED]
    assert pruned and all(len(t.history) == 1 for t in pruned)
    assert all("params" in t.extra["objectives"] for t in pruned)
    assert [t.id for t in tuner.best_trials] == [1]  # pruned trials are not on it


def test_several_objectives_need_a_metric_first(tmp_path):
    with pytest.raises(ValueError, match="so it must be a metric Keras reports"):
        make_tuner(tmp_path, objective=["params", "val_accuracy"])


@pytest.mark.slow
def test_worker_processes_measure_and_check_constraints(digits, tmp_path):
    tuner = make_tuner(
        tmp_path,
        objective=["val_accuracy", "params", kh.Objective("anti", "min",
                                                          measure=best_val_accuracy)],
        max_trials=4,
        executor="processes",
        n_workers=2,
    )  # fmt: skip
    tuner.enqueue(BIG)
    tuner.enqueue({})
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    statuses = [t.status for t in tuner.trials]
    assert statuses[:2] == [INFEASIBLE, COMPLETED] and len(statuses) == 4
    assert tuner.trials[0].history == []  # the worker did not train it
    for trial in tuner.trials[1:]:
        if trial.status == COMPLETED:
            assert trial.extra["objectives"]["anti"] == pytest.approx(trial.score)
            assert trial.extra["objectives"]["params"] <= 1300


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch):
    code = readme_example()
    for old, new in (("max_trials=30", "max_trials=3"), ("epochs=20", "epochs=1")):
        assert old in code, f"the README example no longer has {old}"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README example", "exec"), namespace)
    tuner = namespace["tuner"]
    assert tuner.best_trials and (tmp_path / "small.keras").exists()
    assert np.isfinite(tuner.best_trials[0].score)


def readme_example() -> str:
    """The first Python block of the README section on several objectives."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in (root / "README.md", root / "docs_multiobjective_section.md"):
        text = path.read_text() if path.exists() else ""
        start = text.find("### Several objectives")
        if start >= 0:
            block = text[start:].split("```python\n", 1)[1]
            return block.split("```", 1)[0]
    raise AssertionError("no README section on several objectives")


def test_infeasible_trials_alone_also_hold_the_constraints(tmp_path):
    from keras_hparams.objectives import Objectives
    from keras_hparams.project import Project
    from keras_hparams.trial import Trial

    limited = Objectives.from_arguments("val_loss", [LIMIT])
    project = Project(tmp_path, limited)
    project.record_settings({})
    project.write(Trial(1, {}, INFEASIBLE, extra={"constraints": {"params": 1482}}))
    project.store.close()
    looser = Objectives.from_arguments(
        "val_loss", [kh.Constraint("params", at_most=2000)]
    )
    with pytest.raises(
        SearchSpaceMismatchError,
        match=re.escape(
            "searched with objectives val_loss (min); subject to params <= 1300; "
            "this search has val_loss (min); subject to params <= 2000."
        ),
    ):
        Project(tmp_path, looser)
    Project(tmp_path, limited).store.close()  # the same ones resume
