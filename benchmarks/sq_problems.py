"""The problems of `search_quality.py`: exact, noise-free objectives over kh spaces.

Each problem is a function of a mapping from hyperparameter names to values, read
define-by-run: it reads only the dimensions that are active (a layer count decides
which `units_i` are read), so the same function drives keras-hparams' builder, Optuna's
`suggest_*`, KerasTuner's `hp` and a flat scikit-optimize point. Its minimum is known:
the standard functions' from the literature, the designed ones' by construction (each
term of the sum is zero or at its least at the declared `argmin`, which is on the
grid of every stepped dimension); `check_optimum` searches for a counterexample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.optimize import minimize

import keras_hparams as kh
from keras_hparams.space import Choice, Dimension, Float


@dataclasses.dataclass
class Problem:
    """An objective to minimize, its space (every dimension, conditional ones too),
    the trial budget and where its minimum is."""

    name: str
    description: str
    dimensions: list[Dimension]
    function: Callable[[Mapping[str, Any]], float]
    budget: int
    argmin: dict[str, Any]

    @property
    def optimum(self) -> float:
        return self.function(self.argmin)

    def value(self, params: Mapping[str, Any]) -> float:
        """The objective at `params` (inactive dimensions may be left out)."""
        return float(self.function(params))

    def regret(self, params: Mapping[str, Any]) -> float:
        return self.value(params) - self.optimum

    def defaults(self) -> dict[str, Any]:
        return {d.name: d.default for d in self.dimensions}

    def dimension(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)


# -- standard test functions -----------------------------------------------------------
def _branin(p: Mapping[str, Any]) -> float:
    x, y = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    t = 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


_H3 = (
    np.array([1.0, 1.2, 3.0, 3.2]),
    np.array([[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]]),
    1e-4
    * np.array(
        [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
    ),
)
_H6 = (
    np.array([1.0, 1.2, 3.0, 3.2]),
    np.array(
        [
            [10, 3, 17, 3.5, 1.7, 8],
            [0.05, 10, 17, 0.1, 8, 14],
            [3, 3.5, 1.7, 10, 17, 8],
            [17, 8, 0.05, 10, 0.1, 14],
        ]
    ),
    1e-4
    * np.array(
        [
            [1312, 1696, 5569, 124, 8283, 5886],
            [2329, 4135, 8307, 3736, 1004, 9991],
            [2348, 1451, 3522, 2883, 3047, 6650],
            [4047, 8828, 8732, 5743, 1091, 381],
        ]
    ),
)


def _hartmann(constants: tuple, size: int) -> Callable[[Mapping[str, Any]], float]:
    alpha, a, p_matrix = constants

    def function(p: Mapping[str, Any]) -> float:
        x = np.array([p[f"x{i + 1}"] for i in range(size)])
        return float(-alpha @ np.exp(-(a * (x - p_matrix) ** 2).sum(axis=1)))

    return function


def _rosenbrock(p: Mapping[str, Any]) -> float:
    x = [p[f"x{i + 1}"] for i in range(4)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3))


def _box(names: list[str], low: float, high: float) -> list[Dimension]:
    """Floats over one box with no default given: kh takes `low`, a corner of the
    box (the centre would favour the trial of the defaults: it is within 3 of
    Rosenbrock's minimum, where random search's median regret is 90)."""
    return [kh.Float(n, low, high) for n in names]


def _xs(size: int) -> list[str]:
    return [f"x{i + 1}" for i in range(size)]


# -- designed, shaped like hyperparameter tuning ---------------------------------------
def _lr_term(lr: float, best: float, steep: float = 0.4, gentle: float = 0.12) -> float:
    """A learning rate's cost: quadratic in decades, steeper above the best (loss
    blows up) than below (training is slow)."""
    d = math.log10(lr) - math.log10(best)
    return (steep if d > 0 else gentle) * d * d


def _mixed(p: Mapping[str, Any]) -> float:
    """log-scale rate, stepped int, two categoricals, a rate with an interior optimum
    that moves with the width (the issue's "mixed" space)."""
    optimizer = p["optimizer"]
    best_lr = {"adam": 3e-3, "rmsprop": 1e-3, "sgd": 3e-2}[optimizer]
    units = p["units"]
    activation = p["activation"]
    best_dropout = 0.15 + 0.2 * (math.log2(units) - 5) / 4
    return (
        0.2
        + {"adam": 0.0, "rmsprop": 0.015, "sgd": 0.04}[optimizer]
        + {"gelu": 0.0, "relu": 0.02, "tanh": 0.06, "sigmoid": 0.15}[activation]
        + (0.1 if activation == "sigmoid" and optimizer == "sgd" else 0.0)
        + _lr_term(p["lr"], best_lr)
        + 0.05 * (math.log2(units) - math.log2(384)) ** 2
        + 1.2 * (p["dropout"] - best_dropout) ** 2
    )


_FUNNELS = {1: [256], 2: [192, 96], 3: [192, 128, 64], 4: [192, 128, 64, 32]}


def _conditional(p: Mapping[str, Any]) -> float:
    """A layer count that activates units_i, each with its own best width; the best
    dropout grows with depth, the best learning rate with the batch size."""
    layers = p["layers"]
    width = sum(
        0.03 * (math.log2(p[f"units_{i}"]) - math.log2(_FUNNELS[layers][i])) ** 2
        for i in range(layers)
    )
    batch = p["batch_size"]
    best_lr = 2e-3 * math.sqrt(batch / 32)
    return (
        0.25
        + {1: 0.12, 2: 0.04, 3: 0.0, 4: 0.03}[layers]
        + width
        + _lr_term(p["lr"], best_lr)
        + 1.5 * (p["dropout"] - (0.05 + 0.05 * layers)) ** 2
        + 0.02 * abs(math.log2(batch / 64))
    )


def _bounds(p: Mapping[str, Any]) -> float:
    """Optima at bounds (weight decay at its lowest, epochs at their highest, batch
    size at its lowest) next to interior ones (momentum, label smoothing)."""
    warmup = p["warmup"]
    best_momentum = 0.95 if warmup else 0.9
    return (
        0.3
        + 0.3 * ((math.log10(p["weight_decay"]) + 6) / 4) ** 2
        + 0.25 * math.exp(-(p["epochs"] - 5) / 15)
        + 2.0 * (p["momentum"] - best_momentum) ** 2
        + (0.0 if warmup else 0.03)
        + 3.0 * (p["label_smoothing"] - 0.08) ** 2
        + 0.04 * math.log2(p["batch_size"] / 32)
    )


def _cnn(p: Mapping[str, Any]) -> float:
    """Eight dimensions of a small CNN: stepped and log-scaled ints, log floats, a
    3-way and a 2-way choice, interior optima that interact."""
    optimizer = p["optimizer"]
    best_lr = {"adam": 1e-3, "adamw": 2e-3, "sgd": 5e-2}[optimizer]
    kernel = p["kernel_size"]
    batch_norm = p["batch_norm"]
    best_filters = {3: 96, 5: 72, 7: 56}[kernel]
    return (
        0.15
        + {3: 0.02, 5: 0.0, 7: 0.03}[kernel]
        + {"adam": 0.01, "adamw": 0.0, "sgd": 0.03}[optimizer]
        + (0.0 if batch_norm else 0.04)
        + _lr_term(p["lr"], best_lr * (3 if batch_norm else 1))
        + 0.04 * (math.log2(p["filters"]) - math.log2(best_filters)) ** 2
        + 1.0 * (p["dropout"] - 0.3) ** 2
        + 0.02 * (math.log10(p["l2"]) + 5) ** 2
        + 0.03 * (math.log2(p["dense_units"]) - math.log2(300)) ** 2
    )


def problems() -> list[Problem]:
    """Every problem, in the order of the report."""
    return [
        Problem(
            "branin",
            "Branin, 2 continuous dims",
            _box(["x1"], -5.0, 10.0) + _box(["x2"], 0.0, 15.0),
            _branin,
            25,
            {"x1": math.pi, "x2": 2.275},
        ),
        Problem(
            "hartmann3",
            "Hartmann-3, 3 continuous dims in [0, 1]",
            _box(_xs(3), 0.0, 1.0),
            _hartmann(_H3, 3),
            30,
            dict(zip(_xs(3), [0.11458887, 0.55564890, 0.85254698], strict=True)),
        ),
        Problem(
            "hartmann6",
            "Hartmann-6, 6 continuous dims in [0, 1]",
            _box(_xs(6), 0.0, 1.0),
            _hartmann(_H6, 6),
            40,
            dict(
                zip(
                    _xs(6),
                    [
                        0.20168951,
                        0.15001069,
                        0.47687398,
                        0.27533243,
                        0.31165162,
                        0.65730053,
                    ],
                    strict=True,
                )
            ),
        ),
        Problem(
            "rosenbrock4",
            "Rosenbrock, 4 continuous dims in [-2.048, 2.048]",
            _box(_xs(4), -2.048, 2.048),
            _rosenbrock,
            40,
            dict.fromkeys(_xs(4), 1.0),
        ),
        Problem(
            "mixed",
            "log lr, units step 32, activation (4), optimizer (3), dropout (interior)",
            [
                kh.Float("lr", 1e-5, 1e-1, log=True, default=1e-3),
                kh.Int("units", 32, 512, step=32, default=128),
                kh.Choice("activation", ["relu", "tanh", "sigmoid", "gelu"]),
                kh.Choice("optimizer", ["adam", "sgd", "rmsprop"]),
                kh.Float("dropout", 0.0, 0.6, default=0.0),
            ],
            _mixed,
            30,
            {
                "lr": 3e-3,
                "units": 384,
                "activation": "gelu",
                "optimizer": "adam",
                "dropout": 0.15 + 0.2 * (math.log2(384) - 5) / 4,
            },
        ),
        Problem(
            "conditional",
            "layers 1-4 activating units_0..3 (step 16), log lr, dropout, batch size",
            [
                kh.Int("layers", 1, 4, default=2),
                *(kh.Int(f"units_{i}", 16, 256, step=16, default=64) for i in range(4)),
                kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3),
                kh.Float("dropout", 0.0, 0.5, default=0.2),
                kh.Choice("batch_size", [16, 32, 64, 128, 256], default=32),
            ],
            _conditional,
            40,
            {
                "layers": 3,
                "units_0": 192,
                "units_1": 128,
                "units_2": 64,
                "lr": 2e-3 * math.sqrt(2),
                "dropout": 0.2,
                "batch_size": 64,
            },
        ),
        Problem(
            "bounds",
            "optima at bounds (log weight decay, epochs, batch step 32) and inside "
            "(momentum, label smoothing), warmup flag",
            [
                kh.Float("weight_decay", 1e-6, 1e-2, log=True, default=1e-4),
                kh.Int("epochs", 5, 60, default=20),
                kh.Float("momentum", 0.5, 0.99, default=0.9),
                kh.Boolean("warmup", default=False),
                kh.Float("label_smoothing", 0.0, 0.3, default=0.0),
                kh.Int("batch_size", 32, 512, step=32, default=128),
            ],
            _bounds,
            30,
            {
                "weight_decay": 1e-6,
                "epochs": 60,
                "momentum": 0.95,
                "warmup": True,
                "label_smoothing": 0.08,
                "batch_size": 32,
            },
        ),
        Problem(
            "cnn",
            "8 dims: filters step 8, kernel (3), log lr, optimizer (3), dropout, "
            "log l2, log-int dense units, batch norm",
            [
                kh.Int("filters", 8, 128, step=8, default=32),
                kh.Choice("kernel_size", [3, 5, 7]),
                kh.Float("lr", 1e-5, 1e-1, log=True, default=1e-3),
                kh.Choice("optimizer", ["adam", "sgd", "adamw"]),
                kh.Float("dropout", 0.0, 0.7, default=0.5),
                kh.Float("l2", 1e-7, 1e-2, log=True, default=1e-4),
                kh.Int("dense_units", 32, 1024, log=True, default=128),
                kh.Boolean("batch_norm", default=False),
            ],
            _cnn,
            50,
            {
                "filters": 72,
                "kernel_size": 5,
                "lr": 6e-3,
                "optimizer": "adamw",
                "dropout": 0.3,
                "l2": 1e-5,
                "dense_units": 300,
                "batch_norm": True,
            },
        ),
    ]


