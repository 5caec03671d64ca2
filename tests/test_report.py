import datetime

import pytest

import keras_hparams as kh
from keras_hparams import report
from keras_hparams.loaded import load
from keras_hparams.trial import COMPLETED, FAILED, RUNNING, Trial
from tests.test_results import write_search

SPACE = kh.SearchSpace(
    [
        kh.Int("layers", 1, 2),
        kh.Int("units_0", 32, 256, step=32, default=64),
        kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3),
        kh.Choice("act", ["relu", "tanh"]),
        kh.Boolean("bn", default=True),
        kh.Fixed("seed", 7),
        kh.Int("units_1", 32, 256, step=32),
    ]
)


def trials():
    values = {"layers": 1, "units_0": 64, "lr": 0.001, "act": "relu", "bn": True}
    history = [{"loss": 0.9, "val_loss": 0.6}, {"loss": 0.7, "val_loss": 0.52}]
    return [
        Trial(1, values, COMPLETED, 0.52, best_epoch=1, history=history,
              started=10.0, ended=12.5),
        Trial(2, {**values, "layers": 2, "units_1": 128, "lr": 0.01234567},
              COMPLETED, 0.31, best_epoch=0,
              history=[{"loss": 0.4, "val_loss": 0.31, "val_auc": 0.8}],
              started=13.0, ended=14.0),
        Trial(3, {**values, "act": "tanh"}, FAILED, error="boom", started=15.0,
              ended=15.5),
        Trial(4, {**values, "lr": 0.05}, RUNNING, started=16.0),
    ]  # fmt: skip


def test_rows_hold_every_trial_with_none_for_what_it_does_not_have():
    rows = report.rows(SPACE, trials(), "val_loss")
    assert list(rows[0]) == [
        "id", "status", "val_loss", "hp_layers", "hp_units_0", "hp_lr", "hp_act",
        "hp_bn", "hp_seed", "hp_units_1", "loss", "val_auc", "best_epoch",
        "epochs_trained", "started", "ended", "seconds", "error",
    ]  # fmt: skip
    first, second, failed, running = rows
    assert first["val_loss"] == 0.52 and first["best_epoch"] == 1
    assert first["hp_units_1"] is None and second["hp_units_1"] == 128
    # The other metrics are those of the best epoch.
    assert first["loss"] == 0.7 and first["val_auc"] is None
    assert second["loss"] == 0.4 and second["val_auc"] == 0.8
    assert first["seconds"] == 2.5 and first["epochs_trained"] == 2
    assert first["started"] == datetime.datetime.fromtimestamp(10.0).astimezone()
    assert first["ended"] - first["started"] == datetime.timedelta(seconds=2.5)
    assert first["started"].tzinfo is not None
    assert failed["error"] == "boom" and failed["val_loss"] is None
    assert failed["loss"] is None and failed["best_epoch"] is None
    assert running["status"] == RUNNING and running["ended"] is None
    assert running["val_loss"] is None and running["seconds"] is None


def test_a_tuned_epochs_never_meets_a_bookkeeping_column():
    space = kh.SearchSpace([kh.Int("epochs", 1, 5), kh.Float("seconds", 0.0, 1.0)])
    trial = Trial(1, {"epochs": 3, "seconds": 0.5}, COMPLETED, 0.9, 0,
                  history=[{"val_loss": 0.9}])  # fmt: skip
    (row,) = report.rows(space, [trial], "val_loss")
    assert row["epochs_trained"] == 1 and row["hp_epochs"] == 3
    assert row["seconds"] is None and row["hp_seconds"] == 0.5


