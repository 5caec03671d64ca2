import sys

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras_hparams as kh
from keras_hparams.loaded import LoadedSearch, load
from keras_hparams.locking import ProjectLock
from keras_hparams.objective import Objective
from keras_hparams.storage import TrialStore
from keras_hparams.trial import COMPLETED, FAILED, RUNNING, Trial
from tests.conftest import make_builder

PROJECT = "digits"
MAX_TRIALS = 4


def digits_200():
    x, y = load_digits(return_X_y=True)
    return (x[:200] / 16.0).astype("float32"), y[:200].astype("int32")


def make_tuner(directory, **kwargs):
    return kh.Tuner(
        make_builder(),
        "val_accuracy",
        max_trials=MAX_TRIALS,
        directory=directory,
        project_name=PROJECT,
        seed=0,
        verbose=0,
        **kwargs,
    )


def shared_search(tmp_path_factory):
    """A real small search, made once per test session and shared by the modules
    that read it: 4 trials of a tiny MLP on 200 digits, with a tuned batch size and
    a TensorBoard callback logging into `<root>/logs`. Returns `<root>`; the project
    folder is `<root>/digits`. Tests must not change it."""
    root = tmp_path_factory.getbasetemp() / "shared_search"
    if (root / PROJECT / "trials.db").exists():
        return root
    x, y = digits_200()
    make_tuner(root).search(
        x,
        y,
        epochs=2,
        validation_split=0.25,
        verbose=0,
        batch_size=kh.Choice([16, 32]),
        callbacks=[keras.callbacks.TensorBoard(str(root / "logs"), write_graph=False)],
    )
    return root


def write_search(directory, trials, space, objective=("val_loss", "min")):
    """A project folder holding `trials` as a search would have stored them."""
    store = TrialStore(directory)
    store.set_meta("objective", Objective(*objective).get_config())
    store.set_meta("space", space.get_config())
    for trial in trials:
        store.write(trial)
    store.close()
    return directory


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return shared_search(tmp_path_factory)


@pytest.fixture(scope="module")
def tuner(root):
    return make_tuner(root)


def test_results_has_one_row_per_trial_with_values_metrics_and_times(tuner):
    rows = tuner.results()
    trials = tuner.trials
    assert [row["id"] for row in rows] == [t.id for t in trials]
    assert len(rows) == MAX_TRIALS
    names = ["batch_size", "layers", "units_0", "act", "lr"]
    for row, trial in zip(rows, trials, strict=True):
        assert list(row)[:3] == ["id", "status", "val_accuracy"]
        assert list(row)[-6:] == [
            "best_epoch", "epochs_trained", "started", "ended", "seconds", "error",
        ]  # fmt: skip
        assert {f"hp_{name}" for name in names} <= set(row)
        assert row["status"] == trial.status == COMPLETED
        assert row["val_accuracy"] == trial.score
        assert row["epochs_trained"] == 2 and row["best_epoch"] == trial.best_epoch
        # The other metrics Keras reported, at the best epoch.
        best = trial.history[trial.best_epoch]
        for metric in ("loss", "accuracy", "val_loss"):
            assert row[metric] == best[metric]
        assert row["started"] < row["ended"]
        assert 0 < row["seconds"] < 120 and row["error"] is None
        for name in names:
            assert row[f"hp_{name}"] == trial.params[name]
        # A conditional value the trial did not use is None.
        if trial.params["layers"] == 1:
            assert row.get("hp_units_1") is None
    assert tuner.results(prefix="")[0]["lr"] == trials[0].params["lr"]


def test_results_as_frame_is_indexed_by_trial_id(tuner):
    frame = tuner.results(as_frame=True)
    assert list(frame.index) == [t.id for t in tuner.trials]
    best = tuner.best_trial.id
    assert frame.loc[best, "val_accuracy"] == pytest.approx(tuner.best_score)
    assert {"status", "hp_lr", "epochs_trained", "seconds"} <= set(frame.columns)
    assert str(frame["started"].dtype).startswith("datetime64")
    assert (frame["ended"] - frame["started"]).dt.total_seconds().tolist() == (
        pytest.approx(frame["seconds"].tolist(), abs=1e-5)  # microseconds
    )


def test_results_as_frame_without_pandas_names_the_extra(tuner, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r'pip install "keras-hparams\[pandas\]"'):
        tuner.results(as_frame=True)
    assert len(tuner.results()) == MAX_TRIALS  # the list needs no pandas