# -- checking a declared optimum -------------------------------------------------------
def check_optimum(problem: Problem, samples: int = 4000, seed: int = 0) -> float:
    """The lowest value found by random sampling, then local search from the best
    samples (L-BFGS-B over the continuous dimensions, sweeps over the discrete ones);
    at least `problem.optimum` if the declared minimum is right."""
    rng = np.random.default_rng(seed)
    points = [
        {d.name: d.sample(rng) for d in problem.dimensions} for _ in range(samples)
    ]
    points.append(dict(problem.argmin, **_missing(problem, problem.argmin)))
    points.sort(key=problem.value)
    return min(_local_search(problem, point) for point in points[:8])


def _missing(problem: Problem, params: dict) -> dict:
    return {d.name: d.default for d in problem.dimensions if d.name not in params}


def _local_search(problem: Problem, point: dict, rounds: int = 4) -> float:
    point = dict(point)
    continuous = [
        d for d in problem.dimensions if isinstance(d, Float) and d.step is None
    ]
    discrete = [d for d in problem.dimensions if d not in continuous]
    for _ in range(rounds):
        for d in discrete:
            point[d.name] = min(
                _values(d), key=lambda v, d=d: problem.value({**point, d.name: v})
            )
        if continuous:
            point.update(_polish(problem, point, continuous))
    return problem.value(point)


