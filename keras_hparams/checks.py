"""Argument checks shared by the public constructors: one wording for each kind."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (a numpy one included), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether `value` is a real number (a numpy one included), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_int(owner: str, argument: str, value: Any, minimum: int) -> None:
    """Raises `ValueError` unless `value` is an integer >= `minimum`.

    Example: `check_int("Tuner", "max_trials", 0, 1)` raises
    "Tuner(max_trials=...) expects an integer >= 1. Received: 0."
    """
    if not is_int(value) or value < minimum:
        raise ValueError(
            f"{owner}({argument}=...) expects an integer >= {minimum}. "
            f"Received: {value!r}."
        )


def check_seconds(owner: str, argument: str, value: Any, *, zero_ok: bool) -> None:
    """Raises `ValueError` unless `value` is None or a positive number of seconds
    (or zero, with `zero_ok`)."""
    if value is None or (is_number(value) and (value > 0 or (zero_ok and value == 0))):
        return
    accepted = "a number >= 0" if zero_ok else "a positive number"
    raise ValueError(
        f"{owner}({argument}=...) expects {accepted} of seconds or None. "
        f"Received: {value!r}."
    )
