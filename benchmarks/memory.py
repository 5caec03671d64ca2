"""Resident memory of one process across many trials (issue: memory must stay flat).

Run: python benchmarks/memory.py [--trials 100]

Prints RSS after trial 10 and after the last trial, and the growth between them. One
small MLP on digits per trial, 1 epoch, random search (so proposal cost plays no part).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
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
        model.add(keras.layers.Dense(kh.Int(f"units_{i}", 16, 256, step=16),
                                     activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(keras.optimizers.SGD(kh.Float("lr", 1e-3, 0.3, log=True)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    started = time.time()
    with tempfile.TemporaryDirectory() as directory:
        tuner = kh.Tuner(build_model, "val_accuracy", max_trials=args.trials,
                         algorithm="random", directory=directory, seed=0, verbose=0)
        tuner.search(x, y, epochs=1, validation_split=0.2, verbose=0,
                     callbacks=[RecordMemory()])
    samples = RecordMemory.samples
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, keras {keras.__version__}")
    print(f"trials: {len(samples)} in {time.time() - started:.0f} s")
    print(f"RSS after trial 10: {samples[9]:.0f} MB")
    print(f"RSS after trial {len(samples)}: {samples[-1]:.0f} MB")
    print(f"growth from trial 10 to {len(samples)}: {samples[-1] - samples[9]:+.0f} MB")


if __name__ == "__main__":
    main()