def test_the_prefix_can_go_unless_two_columns_would_share_a_name():
    space = kh.SearchSpace([kh.Int("units", 1, 5), kh.Int("epochs", 1, 5)])
    trial = Trial(1, {"units": 2}, COMPLETED, 0.9, 0, [{"val_loss": 0.9, "loss": 1}])
    (row,) = report.rows(space, [trial], "val_loss", prefix="param.")
    assert row["param.units"] == 2 and row["param.epochs"] is None
    (row,) = report.rows(space, [trial], "val_loss", prefix="")
    assert row["units"] == 2 and row["epochs"] is None
    for name, groups in (
        ("seconds", "a bookkeeping column and a hyperparameter column"),
        ("loss", "a hyperparameter column and a metric column"),
    ):
        clashing = kh.SearchSpace([kh.Float(name, 0.0, 1.0)])
        with pytest.raises(
            ValueError,
            match=rf"results\(prefix=''\) would name two columns '{name}': {groups}\. "
            r'Pass a prefix for the hyperparameters, such as prefix="hp_"\.',
        ):
            report.rows(clashing, [trial], "val_loss", prefix="")
    with pytest.raises(
        TypeError,
        match=r"results\(prefix=\.\.\.\) expects a string put before each "
        r"hyperparameter's name, .* Received: prefix=None\.",
    ):
        report.rows(space, [trial], "val_loss", prefix=None)


def test_best_details_name_the_best_epoch_and_the_epochs_trained():
    trial = trials()[0]
    details = report.best_details(trial, kh.Objective("val_loss", "min"))
    assert details == {
        "trial": 1,
        "objective": {"name": "val_loss", "direction": "min"},
        "score": 0.52,
        "params": trial.params,
        "best_epoch": 1,
        "epochs_trained": 2,
    }


def test_tables_align_numbers_right_and_text_left():
    table = report.format_table(
        ("name", "value", "note"), [("a", 1.5, None), ("long name", 12345, "x")]
    )
    assert table.splitlines() == [
        "name       value  note",
        "---------  -----  ----",
        "a            1.5  -",
        "long name  12345  x",
    ]


def test_space_table_describes_each_kind_of_dimension():
    lines = report.space_table(SPACE).splitlines()
    assert lines[0].split() == ["name", "type", "values", "default"]
    assert lines[2:] == [
        "layers   Int      1 .. 2                    1",
        "units_0  Int      32 .. 256, step 32        64",
        "lr       Float    0.0001 .. 0.1, log scale  0.001",
        "act      Choice   relu, tanh                relu",
        "bn       Boolean  False, True               True",
        "seed     Fixed    7                         7",
        "units_1  Int      32 .. 256, step 32        32",
    ]


def test_summary_counts_statuses_and_ranks_completed_trials(tmp_path):
    with load(write_search(tmp_path / "p", trials(), SPACE)) as search:
        text = report.summary_text(search, num_trials=5)
    assert (
        "Objective: val_loss, minimized. Trials: 4 (1 running, 2 completed, "
        "1 failed)." in text
    )
    assert "Best: trial 2, val_loss=0.31." in text
    top = text.split("Top 2 of 2 completed trials\n")[1].splitlines()
    assert top[0].split() == [
        "rank", "trial", "val_loss", "epochs", "time", "layers", "units_0", "lr",
        "act", "bn", "seed", "units_1",
    ]  # fmt: skip
    assert top[2].split() == ["1", "2", "0.31", "1", "1s", "2", "64", "0.01235",
                              "relu", "True", "-", "128"]  # fmt: skip
    assert top[3].split()[:2] == ["2", "1"] and top[3].split()[-1] == "-"


def test_summary_of_a_search_without_results_yet(tmp_path):
    with load(write_search(tmp_path / "p", [], kh.SearchSpace())) as search:
        text = report.summary_text(search)
    assert "Trials: 0." in text
    assert "Search space (0 dimensions)\n(empty)" in text
    assert "Top 0 of 0 completed trials\n(none yet)" in text


def test_summary_needs_a_positive_number_of_trials(tmp_path):
    with load(write_search(tmp_path / "p", [], SPACE)) as search:
        for wrong in (0, -1, 2.5, True):
            with pytest.raises(
                ValueError,
                match=rf"num_trials=\.\.\.\) expects a positive integer\. "
                rf"Received: {wrong!r}\.",
            ):
                search.summary(num_trials=wrong)
