"""Model code as Keras's own examples write it, with markers, for
tests/test_real_code.py. The custom classes are in tests/real_code_layers.py."""

import keras
import numpy as np

import keras_hparams as kh
from tests.real_code_layers import MLP, BareMLP, CustomStep, Head, Scale


def _compile(model, lr_default=0.05):
    model.compile(
        optimizer=keras.optimizers.SGD(
            kh.Float("lr", 1e-3, 0.3, log=True, default=lr_default), momentum=0.9
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def sequential():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(kh.Int("units", 16, 64, step=16), activation="relu"),
            keras.layers.Dropout(kh.Float("dropout", 0.0, 0.4)),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return _compile(model)


def functional_two_inputs():
    left, right = keras.Input((32,), name="left"), keras.Input((32,), name="right")
    units = kh.Int("units", 8, 32, step=8)
    merged = keras.layers.Concatenate()(
        [keras.layers.Dense(units, activation="relu")(x) for x in (left, right)]
    )
    outputs = keras.layers.Dense(10, activation="softmax")(merged)
    return _compile(keras.Model({"left": left, "right": right}, outputs))


def subclassed():
    model = MLP(units=kh.Int("units", 16, 64, step=16), dropout=kh.Float("d", 0, 0.3))
    return _compile(model)


def bare_subclassed():
    return _compile(BareMLP(units=kh.Int("units", 16, 64, step=16)))


def layer_argument_subclassed():
    hidden = keras.layers.Dense(kh.Int("units", 16, 64, step=16), activation="relu")
    return _compile(Head(hidden))


def custom_layer():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            Scale(kh.Float("scale", 0.5, 2.0, default=1.0)),
            keras.layers.Dense(kh.Int("units", 16, 64, step=16), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return _compile(model)


def custom_train_step():
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(kh.Int("units", 16, 64, step=16), activation="relu")
    outputs = keras.layers.Dense(10, activation="softmax")(hidden(inputs))
    return _compile(CustomStep(inputs, outputs))


def text_classifier(texts):
    """TextVectorization adapted to the texts, then an embedding bag."""
    vectorize = keras.layers.TextVectorization(max_tokens=50, output_sequence_length=6)
    vectorize.adapt(texts)
    model = keras.Sequential(
        [
            keras.Input((1,), dtype="string"),
            vectorize,
            keras.layers.Embedding(50, kh.Int("embedding", 4, 16, step=4)),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    return _compile(model, lr_default=0.1)


def tabular(numbers, colors):
    """Normalization on a numeric column, StringLookup + one-hot on a string one."""
    number_in = keras.Input((1,), name="number")
    color_in = keras.Input((1,), name="color", dtype="string")
    normalize = keras.layers.Normalization()
    normalize.adapt(numbers)
    lookup = keras.layers.StringLookup(output_mode="one_hot")
    lookup.adapt(colors)
    features = keras.layers.Concatenate()([normalize(number_in), lookup(color_in)])
    hidden = keras.layers.Dense(kh.Int("units", 4, 16, step=4), activation="relu")
    outputs = keras.layers.Dense(2, activation="softmax")(hidden(features))
    model = keras.Model({"number": number_in, "color": color_in}, outputs)
    return _compile(model, lr_default=0.1)


def text_data(rows=120, seed=0):
    """Two classes of short texts, told apart by their words."""
    rng = np.random.default_rng(seed)
    words = [["good", "great", "fine", "nice"], ["bad", "awful", "poor", "sad"]]
    labels = rng.integers(0, 2, rows)
    texts = [" ".join(rng.choice(words[label], 4)) for label in labels]
    return np.array(texts, dtype=str).reshape(-1, 1), labels.astype("int32")


def tabular_data(rows=120, seed=0):
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, 1)).astype("float32")
    colors = rng.choice(["red", "green", "blue"], (rows, 1)).astype(str)
    labels = ((numbers[:, 0] > 0) ^ (colors[:, 0] == "red")).astype("int32")
    return {"number": numbers, "color": colors}, labels
