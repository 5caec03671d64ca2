"""Multi-fidelity search on exact learning curves, without Keras: many seeds fast.

Run: python benchmarks/multi_fidelity_sim.py [--seeds 30] [--jobs 2]
     [--tasks curve lr fast cross] [--methods ...] [--epochs 9] [--trials 30]

`benchmarks/multi_fidelity.py` trains real Keras models, 5 seeds in an hour; too
few to tell two variants of an algorithm apart. This script drives the same
algorithm objects the way the tuner's loop does with one worker (`decide` ->
`Start` with values from `propose`, the first trial the defaults, or `Promote`;
`"budget"` and `"budget_scores"` recorded as `multi_fidelity.Runs.record` does),
on problems whose validation loss after `e` epochs is exact:
`floor + (2.3 - floor) * exp(-rate * e)`. All four share the floor of
`multi_fidelity.py`'s `curve` (best: learning rate near 10**-2.2, wide, deep,
dropout near 0.15, relu) and differ in how fast each configuration learns, so in
how well the first epochs rank configurations as the ninth does (Spearman's rho
over 400 random values, 1 / 3 epochs against 9):

- `curve`: `multi_fidelity.py`'s task (0.64 / 0.68): large models learn slowly;
- `lr`: high learning rates learn fastest (0.59 / 0.79), the short-horizon bias
  of real training;
- `fast`: every configuration learns quickly (0.72 / 0.96): 3 epochs rank
  nearly as 9 do, the case multi-fidelity search is made for;
- `cross`: the best floors learn slowest (-0.82 / -0.50): low budgets lie.

Methods: `bayesian` (30 full trials of 9 epochs: its final best is each seed's
target, its epochs the budget), `hyperband`, `bayesian_hyperband` (the default,
BOHB's rule: its model fitted on the largest rung with enough scores) and
`bayesian_hyperband_last_rung` (`lower_rungs=False`: random values until the last
rung has enough scores). Reported per task and method: the best
loss after a third of the budget and at the budget (mean / median over seeds), in
how many seeds the method reached the target (at all, and within a third of the
budget), and the Mann-Whitney p-value of the best at the budget against
`bayesian_hyperband`'s.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import time

import numpy as np

import keras_hparams as kh
from keras_hparams.algorithms import BayesianHyperband, BayesianOptimization, Hyperband
from keras_hparams.algorithms.brackets import Schedule
from keras_hparams.algorithms.hyperband import (
    BUDGET,
    BUDGET_SCORES,
    Idle,
    Promote,
)
from keras_hparams.trial import COMPLETED, PRUNED, RUNNING, Trial

START_LOSS = 2.3
TASKS = ("curve", "lr", "fast", "cross")
METHODS = (
    "bayesian",
    "hyperband",
    "bayesian_hyperband",
    "bayesian_hyperband_last_rung",
)
DIMENSIONS = {
    "layers": kh.Int("layers", 1, 3),
    **{f"units_{i}": kh.Int(f"units_{i}", 16, 256, step=16) for i in range(3)},
    "dropout": kh.Float("dropout", 0.0, 0.5),
    "lr": kh.Float("lr", 1e-4, 1e-1, log=True, default=1e-3),
    "activation": kh.Choice("activation", ["relu", "tanh"]),
}


def shape(task: str, p: dict) -> tuple[float, float]:
    """The floor and the rate (per epoch) of the loss curve of values `p`."""
    layers = p["layers"]
    a = (math.log10(p["lr"]) + 4) / 3  # 0 to 1
    w = float(np.mean([p[f"units_{i}"] for i in range(layers)])) / 256
    floor = (
        0.05
        + 0.8 * (a - 0.6) ** 2
        + 0.4 * (w - 0.8) ** 2
        + 0.3 * (p["dropout"] - 0.15) ** 2
        + 0.03 * (3 - layers)
        + (0.04 if p["activation"] == "tanh" else 0.0)
    )
    rate = {
        "curve": (0.2 + 1.3 * a) * (1 - 0.6 * w) / math.sqrt(layers),
        "lr": (0.3 + 1.0 * a) * (1 - 0.2 * w),
        "fast": 0.8 + 0.4 * a,
        "cross": 0.1 + 1.5 * (floor - 0.05) / 0.6 + 0.3 * a,
    }[task]
    return floor, rate


def loss(task: str, p: dict, epochs: int) -> float:
    floor, rate = shape(task, p)
    # float32, as Keras reports it
    return float(np.float32(floor + (START_LOSS - floor) * math.exp(-rate * epochs)))


def build(space: kh.SearchSpace, proposed: dict, trial_id: int, seed: int) -> dict:
    """The values a build reads, as the tuner records them: the first trial takes
    the defaults, a dimension found in this build (a unit count) is drawn with the
    trial's generator, and each read dimension joins the space."""
    rng = np.random.default_rng([seed, trial_id])
    read: dict = {}

    def value(name: str) -> None:
        d = DIMENSIONS[name]
        if name in proposed:
            read[name] = proposed[name]
        else:
            read[name] = d.default if trial_id == 1 else d.sample(rng)
        space.add(d)

    value("layers")
    for name in [f"units_{i}" for i in range(read["layers"])]:
        value(name)
    for name in ("dropout", "lr", "activation"):
        value(name)
    return read


