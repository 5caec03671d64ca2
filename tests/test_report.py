import pytest

import keras_hparams as kh
from keras_hparams import report
from keras_hparams.results import load
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
    return [
        Trial(1, values, COMPLETED, 0.52, best_epoch=1, history=[{}, {}], started=10.0,
              ended=12.5),
        Trial(2, {**values, "layers": 2, "units_1": 128, "lr": 0.01234567},
              COMPLETED, 0.31, best_epoch=0, history=[{}], started=13.0, ended=14.0),
        Trial(3, {**values, "act": "tanh"}, FAILED, error="boom", started=15.0,
              ended=15.5),
        Trial(4, {**values, "lr": 0.05}, RUNNING, started=16.0),
    ]  # fmt: skip


def test_rows_hold_every_trial_with_none_for_values_it_did_not_use():
    rows = report.rows(SPACE, trials())
    assert list(rows[0]) == [
        "id", "status", "score", "layers", "units_0", "lr", "act", "bn", "seed",
        "units_1", "epochs", "seconds",
    ]  # fmt: skip
    assert rows[0]["units_1"] is None and rows[1]["units_1"] == 128
    assert rows[0]["seconds"] == 2.5 and rows[0]["epochs"] == 2
    assert rows[3]["status"] == RUNNING
    assert rows[3]["score"] is None and rows[3]["seconds"] is None


def test_a_hyperparameter_named_like_a_column_keeps_both():
    space = kh.SearchSpace([kh.Int("epochs", 1, 5), kh.Float("score", 0.0, 1.0)])
    trial = Trial(1, {"epochs": 3, "score": 0.5}, COMPLETED, 0.9, history=[{}])
    (row,) = report.rows(space, [trial])
    assert row["epochs"] == 1 and row["param:epochs"] == 3
    assert row["score"] == 0.9 and row["param:score"] == 0.5


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
