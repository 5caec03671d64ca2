"""Tune an MLP on scikit-learn's digits over eight hyperparameters, then export it.

Run: python examples/quickstart.py   (about 2-4 minutes on 2 CPU cores)

The model code is ordinary Keras; literals were replaced with markers. Calling
`build_model()` still returns the default model. Run the script again and the search
resumes from hparams/quickstart/trials.db instead of starting over.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_hparams as kh  # noqa: E402


@kh.tunable
def build_model():
    model = keras.Sequential([keras.Input((64,))])
    for i in range(kh.Int("layers", 1, 3, default=2)):
        model.add(
            keras.layers.Dense(
                kh.Int(f"units_{i}", 32, 256, step=32, default=128),
                activation=kh.Choice("activation", ["relu", "tanh", "gelu"]),
                kernel_initializer=kh.Choice("init", ["glorot_uniform", "he_normal"]),
            )
        )
        model.add(keras.layers.Dropout(kh.Float("dropout", 0.0, 0.5, default=0.2)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    optimizer = keras.optimizers.SGD(
        learning_rate=kh.Float("lr", 1e-3, 0.3, log=True, default=1e-2),
        momentum=kh.Float("momentum", 0.5, 0.99, default=0.9),
    )
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )

    tuner = kh.Tuner(
        build_model,
        # val_loss ranks trials finely; accuracy on 288 validation digits ties often.
        objective="val_loss",
        max_trials=20,
        directory="hparams",
        project_name="quickstart",
        seed=0,
    )
    tuner.search(
        x_train,
        y_train,
        epochs=20,
        validation_split=0.2,
        verbose=0,
        batch_size=kh.Choice([16, 32, 64]),
        callbacks=[keras.callbacks.EarlyStopping(patience=4)],
    )

    print("\nBest values:")
    for name, value in tuner.best_params.items():
        print(f"  {name} = {value}")
    best = tuner.best_trial
    accuracy = best.history[best.best_epoch]["val_accuracy"]
    print(
        f"Best trial {best.id}: val_loss {best.score:.4f}, val_accuracy {accuracy:.4f}"
    )

    path = tuner.export("hparams/quickstart_best.keras")
    model = keras.models.load_model(path)  # plain Keras, no keras_hparams needed
    predictions = model.predict(x_test, verbose=0).argmax(axis=1)
    accuracy = np.mean(predictions == y_test)
    print(
        f"Exported {path}; test accuracy {accuracy:.4f} on {len(y_test)} unseen digits"
    )


if __name__ == "__main__":
    main()
