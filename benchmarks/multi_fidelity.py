"""Multi-fidelity search: the epochs each method trains to reach the final score of
full-budget Bayesian search, and its score at the same epoch budget.

Run: python benchmarks/multi_fidelity.py [--seeds 5] [--trials 30] [--epochs 9]
     [--tasks curve digits diabetes] [--methods bayesian hyperband
     bayesian_hyperband successive_halving kerastuner_hyperband] [--jobs 2]
     [--append benchmarks/RESULTS.md] [--save runs.json] [--reuse runs.json]
(KerasTuner is benchmark-only: `pip install keras-tuner`.)

Tasks: `digits` and `diabetes` (scikit-learn's data, the MLP and space of
`benchmarks/algorithms.py`, Adam, batch 32, validation loss on a fixed 25% split),
and `curve`, an exact-value problem: a Keras model whose validation loss after `e`
epochs is `floor + (2.3 - floor) * exp(-rate * e)`, both computed from its values
(`curve_shape`), where the values with the lowest floor (wide, deep) learn slowest,
so rankings after few epochs mislead. Its state (epochs trained) is a weight, so
a continued run goes on where the saved one stopped, and a restarted one does not.

Methods, all in the same space with the same seeds:
- `bayesian`: `algorithm="bayesian"`, `--trials` trials of `--epochs` epochs; its
  best validation loss is the seed's target, its epochs (`trials * epochs`) the
  budget every other method gets;
- `hyperband`, `bayesian_hyperband`: `max_epochs=--epochs`, `factor=3`, as many
  configurations as fit in the budget;
- `bayesian_hyperband_last_rung` (only when asked for): `lower_rungs=False`, its
  model waits for enough scores at the last rung;
- `successive_halving`: Bayesian proposals with `pruner="successive_halving"`,
  stopped when the budget is spent;
- `kerastuner_hyperband`: `keras_tuner.Hyperband(max_epochs=--epochs, factor=3)`,
  stopped when the budget is spent.

Every epoch any method trains is counted (a callback), with its validation loss:
"epochs to target" is the count at the first epoch whose validation loss is at or
below the target (any run, at any budget: a real model reached it), "best at
budget" the lowest validation loss within the budget, "final" the tool's own best
trial (for ours, a trial trained to `--epochs`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from algorithms import load_task, make_model  # noqa: E402
from multi_fidelity_sim import configurations, make, shape  # noqa: E402

import keras_hparams as kh  # noqa: E402
from keras_hparams.algorithms.brackets import Schedule  # noqa: E402

METHODS = (
    "bayesian",
    "hyperband",
    "bayesian_hyperband",
    "successive_halving",
    "kerastuner_hyperband",
)
START_LOSS = 2.3


class BudgetSpent(KeyboardInterrupt):
    """Raised at the epoch that spends the budget: stops any tool's search."""


class Epochs(keras.callbacks.Callback):
    """Counts every epoch trained, with its validation loss; stops at `budget`."""

    trajectory: list[float] = []
    budget: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        cls = type(self)
        cls.trajectory.append(float((logs or {})["val_loss"]))
        if cls.budget is not None and len(cls.trajectory) >= cls.budget:
            raise BudgetSpent


# -- the exact-value problem -----------------------------------------------------


def curve_shape(layers, units, dropout, lr, activation):
    """The floor and rate of the validation loss curve of these values.

    Lowest floor: learning rate near 10**-2.2, wide (mean units near 200), deep,
    dropout near 0.15, relu. Fastest learning: high learning rate, narrow, shallow
    (rates from 0.07 to 1.4 per epoch). Over 400 random values, the Spearman
    correlation of the loss after 1 and after 9 epochs is 0.64, and the best 20
    after 9 epochs rank 164th of 400 (median) after 1 epoch.
    """
    values = {"layers": layers, "dropout": dropout, "lr": lr, "activation": activation}
    values.update({f"units_{i}": u for i, u in enumerate(units)})
    return shape("curve", values)  # one formula, shared with the simulation


@keras.saving.register_keras_serializable("benchmarks")
class Curve(keras.Model):
    """A model whose (validation) loss after `e` epochs is exact: one batch per
    epoch, the epochs trained kept in a weight."""

    def __init__(self, floor, rate, **kwargs):
        super().__init__(**kwargs)
        self.floor, self.rate = float(floor), float(rate)
        self.dense = keras.layers.Dense(1)
        self.trained = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="trained"
        )
        # Keras reports its metrics' results, so the loss goes through one.
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs):
        return self.dense(inputs)

    def _loss(self):
        decay = keras.ops.exp(-self.rate * self.trained)
        self.loss_tracker.update_state(self.floor + (START_LOSS - self.floor) * decay)
        return {"loss": self.loss_tracker.result()}

    def train_step(self, data):
        self.trained.assign_add(1.0)
        return self._loss()

    def test_step(self, data):
        return self._loss()

    def get_config(self):
        return {**super().get_config(), "floor": self.floor, "rate": self.rate}


