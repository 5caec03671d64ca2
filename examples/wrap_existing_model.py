"""Tune an existing CNN from the outside, without editing the code that makes it.

`make_digits_cnn` stands for model code you cannot or will not change. `kh.TunableModel`
names what to tune on the compiled model it returns: filters, kernel sizes, dropout
rates, the initializer, the number of dense layers, the optimizer and the learning-rate
schedule. The last part shows the same constant-or-decaying learning rate written with
`@kh.tunable`.

Run: python examples/wrap_existing_model.py [--trials 6] [--epochs 5] [--directory DIR]
(about a minute on 2 CPU cores with the defaults).
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_hparams as kh  # noqa: E402


def make_digits_cnn() -> keras.Model:
    """The model code as it was before any tuning; not edited for it."""
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                16, 3, padding="same", activation="relu", name="conv_1"
            ),
            keras.layers.Dropout(0.1, name="conv_dropout"),
            keras.layers.Conv2D(
                32, 3, padding="same", activation="relu", name="conv_2"
            ),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(64, activation="relu", name="hidden"),
            keras.layers.Dropout(0.3, name="hidden_dropout"),
            keras.layers.Dense(10, activation="softmax", name="classes"),
        ],
        name="digits_cnn",
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def tunable_digits_cnn() -> kh.TunableModel:
    """The existing model, with what to tune named from the outside."""
    return kh.TunableModel(
        make_digits_cnn(),
        {
            "conv_*.filters": kh.Int(8, 48, step=8),  # one dimension per layer
            "conv_*.kernel_size": kh.Choice([2, 3]),
            "*dropout.rate": kh.Float(0.0, 0.5),
            "conv_*.kernel_initializer": kh.Choice(
                "conv_init", ["glorot_uniform", "he_normal"]
            ),
            "hidden+hidden_dropout.repeat": kh.Int(
                "dense_layers", 1, 3
            ),  # a block, 1-3 times
            "hidden.units": kh.Int(32, 128, step=32),
            "optimizer": kh.Choice(["sgd", "adam"]),
            "optimizer.momentum": kh.Float(0.0, 0.95),  # inactive when Adam is chosen
            "optimizer.learning_rate": kh.Float(1e-3, 1e-1, log=True),
            "optimizer.learning_rate.schedule": kh.Choice(
                ["constant", "exponential_decay"]
            ),
            "optimizer.learning_rate.decay_steps": kh.Fixed(100),
            "optimizer.learning_rate.decay_rate": kh.Float(0.5, 0.99),
        },
    )


@kh.tunable
def digits_cnn_with_decay() -> keras.Model:
    """The same learning-rate choice with markers: recompile the untouched model."""
    model = make_digits_cnn()
    learning_rate = kh.Float("lr", 1e-3, 1e-1, log=True, default=0.05)
    if kh.Choice("schedule", ["constant", "exponential_decay"]) == "exponential_decay":
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            learning_rate,
            decay_steps=100,
            decay_rate=kh.Float("decay_rate", 0.5, 0.99, default=0.9),
        )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def load_data():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 8, 8, 1).astype("float32")
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def show_builds(tunable: kh.TunableModel) -> None:
    print(f"{tunable}: {tunable.space.names}")
    base_layers = [layer.name for layer in tunable.model.layers]
    model = tunable.build(
        {
            "dense_layers": 3,
            "conv_1.filters": 8,
            "optimizer": "adam",
            "optimizer.learning_rate.schedule": "exponential_decay",
        }
    )
    print(
        "3 dense blocks, Adam, decaying rate:", [layer.name for layer in model.layers]
    )
    print(
        "  learning_rate:", model.optimizer.get_config()["learning_rate"]["class_name"]
    )
    assert [layer.name for layer in tunable.model.layers] == base_layers  # untouched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--directory",
        default=None,
        help="where the searches are kept (default: a temporary folder)",
    )
    args = parser.parse_args()
    directory = args.directory or tempfile.mkdtemp(prefix="hparams_runs_")
    x_train, x_test, y_train, y_test = load_data()

    tunable = tunable_digits_cnn()
    show_builds(tunable)
    tuner = kh.Tuner(
        tunable,
        objective="val_accuracy",
        max_trials=args.trials,
        directory=directory,
        project_name="wrapped_cnn",
        seed=0,
    )
    tuner.search(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=64,
        validation_split=0.2,
        verbose=0,
    )
    print("best values:", tuner.best_params)
    print(f"best val_accuracy: {tuner.best_score:.3f}")
    _, test_accuracy = tuner.best_model().evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy of the best model: {test_accuracy:.3f}")

    tuner = kh.Tuner(
        digits_cnn_with_decay,
        objective="val_accuracy",
        max_trials=max(2, args.trials // 2),
        directory=directory,
        project_name="cnn_with_markers",
        seed=0,
    )
    tuner.search(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=64,
        validation_split=0.2,
        verbose=0,
    )
    print("with @kh.tunable, best values:", tuner.best_params)
    print(f"searches kept in {directory}")


if __name__ == "__main__":
    main()
