"""Custom classes as Keras's guides write them, for the tests.

They live in a module that does not import keras_hparams. Those registered as
Keras's serialization guide asks load in a fresh process that imports this module,
without keras_hparams; the unregistered ones (BareMLP, Head, Unsaveable) are the
cases Keras cannot save or load whole.
"""

import keras
import tensorflow as tf

PACKAGE = "kh_real_code"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Scale(keras.layers.Layer):
    """A custom layer with a constructor argument and its get_config."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MLP(keras.Model):
    """A subclassed model whose __init__ takes arguments, with get_config."""

    def __init__(self, units=32, dropout=0.1, classes=10, **kwargs):
        super().__init__(**kwargs)
        self.units, self.dropout, self.classes = units, dropout, classes
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.drop = keras.layers.Dropout(dropout)
        self.out = keras.layers.Dense(classes, activation="softmax")

    def call(self, inputs, training=False):
        return self.out(self.drop(self.hidden(inputs), training=training))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "dropout": self.dropout,
            "classes": self.classes,
        }


class BareMLP(keras.Model):
    """A subclassed model with constructor arguments and no get_config: it trains,
    but Keras cannot save it whole."""

    def __init__(self, units=32):
        super().__init__()
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


class Head(keras.Model):
    """A subclassed model that takes a layer object and has no get_config, as
    Keras's VAE example does: Keras cannot save it whole at all."""

    def __init__(self, hidden, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


@keras.saving.register_keras_serializable(package=PACKAGE)
class CustomStep(keras.Model):
    """A functional model with its own train_step (as in Keras's 'Customizing what
    happens in fit' guide), which still reports its metrics for the objective."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(
            zip(gradients, self.trainable_variables, strict=True)
        )
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class Unsaveable(keras.layers.Layer):
    """A layer Keras can save neither whole (its config) nor as weights."""

    def call(self, inputs):
        return inputs

    def get_config(self):
        raise NotImplementedError("this layer cannot be saved")

    def save_own_variables(self, store):  # nor its weights alone
        raise NotImplementedError("this layer cannot be saved")