def test_summary_prints_the_space_and_the_best_trials(tuner, capsys):
    tuner.summary(num_trials=2)
    text = capsys.readouterr().out
    assert "Objective: val_accuracy, maximized. Trials: 4 (4 completed)." in text
    assert f"Best: trial {tuner.best_trial.id}" in text
    assert "lr          Float   0.001 .. 0.1, log scale" in text
    assert "units_0     Int     4 .. 16, step 4" in text
    assert "Top 2 of 4 completed trials" in text
    ranked = tuner.ranked_trials()
    table = text.split("Top 2 of 4 completed trials\n")[1].splitlines()
    assert table[0].split()[:3] == ["rank", "trial", "val_accuracy"]
    assert [line.split()[1] for line in table[2:]] == [str(t.id) for t in ranked[:2]]


def test_load_reads_what_the_tuner_wrote(root, tuner):
    for search in (
        load(root, PROJECT),
        load(root / PROJECT),  # the project folder itself
        load(root),  # a folder holding one project
    ):
        with search:
            assert isinstance(search, LoadedSearch)
            assert search.project_directory == root / PROJECT
            assert search.trials == tuner.trials
            assert search.best_params == tuner.best_params
            assert search.best_score == tuner.best_score
            assert search.objective == tuner.objective
            assert search.space == tuner.space
            assert search.results() == tuner.results()


def test_loaded_best_model_is_the_tuners_best_model(root, tuner):
    x, _ = digits_200()
    with load(root) as search:
        loaded = search.best_model()
    assert loaded.compiled
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), tuner.best_model().predict(x, verbose=0)
    )


def test_load_works_while_a_search_holds_the_lock_and_writes(root):
    writer = TrialStore(root / PROJECT)
    lock = ProjectLock(root / PROJECT)
    lock.acquire()
    try:
        # A write transaction left open, as a search's would be mid-write.
        writer._connection.execute("BEGIN IMMEDIATE")
        writer._connection.execute("UPDATE trials SET status = 'failed'")
        with load(root) as search:
            assert all(t.status == COMPLETED for t in search.trials)
    finally:
        writer._connection.rollback()
        writer.close()
        lock.release()


def test_a_loaded_search_sees_trials_added_after_it_opened(tmp_path):
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    write_search(tmp_path / "p", [Trial(1, {"lr": 0.05}, COMPLETED, 0.4)], space)
    with load(tmp_path / "p") as search:
        assert len(search.trials) == 1
        write_search(tmp_path / "p", [Trial(2, {"lr": 0.02}, RUNNING)], space)
        assert [t.status for t in search.trials] == [COMPLETED, RUNNING]


def test_load_errors_name_the_folder_and_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No search at .*missing: the folder"):
        load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"No search in .*empty: expected "):
        load(tmp_path / "empty")
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    write_search(tmp_path / "two" / "a", [], space)
    write_search(tmp_path / "two" / "b", [], space)
    with pytest.raises(ValueError, match=r"holds 2 searches: \['a', 'b'\]"):
        load(tmp_path / "two")
    with pytest.raises(
        FileNotFoundError,
        match=r"No search named 'c' in .*two: expected .*trials.db\. "
        r"Projects found there: \['a', 'b'\]",
    ):
        load(tmp_path / "two", "c")
    TrialStore(tmp_path / "blank").close()  # a database no Tuner wrote
    with pytest.raises(ValueError, match=r"holds no search: it has no objective"):
        load(tmp_path / "blank")


def test_loaded_best_model_without_checkpoint_says_why(tmp_path):
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    trials = [Trial(1, {"lr": 0.05}, COMPLETED, 0.4, best_epoch=0)]
    with load(write_search(tmp_path / "p", trials, space)) as search:
        with pytest.raises(FileNotFoundError, match=r"No checkpoint .* trial \(1\)"):
            search.best_model()


def test_best_values_of_a_search_without_completed_trials(tmp_path):
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    trials = [Trial(1, {"lr": 0.05}, FAILED, error="boom")]
    with load(write_search(tmp_path / "p", trials, space)) as search:
        with pytest.raises(RuntimeError, match=r"No completed trial in .*p yet"):
            _ = search.best_params
        assert search.results()[0]["status"] == FAILED
