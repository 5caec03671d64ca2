"""Resident memory of one process across many trials, against a bare Keras loop.

Run: python benchmarks/memory.py [--trials 100]
(`benchmarks/performance.py` runs it too, through `measure`.)

Runs, each in a fresh subprocess, (1) `tuner.search` over N trials and (2) a bare loop
that builds, fits and `clear_session()`s N models drawn from the same space, and prints
RSS after trial 10 and after trial N for both. One small MLP on digits per trial,
1 epoch, random search (so proposal cost plays no part).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


class RecordMemory(keras.callbacks.Callback):
    samples: list[float] = []

    def on_train_end(self, logs=None):
        type(self).samples.append(rss_mb())


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


def load_data():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y


def run_tuner(trials: int) -> list[float]:
    x, y = load_data()
    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(
            build_model,
            "val_accuracy",
            max_trials=trials,
            algorithm="random",
            directory=directory,
            seed=0,
            verbose=0,
        )
        tuner.search(
            x, y, epochs=1, validation_split=0.2, verbose=0, callbacks=[RecordMemory()]
        )
    return RecordMemory.samples


def run_bare(trials: int) -> list[float]:
    x, y = load_data()
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(trials):
        keras.backend.clear_session()
        values = {d.name: d.sample(rng) for d in build_model.space}
        model = build_model.build(
            {
                k: v
                for k, v in values.items()
                if not k.startswith("units_") or int(k[6:]) < values["layers"]
            }
        )
        model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
        samples.append(rss_mb())
    return samples


def measure(mode: str, trials: int) -> dict:
    """Runs one loop ("tuner" or "bare") in a fresh process: its seconds and the RSS
    in MB after each trial."""
    completed = subprocess.run(
        [sys.executable, __file__, "--mode", mode, "--trials", str(trials)],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    raise RuntimeError(f"memory.py --mode {mode} printed no result:\n{completed}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--mode", choices=["both", "tuner", "bare"], default="both")
    args = parser.parse_args()
    if args.mode == "both":
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"python {platform.python_version()}, keras {keras.__version__}"
        )
        for mode in ("bare", "tuner"):
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--mode",
                    mode,
                    "--trials",
                    str(args.trials),
                ],
                check=True,
            )
        return
    build_model.build({"layers": 3})  # registers units_0..units_2 for run_bare
    started = time.time()
    samples = run_tuner(args.trials) if args.mode == "tuner" else run_bare(args.trials)
    seconds = time.time() - started
    after = min(10, len(samples) // 2)
    print(
        f"{args.mode:>5}: {len(samples)} trials in {seconds:.0f} s; "
        f"RSS after trial {after} {samples[after - 1]:.0f} MB, after trial "
        f"{len(samples)} {samples[-1]:.0f} MB, growth "
        f"{samples[-1] - samples[after - 1]:+.0f} MB"
    )
    result = {"mode": args.mode, "seconds": seconds, "samples": samples}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
