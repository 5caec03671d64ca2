"""Tuner overhead and proposal latency.

Run: python benchmarks/performance.py [--overhead 10 30] [--latency 100 200]

overhead: wall time of `tuner.search` over N trials divided by the wall time of
    building and fitting the same N configurations in a bare loop (same epochs, data,
    batch size, `clear_session()` between models), side by side in one run, for a small
    MLP on digits. Bayesian search, so the ratio includes proposal time.
latency: time of one `BayesianOptimization.propose` (what runs between two trials)
    with 100 and 200 finished trials in 3, 8 and 15 dimensions, on a synthetic
    objective (no Keras): median and worst of several proposals.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402
from keras_hparams.algorithms import BayesianOptimization  # noqa: E402
from keras_hparams.trial import Trial  # noqa: E402


@kh.tunable
def build_mlp():
    model = keras.Sequential([keras.Input((64,))])
    for i in range(kh.Int("layers", 1, 2)):
        model.add(
            keras.layers.Dense(
                kh.Int(f"units_{i}", 16, 128, step=16),
                activation=kh.Choice("act", ["relu", "tanh"]),
            )
        )
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        keras.optimizers.SGD(kh.Float("lr", 1e-3, 0.3, log=True)),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def overhead(n: int, x, y) -> tuple[float, float]:
    """(tuner seconds, bare loop seconds) for the same n configurations."""
    fit = {"epochs": 3, "batch_size": 64, "validation_split": 0.2, "verbose": 0}
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        tuner = kh.Tuner(
            build_mlp,
            "val_accuracy",
            max_trials=n,
            directory=directory,
            seed=0,
            verbose=0,
        )
        tuner.search(x, y, **fit)
        tuner_seconds = time.perf_counter() - started
        configurations = [t.params for t in tuner.trials]
    started = time.perf_counter()
    for params in configurations:
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        build_mlp.build(params).fit(x, y, **fit)
    return tuner_seconds, time.perf_counter() - started


def latency(dimensions: int, finished: int, repeats: int = 5) -> list[float]:
    space = kh.SearchSpace(
        [kh.Float(f"x{i}", 0.0, 1.0) for i in range(dimensions - 2)]
        + [kh.Int("n", 1, 8), kh.Choice("c", ["a", "b", "c"])]
    )
    rng = np.random.default_rng(0)
    trials = []
    for i in range(finished):
        params = {d.name: d.sample(rng) for d in space}
        score = sum((params[f"x{j}"] - 0.3) ** 2 for j in range(dimensions - 2))
        trials.append(Trial(id=i + 1, params=params, status="completed", score=score))
    algorithm = BayesianOptimization(seed=0)
    seconds = []
    for r in range(repeats):
        started = time.perf_counter()
        algorithm.propose(space, trials[: finished - r], 1)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--overhead", type=int, nargs="*", default=[10, 30])
    parser.add_argument("--latency", type=int, nargs="*", default=[100, 200])
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}, keras {keras.__version__}"
    )
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    for n in args.overhead:
        tuner_seconds, bare_seconds = overhead(n, x, y)
        print(
            f"overhead N={n}: tuner {tuner_seconds:.1f} s, bare loop "
            f"{bare_seconds:.1f} s, ratio {tuner_seconds / bare_seconds:.2f}",
            flush=True,
        )
    for finished in args.latency:
        for dimensions in (3, 8, 15):
            seconds = latency(dimensions, finished)
            print(
                f"latency {finished} trials, {dimensions} dims: median "
                f"{statistics.median(seconds):.2f} s, worst {max(seconds):.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
