"""Bayesian optimization with scikit-optimize's `Optimizer` (ask/tell).

Each `propose` builds an `Optimizer` over the current space and tells it the whole
history in one call (one surrogate fit), so proposals depend only on the history: a
resumed search proposes what an uninterrupted one would have, and a space that grows
is handled by the next call. Only the Gaussian process's fitted kernels outlive a call,
as a cache of values the history alone determines (see `_gp.KernelFits`).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_hparams.algorithms import _acquisition, _skopt
from keras_hparams.algorithms.base import Algorithm
from keras_hparams.space import Choice, Dimension, SearchSpace
from keras_hparams.trial import Trial

# The names the tests and older code use for the conversions.
_to_skopt, _to_point, _from_point = _skopt.to_skopt, _skopt.to_point, _skopt.from_point
_labels = _skopt.labels

SURROGATES = ("GP", "RF", "ET", "GBRT")
ACQUISITION_FUNCTIONS = ("gp_hedge", "EI", "PI", "LCB")
INITIAL_POINT_GENERATORS = _skopt.INITIAL_POINT_GENERATORS
LIES = ("believer", "worst", "mean", "best")
HEDGED = ("EI", "LCB", "PI")  # what "gp_hedge" chooses among
# With more, a search of 12 to 30 trials spends too many of them at random (see
# benchmarks/RESULTS.md, search quality at 30 trials: 5 did better than d + 1 in 6
# and 7 dimensions; with 2, d + 1 = 3 did better than 5).
MAX_DEFAULT_INITIAL_POINTS = 5
# scikit-optimize encodes each value of a Choice as an input of its own (one-hot),
# and a proposal scores 10,000 candidates over every input: with one 10-value
# float beside it, a Choice of 1,000 values took 1.3 s and 0.16 GB at the 6th
# trial (18 s at the 51st), 10,000 values 10 s and 1.5 GB, 100,000 would take
# 15 GB. Past this many values in all, the space is refused before any training.
MAX_CHOICE_VALUES = 1_000
# A proposal this close to a tried point in every input (each scaled to [0, 1], a
# Choice's values one-hot: the same Choice values, numbers within 0.2% of their range)
# would teach the surrogate almost nothing: it is replaced by a random one. EI that
# has converged asks for the same point again and again (in one search of the
# benchmark's `mixed` problem, trials 22-26 each within 0.2% of a learning rate
# tried before, all other values the same).
# With 1%, the rule also stopped the last steps towards a smooth optimum (branin's
# median regret over 30 seeds 0.0104, against 0.0038 without the rule, 0.0040 with
# 0.2%).
NEAR = 0.002


class BayesianOptimization(Algorithm):
    """Proposes values from a surrogate model of the objective (a Gaussian process).

    The first `n_initial_points` trials (the trial of your defaults included) explore:
    they are drawn at random, or from a space-filling design. After that, each
    proposal minimizes the acquisition function of a surrogate fitted to every
    completed and pruned trial. A proposal with the same Choice values as a tried
    trial and every number within 0.2% of its range of that trial's (`NEAR`) would
    teach the surrogate nothing new: a random one takes its place. On the 30 seeds
    of `benchmarks/search_quality.py`'s problems this cut the mean regret of
    `branin` by 73% (0.066 to 0.018, its median level) and of `mixed` by
    23% (0.038 to 0.029), and left the other six level.

    **Mixed spaces.** scikit-optimize minimizes the acquisition function over a
    relaxed space (a Choice one input per value, an Int one number in [0, 1]) and
    rounds the minimum it finds to a valid point, which can score far worse than
    the best valid one. Where the space has a Choice or an Int, the minimum is then
    searched among valid points (`_acquisition.minimize`): from that proposal and
    the best of 2,000 random points, L-BFGS over the continuous inputs alternates
    with trying every value of each Choice and Int, until neither improves. On the
    60 seeds of `benchmarks/search_quality.py`'s HPO-shaped problems this cut the
    mean regret of `mixed` by 44% (0.038 to 0.021) and of `cnn` by 41% (0.042 to
    0.025), and left `conditional` and `bounds` level (0.045 to 0.044, 0.0022 to
    0.0024; Mann-Whitney p 0.95 and 0.41).

    **Numeric choices** (`kh.Choice("batch_size", [16, 32, 64, 128, 256])`) are
    searched in the order of their numbers: the surrogate sees each value's rank,
    so a trial at 32 tells it about 64 (KerasTuner's Bayesian search does the same
    for numeric choices). Other choices (strings, booleans, a list with `None`) are
    categories, each value an input of its own.

    **Scores** are told to the surrogate with their worse half compressed (scores up
    to the median as they are, the rest on a logarithmic scale): a few diverged
    trials, whose loss can be ten times the others', would otherwise set the
    Gaussian process's scale, flatten the region of good scores and keep the search
    exploring.

    **Trials running at the same time** (and interrupted ones, which will run again)
    are handled with a "lie": the surrogate is told that each of them scored what it
    predicts there (the kriging believer, by default), so it stops proposing their
    neighbourhood, where it is now certain; a batch of `n` proposals adds each
    proposal with its lie before asking for the next. In batches of 4 on the
    benchmark's 8 problems (10 seeds), the believer's mean regret was at most the
    worst score's (the default before) on each, 1.75 to 3.6 times lower on 4. A
    constant lie can be chosen: the pessimistic "worst" spreads a batch out, the
    optimistic "best" (scikit-optimize's default) tends to cluster it around the
    incumbent.

    **The Gaussian process** is scikit-optimize's (a Matern kernel with a length
    scale per dimension), its kernel's hyperparameters fitted with Optuna's priors
    on them: length scales near the width of the space unless the scores say
    otherwise, a small noise. With the tens of trials of a search, the likelihood
    alone often fits tiny length scales, a model that knows nothing between its
    points and sends the search to the corners of the space.

    **Cost.** The Gaussian process's kernel hyperparameters are fitted to the
    completed and pruned trials (scikit-optimize's search, with restarts) at each of
    the first 20 of them, then each time their count has grown by 10% (at 22, 25,
    28, ..., 97, 107, ...); in between, and for the lies, the last fit's kernel is
    kept, so a proposal costs a linear solve rather than a hyperparameter search.
    Which fit a proposal uses depends only on the trials, so a resumed search still
    proposes what an uninterrupted one would; the instance keeps its last fits to
    reuse them. The Gaussian process also predicts its uncertainty through BLAS,
    several times faster than scikit-optimize's own code on long histories.

    **Pruned and timed-out trials** are told with their score: the best value they
    reached before they were stopped. Since a trial's score is its best epoch so far,
    more epochs could only have improved it, so this is a pessimistic bound on what the
    trial would have scored, never a flattering one: it may make the surrogate a
    little too hard on a pruned region, which agrees with the pruner's judgement, but
    it never lures the search back there with a score the trial did not reach. Failed
    trials are not told (they have no score).

    Args:
        seed: int or None, for reproducible proposals.
        n_initial_points: int, trials before the surrogate is used. Defaults to
            `None`: the number of searched dimensions plus one, between 3 and 5.
        initial_point_generator: str, how the initial points are drawn: `"random"`,
            or one design of `n_initial_points` points, taken in order and skipping
            any already tried: `"sobol"`, `"halton"`, `"hammersly"`, `"lhs"` (Latin
            hypercube), `"grid"`. Every value of a Choice, a stepped or an integer
            dimension takes an equal share of a design, as in random draws.
            Points left over when the initial phase ends (the trial of your
            defaults takes one place) are not used; a dimension found during the
            initial phase (a conditional one) starts a new design over the larger
            space. Defaults to `"random"`.
        surrogate: str, `"GP"` (Gaussian process), `"RF"` (random forest), `"ET"`
            (extra trees) or `"GBRT"` (gradient-boosted quantile trees). Defaults to
            `"GP"`.
        acq_func: str, the acquisition function: `"EI"` (expected improvement),
            `"PI"` (probability of improvement), `"LCB"` (lower confidence bound) or
            `"gp_hedge"` (one of the three at random for each `propose` call:
            scikit-optimize's bandit, whose gains only later fits of the same
            optimizer update, picks uniformly in a search rebuilt from the history).
            Defaults to `"EI"` (with the kernel priors, better than `"gp_hedge"`
            on 5 of the 8 problems of `benchmarks/search_quality.py` and level on
            the others, over 30 seeds).
        xi: float, how much improvement `"EI"` and `"PI"` ask for beyond the
            best score, in the scores' units: larger explores more. Defaults to
            `0.0`: the proposals do not depend on the scores' scale, and the
            surrogate's uncertainty alone decides how far to look. scikit-optimize's
            `0.01` asked for more improvement than was left once the search was
            close (losses near 0.3 with 0.002 to win, on the benchmark's `bounds`).
            Over 50 seeds of `benchmarks/search_quality.py` (with numeric choices
            in order), mean regret `bounds` 0.0025 to 0.0001, `conditional` 0.041
            to 0.028, `cnn` 0.023 to 0.019, `mixed` 0.019 to 0.015, `hartmann6`
            0.33 to 0.28; `branin` 0.014 to 0.016 and `hartmann3` 0.12 to 0.13
            (one more search of 50 ends in its local minimum), their medians level
            or lower.
        kappa: float, the weight of the uncertainty in `"LCB"`: larger explores
            more. Defaults to `1.96`.
        lie: str, the score pending trials are told: `"believer"` (the
            surrogate's prediction for them), or the `"worst"`, `"mean"` or
            `"best"` of the scores so far. Defaults to `"believer"`.

    Example:

    >>> algorithm = kh.algorithms.BayesianOptimization(
    ...     seed=0, n_initial_points=8, initial_point_generator="sobol", surrogate="ET"
    ... )
    >>> tuner = kh.Tuner(build_model, objective="val_accuracy", algorithm=algorithm)
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        n_initial_points: int | None = None,
        initial_point_generator: str = "random",
        surrogate: str = "GP",
        acq_func: str = "EI",
        xi: float = 0.0,
        kappa: float = 1.96,
        lie: str = "believer",
    ) -> None:
        super().__init__(seed)
        _check_among("surrogate", surrogate, SURROGATES)
        _check_among("acq_func", acq_func, ACQUISITION_FUNCTIONS)
        _check_among(
            "initial_point_generator", initial_point_generator, INITIAL_POINT_GENERATORS
        )
        _check_among("lie", lie, LIES)
        if n_initial_points is not None and (
            not isinstance(n_initial_points, int)
            or isinstance(n_initial_points, bool)
            or n_initial_points < 1
        ):
            raise ValueError(
                "For BayesianOptimization, expected n_initial_points a positive "
                f"integer. Received: n_initial_points={n_initial_points!r}."
            )
        for name, value in (("xi", xi), ("kappa", kappa)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and value >= 0)
            ):
                raise ValueError(
                    f"For BayesianOptimization, expected {name} a finite number >= 0. "
                    f"Received: {name}={value!r}."
                )
        self.n_initial_points = n_initial_points
        self.initial_point_generator = initial_point_generator
        self.surrogate = surrogate
        self.acq_func = acq_func
        self.xi, self.kappa = float(xi), float(kappa)
        self.lie = lie
        self._kernel_fits: Any = None  # a _gp.KernelFits, made at the first fit
        # One design per instance: with no seed it is random, but the same each call.
        self._design_seed = int(np.random.default_rng(seed).integers(2**31 - 1))

    def check_space(self, space: SearchSpace) -> None:
        """Refuses Choice dimensions with more than `MAX_CHOICE_VALUES` values in
        all (binary ones count one): each value is an input of the surrogate."""
        sizes = {
            d.name: len(d.choices)
            for d in space.searchable()
            if isinstance(d, Choice) and len(d.choices) > 2
        }
        if sum(sizes.values()) > MAX_CHOICE_VALUES:
            raise ValueError(
                "BayesianOptimization makes each value of a kh.Choice an input of "
                f"its own, and the space's Choice dimensions have "
                f"{sum(sizes.values()):,} values in all ({sizes}): over the limit of "
                f"{MAX_CHOICE_VALUES:,}, a proposal needs gigabytes of memory and "
                "minutes (10,000 values: 1.5 GB). Use algorithm='random' or 'grid', "
                "fewer values, or a kh.Int over their indices."
            )

    def propose(
        self,
        space: SearchSpace,
        trials: Sequence[Trial],
        n: int = 1,
        *,
        direction: str = "min",
    ) -> list[dict[str, Any]]:
        self.check_request(n, direction)
        seen = self.seen(space, trials)
        rng = self.rng(trials)
        dimensions = [d for d in space.searchable() if d.cardinality() > 1]
        observed = self.observed(trials)
        n_initial = self.initial_points(space)
        if not dimensions or len(observed) < n_initial:
            proposals = self._initial(space, dimensions, n_initial, seen, n)
        else:
            sign = 1.0 if direction == "min" else -1.0
            with _one_blas_thread():
                asked = self._ask(
                    self._optimizer(dimensions, n_initial, rng),
                    _points(space, dimensions, observed),
                    [sign * t.score for t in observed],
                    _points(space, dimensions, self.pending(trials)),
                    n,
                )
            proposals = []
            for point in asked:
                values = _with_single_values(space, _from_point(dimensions, point))
                if self._take(space, values, seen):
                    proposals.append(values)
        # Where the design or the surrogate points at tried values, explore instead.
        return proposals + self.random_unseen(space, seen, rng, n - len(proposals))

    def initial_points(self, space: SearchSpace) -> int:
        """How many scored trials the search explores before the surrogate is
        used: `n_initial_points`, or the number of searched dimensions plus one,
        between 3 and `MAX_DEFAULT_INITIAL_POINTS` (5)."""
        if self.n_initial_points is not None:
            return self.n_initial_points
        searched = [d for d in space.searchable() if d.cardinality() > 1]
        return int(np.clip(len(searched) + 1, 3, MAX_DEFAULT_INITIAL_POINTS))

    def _initial(
        self,
        space: SearchSpace,
        dimensions: list[Dimension],
        n_initial: int,
        seen: set,
        n: int,
    ) -> list[dict[str, Any]]:
        """The first `n` untried points of the initial design (none for random)."""
        if self.initial_point_generator == "random" or not dimensions:
            return []
        design = _skopt.initial_design(
            self.initial_point_generator, dimensions, n_initial, self._design_seed
        )
        proposals = []
        for values in design:
            values = _with_single_values(space, values)
            if len(proposals) < n and self._take(space, values, seen):
                proposals.append(values)
        return proposals

    def _ask(
        self,
        optimizer: Any,
        points: list[list],
        scores: list[float],
        pending: list[list],
        n: int,
    ) -> list[list]:
        """`n` points by kriging believer or constant liar, with one surrogate fit
        (and one more for the believer's pending trials), less those nearly equal
        to a tried one (`NEAR`).

        `points` and `scores` are the observed trials (scores to minimize, told
        through `_warped`); `pending` the points of trials without a score yet.
        """
        from sklearn.base import clone

        from keras_hparams.algorithms import _gp

        told = _warped(scores)
        constants = {"worst": max, "mean": np.mean, "best": min}
        constant = float(constants[self.lie](told)) if self.lie in constants else None
        if isinstance(optimizer.base_estimator_, _gp.FastGaussianProcess):
            if self._kernel_fits is None:
                self._kernel_fits = _gp.KernelFits(self.seed, _warped)
            # The kernel fitted on the observed trials (or the last checkpoint of
            # them), fixed for this fit and the lies' fits, as Ginsbourger et al.
            # ("Kriging is well-suited to parallelize optimization", 2010) do.
            optimizer.base_estimator_ = self._kernel_fits.gaussian_process(
                optimizer.space, optimizer.space.transform(points), np.asarray(scores)
            )

        def lies(model: Any, at: list[list]) -> list[float]:
            if constant is not None:
                return [constant] * len(at)
            if not at:
                return []
            return [float(y) for y in model.predict(optimizer.space.transform(at))]

        asked = []
        with warnings.catch_warnings():
            # skopt warns when a point is told twice or asked again; both handled.
            warnings.simplefilter("ignore")
            if constant is None and pending:  # the believer: predicted from points
                observed = clone(optimizer.base_estimator_)
                observed.fit(optimizer.space.transform(points), told)
            else:
                observed = None
            optimizer.tell(points + pending, told + lies(observed, pending))
            for _ in range(n):
                point = optimizer.ask()
                if optimizer.models and _acquisition.applies(optimizer):
                    point = _acquisition.minimize(optimizer, point)
                asked.append(point)
                if len(asked) < n:
                    optimizer.tell(asked[-1], lies(optimizer.models[-1], asked[-1:])[0])
        return _apart(optimizer.space, points + pending, asked)

    def _optimizer(
        self, dimensions: list[Dimension], n_initial: int, rng: np.random.Generator
    ) -> Any:
        from skopt import Optimizer

        from keras_hparams.algorithms import _gp

        random_state = np.random.RandomState(int(rng.integers(2**31 - 1)))
        skopt_dimensions = [_to_skopt(d) for d in dimensions]
        estimator: Any = self.surrogate
        acq_optimizer = "auto"
        acq_func = self.acq_func
        if acq_func == "gp_hedge":
            # skopt's hedge optimizes all three and picks one at random, weighted by
            # gains that only later fits update: in an optimizer fitted once, the
            # pick is uniform, so drawing it first saves optimizing the other two.
            acq_func = HEDGED[random_state.randint(len(HEDGED))]
        if self.surrogate in ("GP", "GBRT"):
            # The draw skopt makes to seed a surrogate it builds from a name.
            seed = random_state.randint(0, np.iinfo(np.int32).max)
            if self.surrogate == "GP":
                estimator = _gp.gaussian_process(skopt_dimensions, seed)
            else:
                estimator = _skopt.QuantileGradientBoosting(random_state=seed)
                acq_optimizer = "sampling"  # trees have no gradient
        return Optimizer(
            skopt_dimensions,
            base_estimator=estimator,
            n_initial_points=n_initial,
            acq_func=acq_func,
            acq_optimizer=acq_optimizer,
            acq_func_kwargs={"xi": self.xi, "kappa": self.kappa},
            random_state=random_state,
            model_queue_size=1,
        )


def _apart(space: Any, tried: list[list], asked: list[list]) -> list[list]:
    """The `asked` points that are not within `NEAR` of a tried point, or of one
    kept before them, in every input of the scikit-optimize `space`, each input
    measured as a fraction of its range (the Gaussian process's inputs are already
    in [0, 1]; the trees' are in the dimensions' own units)."""
    bounds = np.asarray(space.transformed_bounds, dtype=float)
    width = np.where(bounds[:, 1] > bounds[:, 0], bounds[:, 1] - bounds[:, 0], 1.0)

    def scaled(points: list[list]) -> np.ndarray:
        return np.asarray(space.transform(points), dtype=float) / width

    known = scaled(tried) if tried else np.empty((0, len(width)))
    kept = []
    for point, x in zip(asked, scaled(asked) if asked else [], strict=True):
        if not len(known) or np.abs(known - x).max(axis=1).min() >= NEAR:
            kept.append(point)
            known = np.vstack([known, x])
    return kept


def _one_blas_thread() -> Any:
    """BLAS limited to one thread: the Gaussian process's matrices (hundreds of rows)
    are too small to gain from threads, which cost 0.26 s against 0.09 s per
    proposal at 100 trials in 8 dimensions (benchmarks/RESULTS.md), and one thread
    makes the arithmetic, so the proposals, the same on any machine load."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it, BLAS as it is
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _warped(scores: Sequence[float]) -> list[float]:
    """The scores the surrogate is told: the worse half compressed logarithmically.

    One diverged trial (a loss of 4 where good ones score 0.1) would otherwise set
    the scale of the Gaussian process's fit, which then sees the good region as
    flat and keeps exploring. Scores up to the median are kept; one above it becomes
    `median + s * log1p((score - median) / s)`, `s` being the spread from the best
    score to the median. The order is kept, so the best score is still the best.
    """
    y = np.asarray(scores, dtype=float)
    if len(y) < 3:
        return list(scores)
    median = np.median(y)
    spread = median - y.min()
    if spread > 0:
        worse = y > median
        y[worse] = median + spread * np.log1p((y[worse] - median) / spread)
    return y.tolist()


def _points(
    space: SearchSpace, dimensions: list[Dimension], trials: Sequence[Trial]
) -> list[list[Any]]:
    return [_to_point(dimensions, space.complete(t.params)) for t in trials]


def _with_single_values(space: SearchSpace, values: dict[str, Any]) -> dict[str, Any]:
    """`values` plus the one value of each searchable dimension that has only one."""
    return {
        d.name: values[d.name] if d.name in values else d.values()[0]
        for d in space.searchable()
    }


def _check_among(argument: str, value: Any, accepted: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(
            f"For BayesianOptimization, expected {argument} in {accepted}. "
            f"Received: {argument}={value!r}."
        )