def make_curve(layers, units, dropout, lr, activation):
    model = Curve(*curve_shape(layers, units, dropout, lr, activation))
    model(np.zeros((1, 1), "float32"))
    model.compile(keras.optimizers.SGD(0.0))
    return model


# -- one search --------------------------------------------------------------------


@dataclasses.dataclass
class Task:
    name: str

    def data(self):
        if self.name == "curve":
            one = np.zeros((1, 1), "float32")
            return (one, one, one, one), None, None
        return load_task(self.name)

    def model(self, data, layers, units, dropout, lr, activation):
        (x, _, _, _), head, loss = data
        if self.name == "curve":
            return make_curve(layers, units, dropout, lr, activation)
        return make_model(
            x.shape[1], head, loss, layers, units, dropout, lr, activation
        )

    def fit_arguments(self, data):
        (x, y, xv, yv), _, _ = data
        batch = 1 if self.name == "curve" else 32
        return (x, y), {"validation_data": (xv, yv), "batch_size": batch}


def run_ours(task, method, seed, args, budget):
    data = task.data()

    @kh.tunable
    def build():
        layers = kh.Int("layers", 1, 3)
        units = [kh.Int(f"units_{i}", 16, 256, step=16) for i in range(layers)]
        return task.model(
            data,
            layers,
            units,
            kh.Float("dropout", 0.0, 0.5),
            kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3),
            kh.Choice("activation", ["relu", "tanh"]),
        )

    options = {"max_trials": args.trials, "algorithm": "bayesian"}
    if method in ("hyperband", "bayesian_hyperband", "bayesian_hyperband_last_rung"):
        # The same algorithm objects as the simulation's.
        options = {"max_trials": configurations(args), "algorithm": make(method, seed)}
    elif method == "successive_halving":
        options = {"max_trials": 10_000, "pruner": "successive_halving"}
        Epochs.budget = budget
    (x, y), fit = task.fit_arguments(data)
    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(
            build, "val_loss", directory=directory, seed=seed, verbose=0, **options
        )
        try:
            tuner.search(
                x, y, epochs=args.epochs, verbose=0, callbacks=[Epochs()], **fit
            )
        except BudgetSpent:
            pass
        return tuner.best_score, len(tuner.trials)


def run_kerastuner(task, seed, args, budget):
    import keras_tuner as kt

    data = task.data()

    def build(hp):
        layers = hp.Int("layers", 1, 3)
        units = [hp.Int(f"units_{i}", 16, 256, step=16) for i in range(layers)]
        return task.model(
            data,
            layers,
            units,
            hp.Float("dropout", 0.0, 0.5),
            hp.Float("lr", 1e-4, 1e-1, sampling="log"),
            hp.Choice("activation", ["relu", "tanh"]),
        )

    Epochs.budget = budget
    (x, y), fit = task.fit_arguments(data)
    with tempfile.TemporaryDirectory() as directory:
        tuner = kt.Hyperband(
            build,
            objective="val_loss",
            max_epochs=args.epochs,
            factor=3,
            hyperband_iterations=100,
            seed=seed,
            directory=directory,
            overwrite=True,
        )
        try:
            tuner.search(
                x, y, epochs=args.epochs, verbose=0, callbacks=[Epochs()], **fit
            )
        except BudgetSpent:
            pass
        best = tuner.oracle.get_best_trials(1)
        return (best[0].score if best else math.nan), len(tuner.oracle.trials)


def run_one(job):
    """One (task, method, seed): the validation loss of every epoch, in order."""
    task_name, method, seed, args = job
    keras.utils.set_random_seed(seed)
    Epochs.trajectory, Epochs.budget = [], None
    budget = args.trials * args.epochs
    started = time.time()
    task = Task(task_name)
    if method == "kerastuner_hyperband":
        final, trials = run_kerastuner(task, seed, args, budget)
    else:
        final, trials = run_ours(task, method, seed, args, budget)
    return {
        "task": task_name,
        "method": method,
        "seed": seed,
        "trajectory": list(Epochs.trajectory),
        "final": final,
        "trials": trials,
        "seconds": time.time() - started,
    }


