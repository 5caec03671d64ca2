import sys

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import plots
from keras_hparams.algorithms import surrogate
from keras_hparams.results import load
from keras_hparams.trial import COMPLETED, FAILED, RUNNING, Trial
from tests.test_results import PROJECT, shared_search, write_search

pytest.importorskip("matplotlib")
from matplotlib import image  # noqa: E402


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    with load(shared_search(tmp_path_factory), PROJECT) as search:
        yield search


def synthetic_search(directory, count=8, failed=(), objective=("val_loss", "min")):
    """A stored search whose score depends on the values in a known way."""
    space = kh.SearchSpace(
        [
            kh.Int("units", 8, 64, step=8),
            kh.Float("lr", 1e-4, 1e-1, log=True),
            kh.Choice("act", ["relu", "tanh", "gelu"]),
            kh.Boolean("bn"),
            kh.Fixed("seed", 0),
        ]
    )
    rng = np.random.default_rng(0)
    trials = []
    for i in range(1, count + 1):
        params = {d.name: d.sample(rng) for d in space}
        score = 1.0 - np.log10(params["lr"]) / 10 + params["units"] / 640
        status = FAILED if i in failed else COMPLETED
        trials.append(
            Trial(i, params, status, None if i in failed else score, best_epoch=0)
        )
    return load(write_search(directory, trials, space, objective))


def assert_is_a_real_picture(path, min_colors=50):
    assert path.is_file() and path.stat().st_size > 10_000
    picture = image.imread(path)
    height, width = picture.shape[:2]
    assert height > 300 and width > 500
    rgb = (picture[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > min_colors
    assert np.mean(rgb.min(axis=1) < 200) > 0.02  # not a blank page


def axes_by_xlabel(figure):
    return {ax.get_xlabel(): ax for ax in figure.axes if ax.get_visible()}


@pytest.mark.parametrize("kind", plots.KINDS)
def test_each_kind_is_saved_as_a_png_by_one_call(search, tmp_path, kind):
    path = tmp_path / "plots" / f"{kind}.png"
    figure = search.plot(path, kind=kind)
    assert_is_a_real_picture(path)
    assert type(figure).__name__ == "Figure"
    assert PROJECT in figure.get_suptitle()


def test_axes_show_each_hyperparameter_in_its_own_values_and_scale(search):
    for kind in ("hyperparameters", "partial_dependence"):
        axes = axes_by_xlabel(search.plot(kind=kind))
        assert axes["lr (log scale)"].get_xscale() == "log"
        act = axes["act"]
        assert [t.get_text() for t in act.get_xticklabels()] == ["relu", "tanh"]
        # A stepped range is searched as grid indices; the axis shows its values.
        assert list(axes["units_0"].get_xticks()) == [4, 8, 12, 16]
        assert [t.get_text() for t in axes["batch_size"].get_xticklabels()] == [
            "16",
            "32",
        ]
        for ax in axes.values():
            assert ax.get_ylabel().endswith("val_accuracy")


def test_panels_of_one_kind_share_one_scale(search):
    for kind in ("hyperparameters", "partial_dependence"):
        figure = search.plot(kind=kind)
        limits = {ax.get_ylim() for ax in figure.axes if ax.get_visible()}
        assert len(limits) == 1


def test_convergence_follows_the_best_score_and_marks_failed_trials(tmp_path):
    search = synthetic_search(tmp_path / "p", count=8, failed=(3, 6))
    figure = search.plot(kind="convergence")
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    completed = [t for t in search.trials if t.status == COMPLETED]
    best = lines["best so far"].get_ydata()
    assert list(best) == list(np.minimum.accumulate([t.score for t in completed]))
    assert list(lines["failed"].get_xdata()) == [3, 6]
    assert ax.get_ylabel() == "val_loss"


def test_partial_dependence_is_in_the_objectives_units_and_direction(tmp_path):
    for direction in ("min", "max"):
        search = synthetic_search(
            tmp_path / direction, count=12, objective=("val_loss", direction)
        )
        dependences = surrogate.partial_dependence(
            search.space, search.trials, direction
        )
        by_name = {d.dimension.name: d for d in dependences}
        assert list(by_name) == ["units", "lr", "act", "bn"]  # not the Fixed one
        assert by_name["units"].values == [8, 16, 24, 32, 40, 48, 56, 64]
        assert by_name["act"].values == ["relu", "tanh", "gelu"]
        assert by_name["bn"].values == [False, True]
        lr = by_name["lr"]
        assert lr.values[0] == pytest.approx(1e-4) and lr.values[-1] == 1e-1
        assert np.allclose(np.diff(np.log(lr.values)), np.log(10) * 3 / 39)
        # The score falls as lr grows: so does the predicted score, whichever the
        # direction, and it stays in the range of the scores.
        assert lr.objective[0] > lr.objective[-1]
        scores = [t.score for t in search.trials]
        assert min(scores) - 0.2 < lr.objective.min() < max(scores)


def test_all_still_draws_with_too_few_trials_for_partial_dependence(tmp_path):
    search = synthetic_search(tmp_path / "p", count=2)
    figure = search.plot(tmp_path / "all.png")
    assert_is_a_real_picture(tmp_path / "all.png", min_colors=20)
    texts = [t.get_text().replace("\n", " ") for ax in figure.axes for t in ax.texts]
    assert any("needs at least 3 completed trials" in t for t in texts)
    with pytest.raises(
        ValueError,
        match=r"needs at least 3 completed trials\. Received: 2 completed trials",
    ):
        search.plot(kind="partial_dependence")


def test_partial_dependence_needs_a_dimension_that_varies(tmp_path):
    space = kh.SearchSpace([kh.Fixed("seed", 0), kh.Int("units", 8, 8)])
    trials = [Trial(i, {"units": 8}, COMPLETED, 0.1 * i) for i in (1, 2, 3)]
    with pytest.raises(ValueError, match=r"needs a hyperparameter with more than one"):
        surrogate.partial_dependence(space, trials, "min")


def test_plot_errors_name_the_argument_and_what_is_accepted(search, tmp_path):
    with pytest.raises(
        ValueError,
        match=r"plot\(kind=\.\.\.\) expects one of \('all', 'convergence', "
        r"'hyperparameters', 'partial_dependence'\)\. Received: 'pairs'",
    ):
        search.plot(kind="pairs")
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    trials = [Trial(1, {"lr": 0.05}, RUNNING)]
    with load(write_search(tmp_path / "p", trials, space)) as running:
        with pytest.raises(ValueError, match=r"no completed trial yet \(1 trials\)"):
            running.plot()


def test_plots_without_matplotlib_name_the_extra(search, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "keras-hparams\[plot\]"'):
        search.plot(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