def _values(dimension: Dimension) -> list[Any]:
    if isinstance(dimension, Choice) or dimension.cardinality() <= 2000:
        return dimension.values()
    return sorted(set(np.geomspace(dimension.low, dimension.high, 400).astype(int)))


def _polish(problem: Problem, point: dict, continuous: list[Float]) -> dict:
    def to_values(u: np.ndarray) -> dict:
        return {
            d.name: (math.exp(x) if d.log else x)
            for d, x in zip(continuous, u, strict=True)
        }

    def bounds(d: Float) -> tuple[float, float]:
        return (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)

    start = np.array(
        [math.log(point[d.name]) if d.log else point[d.name] for d in continuous]
    )
    result = minimize(
        lambda u: problem.value({**point, **to_values(u)}),
        start,
        method="L-BFGS-B",
        bounds=[bounds(d) for d in continuous],
    )
    low, high = zip(*(bounds(d) for d in continuous), strict=True)
    return to_values(np.clip(result.x, low, high))


def check_all() -> list[tuple[str, float, float]]:
    """(problem, declared optimum, lowest found) for every problem."""
    return [(p.name, p.optimum, check_optimum(p)) for p in problems()]


if __name__ == "__main__":
    for name, declared, found in check_all():
        print(f"{name}: declared {declared:.9f}, lowest found {found:.9f}")
