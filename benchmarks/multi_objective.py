"""Pareto search at equal budget: accuracy against parameter count on digits.

Run: python benchmarks/multi_objective.py [--trials 30] [--seeds 5] [--first-seed 0]
     [--epochs 6] [--methods bayesian random optuna]
(Optuna is benchmark-only: `pip install optuna`.)

Every method searches the same space (layers 1-3, units 4-256 per layer on a log
scale, dropout 0-0.5, learning rate 1e-4-1e-1 log, activation relu/tanh: the space of
`benchmarks/algorithms.py` with units reaching down to 4, where accuracy starts to
cost parameters), an MLP on scikit-learn's digits (1797 images, 25% held out for
validation, Adam, batch 32), for two objectives: the validation accuracy at the best
epoch (maximized) and the parameter count (minimized). Each search starts from the
same first trial (the space's defaults: one layer of 4 units, the smallest model);
Optuna gets it enqueued.

- "bayesian": `kh.Tuner(objective=["val_accuracy", "params"])`, its default
  algorithm (`MultiObjectiveBayesian` around `BayesianOptimization`).
- "random": the same tuner with `algorithm="random"`.
- "optuna": `optuna.create_study(directions=["maximize", "minimize"])` with its
  default sampler (TPE, multi-objective), seeded.

Reported per method, over the seeds: the hypervolume that the trials dominate in
(validation error, log10 parameter count), to the reference point (error 0.5,
log10(160,000) = 5.204, just above the largest model's 150,794 parameters),
divided by the area of the box from (0, log10(310) = 2.491, the smallest model)
to that point, so 1.0 would be a perfect model of the smallest size; the same after
the first 10 and 20 trials; the size of the front, and the wall time.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_hparams as kh  # noqa: E402
from keras_hparams import pareto  # noqa: E402

UNITS = (4, 256)
LR = (1e-4, 1e-1)
DEFAULTS = {"layers": 1, "units_0": 4, "dropout": 0.0, "lr": 1e-3, "activation": "relu"}
REFERENCE = (0.5, math.log10(160_000))
IDEAL = (0.0, math.log10(310))
BOX = (REFERENCE[0] - IDEAL[0]) * (REFERENCE[1] - IDEAL[1])


def load_task():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return train_test_split(x, y, test_size=0.25, random_state=0)


def make_model(layers, units, dropout, lr, activation):
    model = keras.Sequential([keras.Input((64,))])
    for i in range(layers):
        model.add(keras.layers.Dense(units[i], activation=activation))
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        keras.optimizers.Adam(lr),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run_ours(method, task, seed, trials, epochs):
    x, xv, y, yv = task

    @kh.tunable
    def build():
        layers = kh.Int("layers", 1, 3)
        units = [kh.Int(f"units_{i}", *UNITS, log=True) for i in range(layers)]
        return make_model(
            layers,
            units,
            kh.Float("dropout", 0.0, 0.5),
            kh.Float("lr", *LR, log=True, default=1e-3),
            kh.Choice("activation", ["relu", "tanh"]),
        )

    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(
            build,
            ["val_accuracy", "params"],
            max_trials=trials,
            algorithm=method,
            directory=directory,
            seed=seed,
            verbose=0,
            keep_checkpoints=0,
        )
        tuner.search(
            x, y, epochs=epochs, validation_data=(xv, yv), verbose=0, batch_size=32
        )
        assert tuner.trials[0].params == DEFAULTS, tuner.trials[0].params
        return [
            (t.extra["objectives"]["val_accuracy"], t.extra["objectives"]["params"])
            for t in tuner.trials
            if t.status == "completed"
        ]


def run_optuna(task, seed, trials, epochs):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x, xv, y, yv = task

    def objective(trial):
        keras.backend.clear_session()
        layers = trial.suggest_int("layers", 1, 3)
        units = [
            trial.suggest_int(f"units_{i}", *UNITS, log=True) for i in range(layers)
        ]
        model = make_model(
            layers,
            units,
            trial.suggest_float("dropout", 0.0, 0.5),
            trial.suggest_float("lr", *LR, log=True),
            trial.suggest_categorical("activation", ["relu", "tanh"]),
        )
        history = model.fit(
            x, y, epochs=epochs, validation_data=(xv, yv), verbose=0, batch_size=32
        )
        return max(history.history["val_accuracy"]), model.count_params()

    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=seed),  # the default, seeded
    )
    study.enqueue_trial(DEFAULTS)
    study.optimize(objective, n_trials=trials)
    return [tuple(t.values) for t in study.trials if t.values is not None]


def normalized_hypervolume(points):
    """The hypervolume of (accuracy, params) points, as a fraction of BOX."""
    losses = [(1.0 - accuracy, math.log10(params)) for accuracy, params in points]
    return pareto.hypervolume(losses, REFERENCE) / BOX


def front_size(points):
    return len(pareto.front([(-a, p) for a, p in points]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--methods", nargs="+", default=["bayesian", "random", "optuna"]
    )
    args = parser.parse_args()
    task = load_task()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}, keras {keras.__version__}; "
        f"{args.trials} trials x {args.epochs} epochs, seeds {args.first_seed}-"
        f"{args.first_seed + args.seeds - 1}"
    )
    print(
        "| method | hypervolume (mean ± sd) | at 10 / 20 trials | front size "
        "| wall s | per seed |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for method in args.methods:
        started = time.time()
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            keras.utils.set_random_seed(seed)
            if method == "optuna":
                runs.append(run_optuna(task, seed, args.trials, args.epochs))
            else:
                runs.append(run_ours(method, task, seed, args.trials, args.epochs))
            print(f"  {method} seed {seed}: {runs[-1]}", flush=True)
        volumes = [normalized_hypervolume(points) for points in runs]
        early = [
            np.mean([normalized_hypervolume(points[:k]) for points in runs])
            for k in (10, 20)
        ]
        print(
            f"| {method} | {np.mean(volumes):.4f} ± {np.std(volumes):.4f} | "
            f"{early[0]:.4f} / {early[1]:.4f} | "
            f"{np.mean([front_size(p) for p in runs]):.1f} | "
            f"{time.time() - started:.0f} | "
            f"{' '.join(f'{v:.4f}' for v in volumes)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
