"""Pickling what worker processes and Dask workers need: the builder, the data, a trial.

Builders defined in `__main__` (a script, a notebook) travel by value with cloudpickle
when it is installed; those of importable modules travel by name.
"""

from __future__ import annotations

import contextvars
import pickle
from typing import Any

# Set while `dumps` pickles with cloudpickle: builders defined in `__main__` then
# travel by value instead of by name (see `TunableFunction.__reduce__`).
BY_VALUE = contextvars.ContextVar("keras_hparams_by_value", default=False)


def dumps(value: Any) -> bytes:
    """Pickles `value` for a worker: with cloudpickle when installed (closures,
    lambdas and notebook functions work), else with pickle (module-level ones)."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    token = BY_VALUE.set(True)
    try:
        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        BY_VALUE.reset(token)


def check_picklable(name: str, value: Any) -> bytes:
    """`dumps(value)`, or a `TypeError` that says what could not be sent and why."""
    try:
        return dumps(value)
    except Exception as error:  # noqa: BLE001 - any pickling failure, reported whole
        raise TypeError(
            f"The {name} must be sent to the worker processes, and pickling it "
            f"failed: {type(error).__name__}: {error}. Define functions at module "
            "level (or `pip install cloudpickle` to send closures and notebook "
            "functions), and pass data that cannot be pickled, such as a "
            "tf.data.Dataset, as a function without arguments that makes it."
        ) from error
