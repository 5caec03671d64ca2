"""Disk use of a project folder over many trials: bounded checkpoints against one each.

Run: python benchmarks/disk.py [--trials 100] [--keep 3]

Runs the same search twice in temporary folders: with `keep_checkpoints=KEEP` (only
the best few trials keep their model file) and with `keep_checkpoints=TRIALS` (every
trial keeps one), and prints the size of the checkpoint files and of the whole
project folder (database, SQLite's write-ahead log, checkpoints) after trials 10,
25, 50 and the last, then the breakdown at the end, with the tuner open and closed.
One small MLP on digits per trial (1 to 3 Dense layers of 16 to 256 units), 1 epoch,
random search.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402

MARKS = (10, 25, 50)


@kh.tunable
def build_model():
    model = keras.Sequential([keras.Input((64,))])
    for i in range(kh.Int("layers", 1, 3)):
        model.add(
            keras.layers.Dense(
                kh.Int(f"units_{i}", 16, 256, step=16), activation="relu"
            )
        )
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        keras.optimizers.SGD(kh.Float("lr", 1e-3, 0.3, log=True)),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def folder_size(path: Path) -> dict[str, int]:
    """Bytes in the database, its write-ahead log, and the checkpoint files."""
    sizes = {"database": 0, "wal": 0, "checkpoints": 0, "checkpoint_files": 0}
    for file in path.rglob("*"):
        if not file.is_file():
            continue
        size = file.stat().st_size
        if file.name == "trials.db":
            sizes["database"] += size
        elif file.name.startswith("trials.db-"):
            sizes["wal"] += size
        else:
            sizes["checkpoints"] += size
            sizes["checkpoint_files"] += file.suffix == ".keras"
    sizes["total"] = sizes["database"] + sizes["wal"] + sizes["checkpoints"]
    return sizes


class MeasureDisk(keras.callbacks.Callback):
    """Measures the project folder as each trial starts (the state after the last)."""

    project: Path
    samples: list[dict[str, int]] = []

    def on_train_begin(self, logs=None):
        type(self).samples.append(folder_size(type(self).project))


def run(trials: int, keep: int, x, y) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(
            build_model,
            "val_accuracy",
            max_trials=trials,
            algorithm="random",
            directory=directory,
            project_name="disk",
            keep_checkpoints=keep,
            seed=0,
            verbose=0,
        )
        project = tuner.project_directory
        MeasureDisk.project = project
        MeasureDisk.samples = []
        start = time.perf_counter()
        tuner.search(
            x, y, epochs=1, validation_split=0.2, verbose=0, callbacks=[MeasureDisk()]
        )
        seconds = time.perf_counter() - start
        end = folder_size(project)
        # Closing the last connection folds SQLite's write-ahead log into the file.
        del tuner
        gc.collect()
        closed = folder_size(project)
    # Sample k is taken as trial k + 1 starts: the folder after k trials.
    samples = {mark: MeasureDisk.samples[mark] for mark in MARKS}
    samples[trials] = end
    return {"seconds": seconds, "samples": samples, "end": end, "closed": closed}


def kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--keep", type=int, default=3)
    args = parser.parse_args()
    if args.trials <= max(MARKS):
        parser.error(f"--trials must be more than {max(MARKS)}")
    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype("float32"), y.astype("int32")
    print(
        f"{platform.machine()}, {os.cpu_count()} cores; python "
        f"{platform.python_version()}, keras {keras.__version__}, numpy "
        f"{np.__version__}; {time.strftime('%Y-%m-%d')}"
    )
    results = {keep: run(args.trials, keep, x, y) for keep in (args.keep, args.trials)}

    print(
        "\n| after trials | "
        + " | ".join(
            f"keep_checkpoints={k}: checkpoints | keep_checkpoints={k}: whole folder"
            for k in results
        )
        + " |"
    )
    print("| --- " * (1 + 2 * len(results)) + "|")
    for mark in (*MARKS, args.trials):
        cells = []
        for result in results.values():
            sample = result["samples"][mark]
            cells += [kib(sample["checkpoints"]), kib(sample["total"])]
        print(f"| {mark} | " + " | ".join(cells) + " |")

    print(
        f"\n| keep_checkpoints | checkpoint files after {args.trials} | trials.db "
        "| write-ahead log | whole folder | whole folder, tuner closed | wall time |"
    )
    print("| --- " * 7 + "|")
    for keep, result in results.items():
        end, closed = result["end"], result["closed"]
        print(
            f"| {keep} | {end['checkpoint_files']} ({kib(end['checkpoints'])}) | "
            f"{kib(end['database'])} | {kib(end['wal'])} | {kib(end['total'])} | "
            f"{kib(closed['total'])} (trials.db {kib(closed['database'])}) | "
            f"{result['seconds']:.0f} s |"
        )


if __name__ == "__main__":
    main()