def run_bayesian(task: str, seed: int, args) -> tuple[list[float], float]:
    """Full-budget Bayesian search: every epoch's loss, and its final best."""
    algorithm = BayesianOptimization(seed)
    space, trials, losses = kh.SearchSpace(), [], []
    for trial_id in range(1, args.trials + 1):
        proposed = algorithm.propose(space, trials, 1)[0] if trials else {}
        values = build(space, proposed, trial_id, seed)
        curve = [loss(task, values, e) for e in range(1, args.epochs + 1)]
        losses += curve
        trials.append(Trial(trial_id, values, COMPLETED, score=min(curve)))
    return losses, min(t.score for t in trials)


def run_multi_fidelity(task: str, algorithm, seed: int, args) -> list[float]:
    """A multi-fidelity search with one worker: every epoch's loss, in order."""
    budget = args.trials * args.epochs
    max_trials = configurations(args)
    space, trials, losses = kh.SearchSpace(), [], []
    while len(losses) < budget:
        decision = algorithm.decide(
            trials, max_trials=max_trials, max_epochs=args.epochs
        )
        if isinstance(decision, Idle):
            break
        if isinstance(decision, Promote):
            trial = next(t for t in trials if t.id == decision.trial_id)
            trial.extra = {**trial.extra, **decision.extra, BUDGET: decision.epochs}
            start = max(e for e, _ in trial.extra[BUDGET_SCORES])
        else:
            trial_id = len(trials) + 1
            proposed = algorithm.propose(space, trials, 1)[0] if trials else {}
            values = build(space, proposed, trial_id, seed)
            extra = {**decision.extra, BUDGET: decision.epochs}
            trial = Trial(trial_id, values, RUNNING, extra=extra)
            trials.append(trial)
            start = 0
        trial.status = RUNNING
        end = decision.epochs
        losses += [loss(task, trial.params, e) for e in range(start + 1, end + 1)]
        trial.score = loss(task, trial.params, end)
        scores = trial.extra.get(BUDGET_SCORES, [])
        trial.extra[BUDGET_SCORES] = [*scores, [end, trial.score]]
        trial.status = PRUNED if end < args.epochs else COMPLETED
    return losses[:budget]


def configurations(args) -> int:
    """The most configurations whose Hyperband schedule fits in the budget."""
    schedule, budget = Schedule(args.epochs, 3), args.trials * args.epochs
    n = 1
    while schedule.total_epochs(n + 1) <= budget:
        n += 1
    return n


def make(method: str, seed: int):
    if method == "hyperband":
        return Hyperband(seed)
    if method == "bayesian_hyperband":
        return BayesianHyperband(seed)
    if method == "bayesian_hyperband_last_rung":
        return BayesianHyperband(seed, lower_rungs=False)
    raise ValueError(f"Unknown method {method!r}; expected one of {METHODS}.")


def run_one(job) -> dict:
    task, method, seed, args = job
    started = time.time()
    final = None
    if method == "bayesian":
        losses, final = run_bayesian(task, seed, args)
    else:
        losses = run_multi_fidelity(task, make(method, seed), seed, args)
    return {
        "task": task,
        "method": method,
        "seed": seed,
        "losses": losses,
        "final": final,
        "seconds": time.time() - started,
    }


def table(results: list[dict], args) -> str:
    from scipy.stats import mannwhitneyu

    budget = args.trials * args.epochs
    third = budget // 3
    by_key = {(r["task"], r["method"], r["seed"]): r for r in results}
    lines = [
        f"| task | method | best after {third} epochs (mean / median) | best after "
        f"{budget} (mean / median) | p vs bayesian_hyperband | reached bayesian's "
        f"final best: in {budget} / in {third} epochs | seconds per seed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task in args.tasks:
        reference = None
        if "bayesian_hyperband" in args.methods:
            reference = [
                min(by_key[(task, "bayesian_hyperband", s)]["losses"])
                for s in range(args.seeds)
            ]
        for method in args.methods:
            runs = [by_key[(task, method, s)] for s in range(args.seeds)]
            at_third = [min(r["losses"][:third]) for r in runs]
            at_budget = [min(r["losses"][:budget]) for r in runs]
            reached = []
            for seed, run in enumerate(runs):
                target = by_key[(task, "bayesian", seed)]["final"]
                hits = np.flatnonzero(np.asarray(run["losses"]) <= target)
                reached.append(int(hits[0]) + 1 if hits.size else None)
            within = sum(r is not None for r in reached)
            early = sum(r is not None and r <= third for r in reached)
            p = "-"
            if reference is not None and method != "bayesian_hyperband":
                p = f"{mannwhitneyu(at_budget, reference).pvalue:.2f}"
            lines.append(
                f"| {task} | {method} | {np.mean(at_third):.4f} / "
                f"{np.median(at_third):.4f} | {np.mean(at_budget):.4f} / "
                f"{np.median(at_budget):.4f} | {p} | {within}/{args.seeds} / "
                f"{early}/{args.seeds} | "
                f"{np.mean([r['seconds'] for r in runs]):.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if "bayesian" not in args.methods:
        args.methods.insert(0, "bayesian")  # it sets every seed's target
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}; budget {args.trials} trials x {args.epochs} "
        f"epochs, hyperband {configurations(args)} configurations, seeds "
        f"0-{args.seeds - 1}",
        flush=True,
    )
    started = time.time()
    jobs = [
        (task, method, seed, args)
        for task in args.tasks
        for method in args.methods
        for seed in range(args.seeds)
    ]
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = pool.map(run_one, jobs, chunksize=4)
    print(table(results, args))
    print(f"wall time {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
