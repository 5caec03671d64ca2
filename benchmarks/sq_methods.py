"""The methods `search_quality.py` compares, each searching one `Problem` once.

Every runner returns the objective's value at each trial, in trial order, and the
best values found (whose regret is reported):

- `ours`: `kh.Tuner` end to end, with a Keras model whose validation loss is the
  objective's value at the trial's values (first trial: the builder's defaults);
- `ours_direct` (`batch` > 1 for `ours_batch4`): `BayesianOptimization.propose`
  driven as the tuner drives it (same space discovery, same repeats), without Keras;
  with `batch=4`, proposals are asked 4 at a time with the others pending;
- the anchors, which evaluate the function directly on the same space and budget:
  scikit-optimize's `gp_minimize` (its defaults), KerasTuner's
  `BayesianOptimizationOracle` (driven as its tuner drives it), Optuna's default
  `TPESampler`, and uniform random search.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sq_problems import Problem  # noqa: E402

import keras_hparams as kh  # noqa: E402
from keras_hparams.algorithms import BayesianOptimization  # noqa: E402
from keras_hparams.space import Boolean, Choice, Dimension, Float, Int  # noqa: E402
from keras_hparams.trial import Trial  # noqa: E402

Run = tuple[list[float], dict[str, Any]]  # values in trial order, best values


class Reads(Mapping):
    """A problem's view of one trial: each read asks `suggest` for the dimension's
    value (once), so a problem reads only its active dimensions, in its order."""

    def __init__(self, problem: Problem, suggest: Callable[[Dimension], Any]):
        self.problem, self.suggest = problem, suggest
        self.read: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.read:
            self.read[name] = self.suggest(self.problem.dimension(name))
        return self.read[name]

    def __iter__(self):
        return iter(self.read)

    def __len__(self) -> int:
        return len(self.read)


# -- keras-hparams through kh.Tuner ----------------------------------------------------
def _marker(d: Dimension) -> Any:
    """Calls `d`'s marker inside a build, which returns the trial's value."""
    if isinstance(d, Boolean):
        return kh.Boolean(d.name, default=d.default)
    if isinstance(d, Choice):
        return kh.Choice(d.name, d.choices, default=d.default)
    return type(d)(d.name, d.low, d.high, step=d.step, log=d.log, default=d.default)


def ours(problem: Problem, seed: int, algorithm: Any = None) -> Run:
    """`kh.Tuner` over a Keras model whose val_loss is the objective's value."""
    import keras

    class ExactLoss(keras.Model):
        """A model whose loss is a given number, whatever the data."""

        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, *args, **kwargs):
            return keras.ops.convert_to_tensor(self.value, "float32")

        def train_step(self, data):
            return {"value": keras.ops.convert_to_tensor(self.value, "float32")}

    @kh.tunable
    def build():
        model = ExactLoss(problem.value(Reads(problem, _marker)))
        model.compile()
        return model

    x = np.zeros((1, 1), "float32")
    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(
            build,
            "val_loss",
            max_trials=problem.budget,
            algorithm=algorithm or BayesianOptimization(seed),
            directory=directory,
            seed=seed,
            verbose=0,
            keep_checkpoints=0,
            save_progress_every=None,
        )
        tuner.search(x, x, epochs=1, validation_data=(x, x), batch_size=1, verbose=0)
        values = [problem.value(t.params) for t in tuner.trials if t.score is not None]
        return values, tuner.best_params


