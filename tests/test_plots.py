import sys

import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import plots
from keras_hparams.algorithms import surrogate
from keras_hparams.loaded import load
from keras_hparams.trial import COMPLETED, FAILED, PRUNED, RUNNING, TIMED_OUT, Trial
from tests.test_results import PROJECT, shared_search, write_search

pytest.importorskip("matplotlib")
from matplotlib import image  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

SPACE = kh.SearchSpace(
    [
        kh.Int("units", 8, 64, step=8),
        kh.Float("lr", 1e-4, 1e-1, log=True),
        kh.Choice("act", ["relu", "tanh", "gelu"]),
        kh.Boolean("bn"),
        kh.Fixed("seed", 0),
    ]
)


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    with load(shared_search(tmp_path_factory), PROJECT) as search:
        yield search


def lr_score(params):
    """A score that depends on lr and units only, as a loss: lower is better."""
    return 1.0 - np.log10(params["lr"]) / 10 + params["units"] / 640


def synthetic_search(
    directory,
    count=8,
    failed=(),
    objective=("val_loss", "min"),
    score=lr_score,
    statuses=None,
    epochs=4,
):
    """A stored search whose score depends on the values in a known way. Each
    trial's history falls to its score at the last epoch; `statuses` maps ids to a
    status (a pruned or timed-out trial stops after 2 epochs)."""
    rng = np.random.default_rng(0)
    statuses = {**(statuses or {}), **{i: FAILED for i in failed}}
    trials = []
    for i in range(1, count + 1):
        params = {d.name: d.sample(rng) for d in SPACE}
        value = float(score(params))
        falls = [0.5**e - 0.5 ** (epochs - 1) for e in range(epochs)]
        history = [{objective[0]: value + f, "loss": value} for f in falls]
        status = statuses.get(i, COMPLETED)
        if status == FAILED:
            trials.append(Trial(i, params, status, history=history[:1], error="boom"))
            continue
        if status in (PRUNED, TIMED_OUT):
            history = history[:2]
        best = len(history) - 1
        score_value = history[best][objective[0]]
        trials.append(Trial(i, params, status, score_value, best, history))
    return load(write_search(directory, trials, SPACE, objective))


