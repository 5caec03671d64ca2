"""Checks of the data `search()` receives, made before any training.

Keras finds these mistakes only inside `fit`, in every trial, and some of them after
a whole epoch (validation data of the wrong length) or never (a `batch_size` that a
`tf.data.Dataset` ignores): here they are refused at once, with the sizes as given.
"""

from __future__ import annotations

import collections.abc
import sys
from typing import Any

import keras
import numpy as np

from keras_hparams.space import Dimension


def check(
    arguments: dict[str, Any], *, objective_name: str | None, cv: int | None
) -> None:
    """Refuses data that `model.fit` would fail on (or silently misuse).

    Args:
        arguments: `fit`'s arguments by name (positional ones named).
        objective_name: the metric the search optimizes, or None.
        cv: the number of folds, or None.

    Raises:
        ValueError: lengths that disagree; `validation_split` or `batch_size` with
            a data pipeline; a `val_` objective without validation data.
    """
    x = arguments.get("x")
    if _is_function(x):
        return  # made in each worker (see FitPlan.materialized): not known here
    if _is_pipeline(x):
        _check_pipeline(x, arguments)
    else:
        _check_lengths(
            "search()", {k: arguments.get(k) for k in ("x", "y", "sample_weight")}
        )
    validation = arguments.get("validation_data")
    if isinstance(validation, tuple) and len(validation) in (2, 3):
        names = ("x", "y", "sample_weight")
        _check_lengths(
            "search(validation_data=...)",
            {
                f"validation_data {n}": v
                for n, v in zip(names, validation, strict=False)
            },
        )
    if objective_name is not None and objective_name.startswith("val_") and not cv:
        _check_validation(objective_name, arguments)


def given(value: Any) -> bool:
    """Whether a validation argument asks for validation (0 and None do not)."""
    if value is None:
        return False
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return value != 0
    return True


def _is_function(value: Any) -> bool:
    return callable(value) and not isinstance(value, type) and not _is_pipeline(value)


def _is_pipeline(x: Any) -> bool:
    """Whether `x` yields batches itself: a tf.data.Dataset, a keras PyDataset, or
    a generator (or other iterator)."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(x, tf.data.Dataset):
        return True
    return isinstance(x, (keras.utils.PyDataset, collections.abc.Iterator))


def _kind(x: Any) -> str:
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(x, tf.data.Dataset):
        return "a tf.data.Dataset"
    if isinstance(x, keras.utils.PyDataset):
        return "a keras.utils.PyDataset"
    return f"a {type(x).__name__} (an iterator)"


def _check_pipeline(x: Any, arguments: dict[str, Any]) -> None:
    kind = _kind(x)
    for name in ("y", "sample_weight"):
        if arguments.get(name) is not None:
            raise ValueError(
                f"search() received x as {kind}, which yields its own targets and "
                f"weights, and {name} too. Put {name} in the pipeline ((x, y) or "
                f"(x, y, sample_weight) elements), or pass x and y as arrays."
            )
    split = arguments.get("validation_split")
    if given(split):
        raise ValueError(
            f"search(validation_split={split!r}) splits in-memory arrays, and x is "
            f"{kind}, which Keras cannot split. Pass validation_data= (a second "
            "pipeline, or arrays), or pass x and y as arrays."
        )
    batch_size = arguments.get("batch_size")
    if batch_size is not None:
        raise ValueError(
            f"search(batch_size={batch_size!r}) has no effect when x is {kind}: "
            "Keras trains on the batches it yields. Batch in the pipeline "
            "(dataset.batch(32)), or pass x and y as arrays to set or tune "
            "batch_size."
        )


def _check_lengths(where: str, data: dict[str, Any]) -> None:
    rows = {
        label: count
        for name, value in data.items()
        if value is not None
        for label, count in _row_counts(name, value)
    }
    if len(set(rows.values())) > 1:
        lengths = ", ".join(f"{label} has {n} rows" for label, n in rows.items())
        raise ValueError(
            f"{where} received data of different lengths: {lengths} (as given, "
            "before any validation split). "
            "model.fit needs one row of y (and of sample_weight) for each row of x, "
            "and every input with the same number of rows."
        )


def _row_counts(name: str, value: Any) -> list[tuple[str, int]]:
    """`(label, rows)` of each array in `value` (an array, or a list or dict of
    arrays); leaves without a shape (Python numbers) are left out."""
    counts = []
    for path, leaf in keras.tree.flatten_with_path(value):
        shape = getattr(leaf, "shape", None)
        if shape is None or len(shape) == 0 or not isinstance(shape[0], int):
            continue
        label = name + "".join(f"[{key!r}]" for key in path)
        counts.append((label, int(shape[0])))
    return counts


def _check_validation(objective_name: str, arguments: dict[str, Any]) -> None:
    if given(arguments.get("validation_data")):
        return
    split = arguments.get("validation_split")
    if isinstance(split, Dimension):
        lowest = split.low if hasattr(split, "low") else min(split.values())
        if lowest > 0:
            return
        raise ValueError(
            f"The objective {objective_name!r} is measured on validation data, and "
            f"search(validation_split={split!r}) can give {lowest!r}, which leaves "
            "none. Give the marker values above 0, or pass validation_data=."
        )
    if given(split):
        return
    plain_name = objective_name[len("val_") :]
    raise ValueError(
        f"The objective {objective_name!r} is measured on validation data, and "
        "search() received none. Pass validation_split=0.2 or "
        "validation_data=(x_val, y_val) to search(), use Tuner(cv=k), or choose "
        f"an objective without val_ (objective={plain_name!r})."
    )