# -- keras-hparams' algorithm driven directly ------------------------------------------
def ours_direct(
    problem: Problem, seed: int, batch: int = 1, algorithm: Any = None
) -> Run:
    """`propose` driven as `kh.Tuner` drives it, `batch` trials at a time.

    Like the tuner: the first trial runs the defaults; the space holds the dimensions
    the trials' builds have read, in the order first read; a trial records the values
    its build read; values that repeat a finished trial in every active dimension are
    not run again but told as a repeat; scores are float32, as Keras reports them.
    With `batch` > 1 the first batch is the defaults plus `batch - 1` proposals made
    while the defaults run, then each batch is one `propose(..., n=batch)` call.
    """
    algorithm = algorithm or BayesianOptimization(seed)
    space, trials, repeats = kh.SearchSpace(), [], []
    running = [_direct_build(problem, space, {}, 1, None)]
    asked = algorithm.propose(space, running, batch - 1) if batch > 1 else []
    while True:
        for params in asked:
            trial_id = len(trials) + len(running) + 1
            built = _direct_build(problem, space, params, trial_id, seed)
            if not _repeats(algorithm, space, built, trials, repeats, params):
                running.append(built)
        for trial in running:
            trial.status = "completed"
        trials += running
        running = []
        if len(trials) >= problem.budget:
            break
        wanted = min(batch, problem.budget - len(trials))
        asked = algorithm.propose(space, trials + repeats, wanted)
        if not asked:
            break
    values = [problem.value(t.params) for t in trials]
    return values, trials[int(np.argmin([t.score for t in trials]))].params


def _direct_build(
    problem: Problem, space: kh.SearchSpace, params: dict, trial_id: int, seed: Any
) -> Trial:
    """A running trial of `params`, as the tuner records it once its model is built:
    a dimension the proposal lacks (found in this build) is drawn with the trial's
    generator, or takes its default in the first trial."""
    rng = None if seed is None else np.random.default_rng([seed, trial_id])

    def value(d: Dimension) -> Any:
        if d.name in params:
            return params[d.name]
        return d.default if rng is None else d.sample(rng)

    reads = Reads(problem, value)
    value = problem.value(reads)
    for name in reads.read:
        space.add(problem.dimension(name))
    score = float(np.float32(value))
    return Trial(trial_id, dict(reads.read), "running", score=score)


def _repeats(algorithm, space, built, trials, repeats, proposed) -> bool:
    """Whether `built` repeats a finished trial; if so, told as the tuner tells it."""
    key = algorithm.key(space, built.params)
    for earlier in trials:
        if algorithm.key(space, earlier.params) == key:
            repeats.append(
                Trial(
                    -len(repeats) - 1,
                    {**proposed, **built.params},
                    earlier.status,
                    score=earlier.score,
                )
            )
            return True
    return False


# -- anchors ---------------------------------------------------------------------------
def random_search(problem: Problem, seed: int) -> Run:
    """Uniform random values (log-uniform on log scales, on the grid for steps)."""
    rng = np.random.default_rng(seed)
    points = [
        {d.name: d.sample(rng) for d in problem.dimensions}
        for _ in range(problem.budget)
    ]
    values = [problem.value(p) for p in points]
    return values, points[int(np.argmin(values))]


def gp_minimize(problem: Problem, seed: int) -> Run:
    """scikit-optimize's `gp_minimize` with its defaults, over the dimensions a
    scikit-optimize user would write (`_skopt_dimensions`)."""
    import skopt

    dimensions = problem.dimensions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = skopt.gp_minimize(
            lambda point: problem.value(_skopt_values(dimensions, point)),
            _skopt_dimensions(dimensions),
            n_calls=problem.budget,
            random_state=seed,
        )
    return list(map(float, result.func_vals)), _skopt_values(dimensions, result.x)


def _skopt_dimensions(dimensions: list[Dimension]) -> list[Any]:
    """A Choice as a `Categorical` of its values' `str` (numbers too, as the
    scikit-optimize examples write a batch size), a stepped range as an `Integer`
    over its grid index, a log scale as the log-uniform prior."""
    from skopt.space import Categorical, Integer, Real

    converted = []
    for d in dimensions:
        if isinstance(d, Choice):
            converted.append(Categorical([str(v) for v in d.choices], name=d.name))
        elif d.step is not None:
            converted.append(Integer(0, int(d.cardinality()) - 1, name=d.name))
        else:
            kind = Integer if isinstance(d, Int) else Real
            prior = "log-uniform" if d.log else "uniform"
            converted.append(kind(d.low, d.high, prior=prior, name=d.name))
    return converted


