"""Search quality at equal budget: keras-hparams' algorithms, KerasTuner, Optuna.

Run: python benchmarks/algorithms.py [--trials 15] [--seeds 5] [--epochs 8]
     [--tasks digits diabetes] [--methods bayesian random grid median successive_halving
     kerastuner optuna]
(KerasTuner and Optuna are benchmark-only: `pip install keras-tuner optuna`.)
A method "bayesian:name=value,..." runs `BayesianOptimization` with those options, to
compare settings: `bayesian:n_initial_points=5,acq_func=EI`.

Every method searches the same space (layers 1-3, units 16-256 step 16 per layer,
dropout 0-0.5, learning rate 1e-4-1e-1 log, activation relu/tanh; grid gets a coarse
discrete version of it) on the same data with the same validation split, the same
number of trials and epochs, and the same seeds. Reported per task and method: mean and
standard deviation over seeds of the best validation loss found, and the total epochs
trained (pruning's saving). Lower is better for both tasks.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_hparams as kh  # noqa: E402

UNITS = (16, 256, 16)
LR = (1e-4, 1e-1)


def load_task(name: str):
    if name == "digits":
        x, y = load_digits(return_X_y=True)
        x = (x / 16.0).astype("float32")
        head, loss = (
            keras.layers.Dense(10, activation="softmax"),
            "sparse_categorical_crossentropy",
        )
    else:
        x, y = load_diabetes(return_X_y=True)
        x = ((x - x.mean(0)) / x.std(0)).astype("float32")
        y = ((y - y.mean()) / y.std()).astype("float32")
        head, loss = keras.layers.Dense(1), "mse"
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, random_state=0
    )
    config = head.get_config()
    config.pop("name")  # a fresh name in each model
    return (x_train, y_train, x_val, y_val), config, loss


def make_model(n_features, head_config, loss, layers, units, dropout, lr, activation):
    model = keras.Sequential([keras.Input((n_features,))])
    for i in range(layers):
        model.add(keras.layers.Dense(units[i], activation=activation))
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense.from_config(head_config))
    model.compile(keras.optimizers.Adam(lr), loss)
    return model


class CountEpochs(keras.callbacks.Callback):
    epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        type(self).epochs += 1


def run_ours(method, task, seed, trials, epochs):
    (x, y, xv, yv), head, loss = task
    grid = method == "grid"

    @kh.tunable
    def build():
        layers = kh.Int("layers", 1, 3 if not grid else 2)
        units = [
            kh.Int(f"units_{i}", *UNITS[:2], step=UNITS[2] if not grid else 112)
            for i in range(layers)
        ]
        dropout = kh.Float("dropout", 0.0, 0.5, step=0.5 if grid else None)
        lr = (
            kh.Choice("lr", [1e-3, 1e-2])
            if grid
            else kh.Float("lr", *LR, log=True, default=1e-3)
        )
        activation = kh.Choice("activation", ["relu", "tanh"])
        return make_model(
            x.shape[1], head, loss, layers, units, dropout, lr, activation
        )

    algorithm = method if method in ("bayesian", "random", "grid") else "bayesian"
    if method.startswith("bayesian:"):
        algorithm = kh.algorithms.BayesianOptimization(seed, **bayesian_options(method))
    pruner = method if method in ("median", "successive_halving") else None
    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(
            build,
            "val_loss",
            max_trials=trials,
            algorithm=algorithm,
            pruner=pruner,
            directory=directory,
            seed=seed,
            verbose=0,
        )
        tuner.search(
            x,
            y,
            epochs=epochs,
            validation_data=(xv, yv),
            verbose=0,
            batch_size=32,
            callbacks=[CountEpochs()],
        )
        return tuner.best_score


def bayesian_options(method: str) -> dict:
    """The options of a "bayesian:name=value,..." method, values parsed as Python."""
    options = {}
    for item in method.split(":", 1)[1].split(","):
        name, value = item.split("=")
        try:
            options[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[name] = value  # a bare string such as EI
    return options


def run_kerastuner(task, seed, trials, epochs):
    import keras_tuner as kt

    (x, y, xv, yv), head, loss = task

    def build(hp):
        layers = hp.Int("layers", 1, 3)
        units = [hp.Int(f"units_{i}", *UNITS[:2], step=UNITS[2]) for i in range(layers)]
        return make_model(
            x.shape[1],
            head,
            loss,
            layers,
            units,
            hp.Float("dropout", 0.0, 0.5),
            hp.Float("lr", *LR, sampling="log"),
            hp.Choice("activation", ["relu", "tanh"]),
        )

    with tempfile.TemporaryDirectory() as directory:
        tuner = kt.BayesianOptimization(
            build,
            objective="val_loss",
            max_trials=trials,
            seed=seed,
            directory=directory,
            overwrite=True,
        )
        tuner.search(
            x,
            y,
            epochs=epochs,
            validation_data=(xv, yv),
            verbose=0,
            batch_size=32,
            callbacks=[CountEpochs()],
        )
        return tuner.oracle.get_best_trials(1)[0].score


def run_optuna(task, seed, trials, epochs):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (x, y, xv, yv), head, loss = task

    def objective(trial):
        keras.backend.clear_session()
        layers = trial.suggest_int("layers", 1, 3)
        units = [
            trial.suggest_int(f"units_{i}", *UNITS[:2], step=UNITS[2])
            for i in range(layers)
        ]
        model = make_model(
            x.shape[1],
            head,
            loss,
            layers,
            units,
            trial.suggest_float("dropout", 0.0, 0.5),
            trial.suggest_float("lr", *LR, log=True),
            trial.suggest_categorical("activation", ["relu", "tanh"]),
        )
        history = model.fit(
            x,
            y,
            epochs=epochs,
            validation_data=(xv, yv),
            verbose=0,
            batch_size=32,
            callbacks=[CountEpochs()],
        )
        return min(history.history["val_loss"])

    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.optimize(objective, n_trials=trials)
    return study.best_value


def run(method, task, seed, trials, epochs):
    keras.utils.set_random_seed(seed)
    if method == "kerastuner":
        return run_kerastuner(task, seed, trials, epochs)
    if method == "optuna":
        return run_optuna(task, seed, trials, epochs)
    return run_ours(method, task, seed, trials, epochs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--tasks", nargs="+", default=["digits", "diabetes"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=[
            "bayesian",
            "random",
            "grid",
            "median",
            "successive_halving",
            "kerastuner",
            "optuna",
        ],
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}, keras {keras.__version__}; "
        f"{args.trials} trials x {args.epochs} epochs, seeds 0-{args.seeds - 1}"
    )
    print(
        "| task | method | best val_loss (mean ± sd) | epochs trained | wall s "
        "| per seed |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for task_name in args.tasks:
        task = load_task(task_name)
        for method in args.methods:
            CountEpochs.epochs = 0
            started = time.time()
            scores = [
                run(method, task, seed, args.trials, args.epochs)
                for seed in range(args.seeds)
            ]
            print(
                f"| {task_name} | {method} | {np.mean(scores):.4f} ± "
                f"{np.std(scores):.4f} | {CountEpochs.epochs} | "
                f"{time.time() - started:.0f} | "
                f"{' '.join(f'{s:.4f}' for s in scores)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
