"""Parallel search: speed-up of worker processes, and search quality.

Run: python benchmarks/parallel.py [--trials 20] [--epochs 8] [--seeds 3]

speed: the same `--trials` configurations of a small MLP on digits (drawn at random
    once, then enqueued, so every run trains exactly the same models) run three ways,
    side by side in this one command: one at a time in this process (the default),
    one worker process, and two worker processes (`executor="processes"`). Each way
    runs twice, interleaved, and the faster of its two wall times counts. Wall time
    is the whole `tuner.search` call: starting the workers, proposing (none needed:
    the queue holds every trial), training, recording.
ceiling: the same configurations fitted by plain Keras (no tuner) in one process,
    and split between two processes running at once (one TensorFlow thread each, as
    the tuner's workers have), process start included. What two processes gain
    here bounds what two workers can gain on this machine.
quality: Bayesian search of `--trials` trials, sequential against two workers, for
    `--seeds` seeds: mean and spread of the best val_loss. With two workers a proposal
    is made while another trial runs, knowing one result fewer.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402


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
        model.add(keras.layers.Dropout(kh.Float("dropout", 0.0, 0.4)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(kh.Float("lr", 1e-4, 1e-2, log=True)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def data():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y


def configurations(n: int, seed: int) -> list[dict]:
    """n distinct configurations drawn at random from build_mlp's space."""
    rng = np.random.default_rng(seed)
    build_mlp.build({"layers": 2})  # finds every dimension
    space = build_mlp.space
    names = ["layers", "units_0", "units_1", "act", "dropout", "lr"]
    return [{name: space[name].sample(rng) for name in names} for _ in range(n)]


def timed_search(x, y, epochs, queue, directory, **execution) -> float:
    tuner = kh.Tuner(
        build_mlp,
        "val_loss",
        max_trials=len(queue),
        directory=directory,
        project_name="speed",
        overwrite=True,
        seed=0,
        verbose=0,
        **execution,
    )
    for params in queue:
        tuner.enqueue(params)
    started = time.perf_counter()
    tuner.search(x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0)
    seconds = time.perf_counter() - started
    trials = tuner.trials
    assert [t.status for t in trials] == ["completed"] * len(queue), trials
    for params, trial in zip(queue, trials, strict=True):  # the same models
        assert all(params[k] == v for k, v in trial.params.items()), trial
    return seconds


def speed(x, y, trials: int, epochs: int) -> dict[str, float]:
    queue = configurations(trials, seed=0)
    ways = {
        "in this process": {},
        "1 worker process": {"executor": "processes", "n_workers": 1},
        "2 worker processes": {"executor": "processes", "n_workers": 2},
    }
    best = {name: float("inf") for name in ways}
    with tempfile.TemporaryDirectory() as directory:
        for round_ in range(2):
            for name, execution in ways.items():
                seconds = timed_search(x, y, epochs, queue, directory, **execution)
                best[name] = min(best[name], seconds)
                print(f"  round {round_ + 1}, {name}: {seconds:.1f} s", flush=True)
    return best


def plain_keras(trials: int, epochs: int, start: int, stop: int) -> None:
    """Fits configurations [start, stop) with plain Keras (run in a subprocess)."""
    x, y = data()
    for params in configurations(trials, seed=0)[start:stop]:
        keras.backend.clear_session()
        keep = params["layers"] == 2  # units_1 exists only with a second layer
        used = {k: v for k, v in params.items() if k != "units_1" or keep}
        model = build_mlp.build(used)
        model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0)


def ceiling(trials: int, epochs: int) -> dict[str, float]:
    """Wall time of plain Keras over the configurations: one process, and two at
    once with half each; the faster of two rounds each."""

    def run(parts: list[tuple[int, int]], threads: int) -> float:
        env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(threads)}
        env["TF_NUM_INTEROP_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [sys.executable, __file__, "--plain-keras", str(a), str(b)]
                + ["--trials", str(trials), "--epochs", str(epochs)],
                env=env,
            )
            for a, b in parts
        ]
        for process in processes:
            if process.wait() != 0:
                raise RuntimeError("a plain Keras process failed")
        return time.perf_counter() - started

    half = trials // 2
    best = {
        "1 plain Keras process": float("inf"),
        "2 plain Keras processes": float("inf"),
    }
    for round_ in range(2):
        for name, parts, threads in (
            ("1 plain Keras process", [(0, trials)], os.cpu_count() or 1),
            ("2 plain Keras processes", [(0, half), (half, trials)], 1),
        ):
            seconds = run(parts, threads)
            best[name] = min(best[name], seconds)
            print(f"  round {round_ + 1}, {name}: {seconds:.1f} s", flush=True)
    return best


def quality(x, y, trials: int, epochs: int, seeds: int) -> dict[str, list[float]]:
    scores = {"sequential": [], "2 workers": []}
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(seeds):
            for name, execution in (
                ("sequential", {}),
                ("2 workers", {"executor": "processes", "n_workers": 2}),
            ):
                tuner = kh.Tuner(
                    build_mlp,
                    "val_loss",
                    max_trials=trials,
                    directory=directory,
                    project_name=f"{name}-{seed}".replace(" ", "_"),
                    seed=seed,
                    verbose=0,
                    **execution,
                )
                tuner.search(
                    x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0
                )
                scores[name].append(tuner.best_score)
                print(f"  seed {seed}, {name}: best {tuner.best_score:.4f}", flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--plain-keras", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_keras:
        plain_keras(args.trials, args.epochs, *args.plain_keras)
        return
    x, y = data()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, keras {keras.__version__}; "
        f"{args.trials} trials of {args.epochs} epochs on {len(x)} digits"
    )
    print("speed (the faster of two interleaved runs each):")
    best = speed(x, y, args.trials, args.epochs)
    base = best["in this process"]
    print("| run | wall time | trials per minute | speed-up vs in-process |")
    print("| --- | --- | --- | --- |")
    for name, seconds in best.items():
        print(
            f"| {name} | {seconds:.1f} s | {60 * args.trials / seconds:.1f} | "
            f"{base / seconds:.2f}x |"
        )
    one = best["1 worker process"]
    print(f"2 workers vs 1 worker: {one / best['2 worker processes']:.2f}x")
    print("ceiling (plain Keras in processes, the faster of two runs each):")
    plain = ceiling(args.trials, args.epochs)
    for name, seconds in plain.items():
        print(f"| {name} | {seconds:.1f} s | {60 * args.trials / seconds:.1f} |")
    gain = plain["1 plain Keras process"] / plain["2 plain Keras processes"]
    print(f"2 plain Keras processes vs 1: {gain:.2f}x")
    if args.skip_quality:
        return
    print("quality (Bayesian, best val_loss):")
    scores = quality(x, y, args.trials, args.epochs, args.seeds)
    print("| run | mean best val_loss | spread (std) | per seed |")
    print("| --- | --- | --- | --- |")
    for name, values in scores.items():
        print(
            f"| {name} | {statistics.mean(values):.4f} | "
            f"{statistics.pstdev(values):.4f} | "
            f"{', '.join(f'{v:.4f}' for v in values)} |"
        )


if __name__ == "__main__":
    main()