def _skopt_values(dimensions: list[Dimension], point: list[Any]) -> dict[str, Any]:
    """The values of a point of `_skopt_dimensions`."""
    values = {}
    for d, x in zip(dimensions, point, strict=True):
        if isinstance(d, Choice):
            values[d.name] = d.choices[[str(v) for v in d.choices].index(x)]
        elif d.step is not None:
            values[d.name] = d.from_index(int(x))
        else:
            values[d.name] = int(x) if isinstance(d, Int) else float(x)
    return values


def optuna_tpe(problem: Problem, seed: int) -> Run:
    """Optuna's default `TPESampler`, define-by-run (conditional dims as read)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        return problem.value(Reads(problem, lambda d: _suggest_optuna(trial, d)))

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature warnings
        study.optimize(objective, n_trials=problem.budget)
    values = [t.value for t in study.trials]
    return values, study.best_params


def _suggest_optuna(trial: Any, d: Dimension) -> Any:
    if isinstance(d, Choice):
        return trial.suggest_categorical(d.name, d.choices)
    if isinstance(d, Int):
        return trial.suggest_int(d.name, d.low, d.high, step=d.step or 1, log=d.log)
    return trial.suggest_float(d.name, d.low, d.high, step=d.step, log=d.log)


def kerastuner(problem: Problem, seed: int) -> Run:
    """KerasTuner's `BayesianOptimizationOracle`, driven as its `Tuner` drives it:
    one build with the defaults declares the space, then create, run, end."""
    import keras_tuner as kt

    with tempfile.TemporaryDirectory() as directory:
        oracle = kt.oracles.BayesianOptimizationOracle(
            objective=kt.Objective("value", "min"),
            max_trials=problem.budget,
            seed=seed,
        )
        oracle._set_project_dir(directory, "kt")
        with contextlib.redirect_stdout(io.StringIO()):
            hp = oracle.get_space()
            problem.value(Reads(problem, lambda d: _suggest_kt(hp, d)))
            oracle.update_space(hp)
            values, best = _kt_loop(oracle, problem)
    return values, best


def _kt_loop(oracle: Any, problem: Problem) -> Run:
    values, best, best_value = [], {}, np.inf
    for _ in range(problem.budget):
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        hp = trial.hyperparameters
        reads = Reads(problem, lambda d, hp=hp: _suggest_kt(hp, d))
        value = problem.value(reads)
        oracle.update_space(hp)
        oracle.update_trial(trial.trial_id, {"value": value})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        values.append(value)
        if value < best_value:
            best, best_value = dict(reads.read), value
    return values, best


def _suggest_kt(hp: Any, d: Dimension) -> Any:
    if isinstance(d, Boolean):
        return hp.Boolean(d.name, default=d.default)
    if isinstance(d, Choice):
        return hp.Choice(d.name, d.choices, default=d.default)
    sampling = "log" if d.log else "linear"
    if isinstance(d, Int):
        return hp.Int(
            d.name, d.low, d.high, step=d.step, sampling=sampling, default=d.default
        )
    assert isinstance(d, Float)
    return hp.Float(
        d.name, d.low, d.high, step=d.step, sampling=sampling, default=d.default
    )


METHODS: dict[str, Callable[[Problem, int], Run]] = {
    "ours": ours,
    "ours_direct": ours_direct,
    "ours_batch4": lambda problem, seed: ours_direct(problem, seed, batch=4),
    "gp_minimize": gp_minimize,
    "kerastuner": kerastuner,
    "optuna": optuna_tpe,
    "random": random_search,
}
PACKAGES = {"kerastuner": "keras_tuner", "optuna": "optuna"}