def assert_is_a_real_picture(path, min_colors=50):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    picture = image.imread(path)
    height, width = picture.shape[:2]
    assert height > 300 and width > 500
    rgb = (picture[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > min_colors
    assert np.mean(rgb.min(axis=1) < 200) > 0.02  # not a blank page


def axes_by_title(figure):
    return {ax.get_title(): ax for ax in figure.axes if ax.get_visible()}


def axes_by_xlabel(figure):
    return {ax.get_xlabel(): ax for ax in figure.axes if ax.get_visible()}


def texts(figure):
    return [t.get_text().replace("\n", " ") for ax in figure.axes for t in ax.texts]


def test_kinds_drawn_from_the_trials_are_saved_as_png_for_a_real_search(
    search, tmp_path
):
    for kind in ("all", "convergence", "learning_curves", "hyperparameters"):
        path = tmp_path / "plots" / f"{kind}.png"
        figure = search.plot(path, kind=kind)
        assert_is_a_real_picture(path)
        assert type(figure).__name__ == "Figure"
        assert PROJECT in figure.get_suptitle()


@pytest.mark.parametrize("kind", plots.KINDS)
def test_each_kind_is_saved_as_a_png_by_one_call(tmp_path, kind):
    statuses = {4: PRUNED, 7: TIMED_OUT}
    with synthetic_search(tmp_path / "p", 14, failed=(9,), statuses=statuses) as found:
        path = tmp_path / f"{kind}.png"
        figure = found.plot(path, kind=kind)
    assert_is_a_real_picture(path)
    assert "p: 11 completed of 14 trials" in figure.get_suptitle()


def test_the_suffix_picks_the_format_and_others_are_refused(tmp_path):
    with synthetic_search(tmp_path / "p", 6) as found:
        found.plot(tmp_path / "a.svg", kind="convergence")
        found.plot(tmp_path / "b.PDF", kind="convergence")
        for wrong in ("c.jpg", "d", "e.png.txt"):
            with pytest.raises(
                ValueError,
                match=r"plot\(path=\.\.\.\) writes a file whose suffix names its "
                r"format: one of \.png, \.svg, \.pdf\. Received: path='.*"
                + wrong.replace(".", r"\."),
            ):
                found.plot(tmp_path / wrong)
    svg = (tmp_path / "a.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and "val_loss" in svg
    assert (tmp_path / "b.PDF").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg", "b.PDF", "p"]


def test_a_diverged_trial_is_marked_at_the_edge_and_sets_no_range(tmp_path):
    # The case: one trial at val_loss 16, the rest near 0.1.
    def score(params):
        return 0.1 + 0.02 * (params["act"] == "tanh") + params["units"] / 6400

    with synthetic_search(tmp_path / "p", 12, score=score) as found:
        trials = found.trials
        write_search(
            tmp_path / "p",
            [Trial(13, trials[0].params, COMPLETED, 16.0, 0, [{"val_loss": 16.0}])],
            SPACE,
        )
        figure = found.plot(tmp_path / "all.png")
        assert_is_a_real_picture(tmp_path / "all.png")
    panels = axes_by_title(figure)
    convergence = panels["Convergence (val_loss, min)"]
    assert convergence.get_yscale() == "linear"
    low, high = convergence.get_ylim()
    others = [t.score for t in trials]
    assert low < min(others) and max(others) < high < 0.2  # not up to 16
    marks = {line.get_label(): line for line in convergence.get_lines()}
    above = marks["above the range: 16 (trial 13)"]
    assert list(above.get_xdata()) == [13]
    # The best-so-far line and the points use most of the panel's height.
    points = marks["trial score"].get_ydata()
    assert (max(points[points < 1]) - min(points)) / (high - low) > 0.6
    # Panels without a legend write the value beside the mark.
    score_panels = [ax for t, ax in panels.items() if t.startswith("val_loss against")]
    assert all(ax.get_ylim() == (low, high) for ax in score_panels)
    assert "16 (trial 13)" in texts(figure)


def test_the_surrogate_is_not_ruled_by_a_diverged_trial(tmp_path):
    # As in the issue: the best trials used "tanh", and so did one diverged trial.
    def score(params):
        return 0.10 if params["act"] == "tanh" else 0.13

    with synthetic_search(tmp_path / "p", 15, score=score) as found:
        diverged = next(t for t in found.trials if t.params["act"] == "tanh")
        diverged.score, diverged.history = 16.0, [{"val_loss": 16.0}]
        write_search(tmp_path / "p", [diverged], SPACE)
        dependences = surrogate.partial_dependence(found.space, found.trials, "min")
    act = next(d for d in dependences if d.dimension.name == "act")
    predicted = dict(zip(act.values, act.objective, strict=True))
    assert predicted["tanh"] < predicted["relu"] and predicted["tanh"] < 0.2


def test_a_loss_spanning_decades_gets_a_log_axis_unless_told(tmp_path):
    def score(params):
        return params["lr"] * 10  # 1e-3 .. 1

    with synthetic_search(tmp_path / "p", 10, score=score) as found:
        assert found.plot(kind="convergence").axes[0].get_yscale() == "log"
        linear = found.plot(kind="convergence", yscale="linear")
        assert linear.axes[0].get_yscale() == "linear"
        with pytest.raises(ValueError, match=r"plot\(yscale=\.\.\.\) expects one of "):
            found.plot(yscale="symlog")
    with synthetic_search(tmp_path / "q", 10, objective=("val_auc", "max"),
                          score=score) as found:  # fmt: skip
        assert found.plot(kind="convergence").axes[0].get_yscale() == "linear"

    def negative(params):
        return -params["lr"]

    with synthetic_search(tmp_path / "r", 6, score=negative) as found:
        with pytest.raises(
            ValueError, match=r"yscale='log'\) needs positive scores\. Received: a "
        ):
            found.plot(kind="convergence", yscale="log")


def test_partial_dependence_has_a_band_or_says_it_cannot_tell(tmp_path):
    with synthetic_search(tmp_path / "p", 16) as found:
        figure = found.plot(kind="partial_dependence")
    panels = axes_by_title(figure)
    lr = panels["Partial dependence on lr"]
    (band,) = [c for c in lr.collections if isinstance(c, PolyCollection)]
    assert band.get_label() == "± 1 std"
    # bn plays no part in the score: the model cannot tell, and says so.
    bn = panels["Partial dependence on bn"]
    (message,) = [t.get_text().replace("\n", " ") for t in bn.texts]
    assert message.startswith("No visible effect: the model's prediction varies by")
    assert not bn.get_lines()
    drawn = [ax for ax in panels.values() if ax.get_lines()]
    assert len({ax.get_ylim() for ax in drawn}) == 1  # one scale for every curve


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
        assert np.all(lr.lower <= lr.objective) and np.all(lr.objective <= lr.upper)
        assert lr.informative
        scores = [t.score for t in search.trials]
        assert min(scores) - 0.2 < lr.objective.min() < max(scores)


def test_all_still_draws_with_too_few_trials_for_the_models(tmp_path):
    search = synthetic_search(tmp_path / "p", count=4)
    figure = search.plot(tmp_path / "all.png")
    assert_is_a_real_picture(tmp_path / "all.png", min_colors=20)
    (message,) = [t for t in texts(figure) if "needs at least" in t]
    assert message.startswith(
        "Importance needs at least 5 completed trials with a finite score. Partial "
        "dependence needs at least 5 completed trials for 4 hyperparameters"
    )
    with pytest.raises(
        ValueError,
        match=r"needs at least 5 completed trials for 4 hyperparameters \(one more "
        r"than there are, and at least 5\)\. Received: 4 completed trials",
    ):
        search.plot(kind="partial_dependence")
    for kind in ("importance", "contour"):
        with pytest.raises(ValueError, match=r"Importance needs at least 5"):
            search.plot(kind=kind)


def test_partial_dependence_needs_a_dimension_that_varies(tmp_path):
    space = kh.SearchSpace([kh.Fixed("seed", 0), kh.Int("units", 8, 8)])
    trials = [Trial(i, {"units": 8}, COMPLETED, 0.1 * i) for i in range(1, 7)]
    with pytest.raises(ValueError, match=r"needs a hyperparameter with more than one"):
        surrogate.partial_dependence(space, trials, "min")


def test_axes_show_each_hyperparameter_in_its_own_values_and_scale(search, tmp_path):
    axes = axes_by_xlabel(search.plot(kind="hyperparameters"))
    assert axes["lr (log scale)"].get_xscale() == "log"
    assert [t.get_text() for t in axes["act"].get_xticklabels()] == ["relu", "tanh"]
    # A stepped range is searched as grid indices; the axis shows its values.
    assert list(axes["units_0"].get_xticks()) == [4, 8, 12, 16]
    labels = [t.get_text() for t in axes["batch_size"].get_xticklabels()]
    assert labels == ["16", "32"]
    for ax in axes.values():
        assert ax.get_ylabel() == "val_accuracy"
    assert len({ax.get_ylim() for ax in axes.values()}) == 1  # one scale
    with synthetic_search(tmp_path / "p", 12) as found:
        axes = axes_by_xlabel(found.plot(kind="partial_dependence"))
    assert axes["lr (log scale)"].get_xscale() == "log"
    assert axes["lr (log scale)"].get_ylabel() == "predicted val_loss"


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


def test_learning_curves_draw_each_trial_and_mark_stopped_ones(tmp_path):
    statuses = {2: PRUNED, 5: TIMED_OUT, 8: RUNNING}
    with synthetic_search(tmp_path / "p", 8, failed=(3,), statuses=statuses) as found:
        figure = found.plot(kind="learning_curves")
        trials = found.trials
        best = found.best_trial
    (ax,) = figure.axes
    assert ax.get_xlabel() == "epoch (0 = first)" and ax.get_ylabel() == "val_loss"
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
    assert sorted(len(c.get_xdata()) for c in curves) == sorted(
        len(t.history) for t in trials if len(t.history) > 1
    )
    labels = {line.get_label() for line in ax.get_lines()}
    assert {"completed", "pruned", "timed out", "running", "failed"} <= labels
    (best_curve,) = [c for c in curves if c.get_label() == f"best (trial {best.id})"]
    assert list(best_curve.get_ydata()) == [e["val_loss"] for e in best.history]
    crosses = [line for line in ax.get_lines() if line.get_marker() in ("x", "X")]
    assert len(crosses) == 3  # pruned, timed out, failed


def test_importance_plot_ranks_the_hyperparameters_and_names_its_method(tmp_path):
    with synthetic_search(tmp_path / "p", 16) as found:
        figure = found.plot(kind="importance")
        expected = found.importance()
    (ax,) = figure.axes
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == list(expected.values)[::-1]  # most important on top
    assert names[-1] == "lr"
    assert "random forest" in ax.get_xlabel().replace("\n", " ")


def test_contour_shows_the_two_most_important_hyperparameters(tmp_path):
    with synthetic_search(tmp_path / "p", 16) as found:
        figure = found.plot(tmp_path / "c.png", kind="contour")
        first, second = list(found.importance().values)[:2]
    assert_is_a_real_picture(tmp_path / "c.png")
    ax, colorbar = figure.axes
    labels = {ax.get_xlabel(), ax.get_ylabel()}
    assert {label.removesuffix(" (log scale)") for label in labels} == {
        first,
        second,
    }
    assert colorbar.get_ylabel() == "predicted val_loss"


def test_plot_errors_name_the_argument_and_what_is_accepted(search, tmp_path):
    with pytest.raises(
        ValueError,
        match=r"plot\(kind=\.\.\.\) expects one of \('all', 'convergence', "
        r"'learning_curves', 'hyperparameters', 'partial_dependence', "
        r"'importance', 'contour'\)\. Received: 'pairs'",
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
