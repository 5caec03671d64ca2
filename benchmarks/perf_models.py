"""The models that `performance.py` tunes: one definition of a small MLP and a small
CNN on digits, given its values three ways (a dict for the bare loops, keras-hparams
markers, KerasTuner's `hp`), and `Family`, which holds a model with its data and its
fixed fit arguments.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402

BATCH_SIZE = 64
VALIDATION_SPLIT = 0.2


# -- one model definition, three ways to give it values -------------------------------
class FromValues:
    """Reads a trial's values from a dict: the bare loops."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return int(self.values[name])

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return float(self.values[name])

    def choice(self, name: str, values: list) -> Any:
        return self.values[name]


class FromMarkers:
    """keras-hparams markers: inside a `@kh.tunable` call they return trial values."""

    def int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return kh.Int(name, low, high, step=step)

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return kh.Float(name, low, high, log=log)

    def choice(self, name: str, values: list) -> Any:
        return kh.Choice(name, values)


class FromKerasTuner:
    """KerasTuner's `hp`."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def int(self, name: str, low: int, high: int, step: int = 1) -> int:
        return self.hp.Int(name, low, high, step=step)

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return self.hp.Float(name, low, high, sampling="log" if log else "linear")

    def choice(self, name: str, values: list) -> Any:
        return self.hp.Choice(name, values)


def mlp(hp: Any) -> keras.Model:
    """1-3 Dense layers of 16-128 units, dropout, SGD: 7 dimensions."""
    model = keras.Sequential([keras.Input((64,))])
    activation = hp.choice("activation", ["relu", "tanh"])
    dropout = hp.float("dropout", 0.0, 0.5)
    for i in range(hp.int("layers", 1, 3)):
        units = hp.int(f"units_{i}", 16, 128, step=16)
        model.add(keras.layers.Dense(units, activation=activation))
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        keras.optimizers.SGD(hp.float("lr", 1e-3, 0.3, log=True), momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def cnn(hp: Any) -> keras.Model:
    """1-2 Conv2D layers of 8-32 filters, pooling, dropout, Adam: 6 dimensions."""
    model = keras.Sequential([keras.Input((8, 8, 1))])
    kernel_size = hp.choice("kernel_size", [2, 3])
    for i in range(hp.int("conv_layers", 1, 2)):
        filters = hp.int(f"filters_{i}", 8, 32, step=8)
        model.add(
            keras.layers.Conv2D(filters, kernel_size, padding="same", activation="relu")
        )
    model.add(keras.layers.MaxPooling2D())
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dropout(hp.float("dropout", 0.0, 0.5)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        keras.optimizers.Adam(hp.float("lr", 1e-4, 1e-2, log=True)),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@kh.tunable
def tunable_mlp() -> keras.Model:
    return mlp(FromMarkers())


@kh.tunable
def tunable_cnn() -> keras.Model:
    return cnn(FromMarkers())


@dataclasses.dataclass
class Family:
    """A model to tune, its data and its fixed fit arguments."""

    name: str
    build: Callable[[Any], keras.Model]
    tunable: Any
    epochs: int
    x: np.ndarray
    y: np.ndarray
    warm_up: dict[str, Any]

    def fit_kwargs(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": BATCH_SIZE,
            "validation_split": VALIDATION_SPLIT,
            "verbose": 0,
        }


def families(names: list[str]) -> list[Family]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    common = {"dropout": 0.1, "lr": 0.01}
    mlp_values = {**common, "activation": "relu", "layers": 1, "units_0": 32}
    cnn_values = {**common, "kernel_size": 3, "conv_layers": 1, "filters_0": 8}
    known = {
        "mlp": Family("mlp", mlp, tunable_mlp, 3, x, y, mlp_values),
        "cnn": Family(
            "cnn", cnn, tunable_cnn, 2, x.reshape(-1, 8, 8, 1), y, cnn_values
        ),
    }
    return [known[name] for name in names]