# -- the table ---------------------------------------------------------------------


def summarize(results, args):
    budget = args.trials * args.epochs
    by_key = {(r["task"], r["method"], r["seed"]): r for r in results}
    rows = []
    for task in args.tasks:
        for method in args.methods:
            seeds = [by_key.get((task, method, s)) for s in range(args.seeds)]
            if None in seeds:
                continue
            reached, best = [], []
            for seed, result in enumerate(seeds):
                target = by_key[(task, "bayesian", seed)]["final"]
                losses = np.asarray(result["trajectory"])
                hits = np.flatnonzero(losses <= target + 1e-12)
                reached.append(int(hits[0]) + 1 if hits.size else None)
                best.append(float(losses[:budget].min()))
            rows.append((task, method, seeds, reached, best))
    return rows


def _mean_sd(values, digits=4):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{np.mean(values):.{digits}g} ± {np.std(values):.{digits}g}"


def table(rows, args) -> str:
    budget = args.trials * args.epochs
    lines = [
        "| task | method | epochs to reach bayesian's final score (mean ± sd, "
        f"reached) | per seed | best val_loss in {budget} epochs (mean ± sd) "
        "| tool's final best (mean) | configurations | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task, method, seeds, reached, best in rows:
        got = [r for r in reached if r is not None]
        per_seed = " ".join(str(r) if r is not None else "-" for r in reached)
        lines.append(
            f"| {task} | {method} | {_mean_sd(got, 3)} ({len(got)}/{len(reached)}) "
            f"| {per_seed} | {_mean_sd(best)} "
            f"| {np.mean([s['final'] for s in seeds]):.4g} "
            f"| {np.mean([s['trials'] for s in seeds]):.0f} "
            f"| {sum(s['seconds'] for s in seeds):.0f} |"
        )
    return "\n".join(lines)


def reused(args, header: str) -> list[dict]:
    """The runs of an earlier `--save` file for the methods not run now."""
    if args.reuse is None:
        return []
    with open(args.reuse) as handle:
        saved = json.load(handle)
    if saved["header"] != header:
        raise SystemExit(
            f"--reuse {args.reuse} ran another budget or seeds:\n  {saved['header']}"
            f"\nagainst this run's\n  {header}"
        )
    return [
        r
        for r in saved["results"]
        if r["method"] not in args.methods and r["task"] in args.tasks
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--tasks", nargs="+", default=["curve", "digits", "diabetes"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=[*METHODS, "bayesian_hyperband_last_rung"],
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--append", default=None, help="a RESULTS.md to append to")
    parser.add_argument(
        "--save", default=None, help="a JSON file for every run's epochs and losses"
    )
    parser.add_argument(
        "--reuse",
        default=None,
        help="a --save file of an earlier run with the same budget and seeds: the "
        "runs of methods not in --methods are read from it (code they do not use "
        "changed since)",
    )
    args = parser.parse_args()
    header = (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}, keras {keras.__version__}; budget "
        f"{args.trials} trials x {args.epochs} epochs = "
        f"{args.trials * args.epochs} epochs, hyperband "
        f"{configurations(args)} configurations "
        f"({Schedule(args.epochs, 3).total_epochs(configurations(args))} epochs), "
        f"seeds 0-{args.seeds - 1}"
    )
    print(header, flush=True)
    results = reused(args, header)
    if "bayesian" not in args.methods + [r["method"] for r in results]:
        args.methods.insert(0, "bayesian")  # it sets every seed's target
    jobs = [
        (task, method, seed, args)
        for task in args.tasks
        for seed in range(args.seeds)
        for method in args.methods
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs, maxtasksperchild=1) as pool:
        for result in pool.imap_unordered(run_one, jobs):
            results.append(result)
            print(
                f"{result['task']} {result['method']} seed {result['seed']}: "
                f"{len(result['trajectory'])} epochs, final {result['final']:.4g}, "
                f"{result['seconds']:.0f} s",
                flush=True,
            )
            if args.save:  # after each run: a stopped benchmark keeps its runs
                with open(args.save, "w") as handle:
                    json.dump({"header": header, "results": results}, handle)
    ran = {r["method"] for r in results}
    args.methods = [m for m in METHODS if m in ran] + sorted(ran - set(METHODS))
    text = table(summarize(results, args), args)
    print(text)
    if args.append:
        with open(args.append, "a") as handle:
            handle.write(f"\n<!-- {header} -->\n{text}\n")


if __name__ == "__main__":
    main()
