"""Helpers shared by the `TunableModel` key handlers: serialized configs and defaults.

Keras serializes an object argument (an initializer, a regularizer, a learning-rate
schedule) as `{"module", "class_name", "config", "registered_name"}`. A key such as
`"dense_1.kernel_regularizer.l2"` walks through such dicts by their `config`.
"""

from __future__ import annotations

import importlib
from typing import Any

import keras

from keras_hparams import space as space_lib
from keras_hparams.space import Boolean, Choice, Dimension, Fixed

_NO_MATCH = object()


def is_serialized(value: Any) -> bool:
    """Whether `value` is a Keras object serialized as a dict."""
    return isinstance(value, dict) and "class_name" in value and "config" in value


def walk(config: dict[str, Any], parts: list[str]) -> tuple[tuple, Any]:
    """The location of `parts` inside `config`, and the value found there.

    Serialized objects are entered through their `config`, so
    `["kernel_regularizer", "l2"]` reaches `kernel_regularizer.config.l2`.

    Raises:
        LookupError: with `args` `(depth, value)`: `parts[depth]` is missing from
            `value`, the object reached by `parts[:depth]`.
    """
    location: list[Any] = []
    value: Any = config
    for depth, part in enumerate(parts):
        found = value
        if depth and is_serialized(value):
            location.append("config")
            value = value["config"]
        if not isinstance(value, dict) or part not in value:
            raise LookupError(depth, found)
        location.append(part)
        value = value[part]
    return tuple(location), value


def get_at(config: Any, location: tuple) -> Any:
    for key in location:
        config = config[key]
    return config


def set_at(config: Any, location: tuple, value: Any) -> None:
    get_at(config, location[:-1])[location[-1]] = value


def describe(value: Any) -> str:
    """How a value found in a config reads in an error message."""
    if is_serialized(value):
        return f"a {value['class_name']} with arguments {sorted(value['config'])}"
    return repr(value)


def with_base_default(
    dimension: Dimension, name: str, base_values: list[Any]
) -> Dimension:
    """`dimension` named `name`, its default set to the base model's value.

    The base value becomes the default only when the marker kept its implicit default
    and every base value (one per matched layer) is the same value of the dimension;
    so `TunableModel.build()` reproduces the base model.
    """
    config = dimension.get_config()
    config["name"] = name
    if _has_implicit_default(dimension):
        matches = [_matching_value(dimension, value) for value in base_values]
        first = matches[0] if matches else _NO_MATCH
        if first is not _NO_MATCH and all(_same(m, first) for m in matches):
            config["default"] = first
    return space_lib.from_config(config)


def _has_implicit_default(dimension: Dimension) -> bool:
    # A marker does not record whether its default was given, so a default equal
    # to the implicit one (low, the first choice, False) is read as not given.
    if isinstance(dimension, Fixed):
        return False
    if isinstance(dimension, Boolean):
        return dimension.default is False
    if isinstance(dimension, Choice):
        return _same(dimension.default, dimension.choices[0])
    return dimension.default == dimension.low


def _matching_value(dimension: Dimension, base: Any) -> Any:
    """The value of `dimension` that means the same as the config value `base`."""
    if isinstance(base, (list, tuple)) and base and all(v == base[0] for v in base):
        base = base[0]  # kernel_size (3, 3) reads as 3
    if dimension.contains(base):
        return base
    if is_serialized(base) and isinstance(dimension, Choice):
        for choice in dimension.choices:
            if isinstance(choice, str) and _serializes_as(choice, base):
                return choice
    return _NO_MATCH


def _serializes_as(identifier: str, serialized: dict[str, Any]) -> bool:
    """Whether `"he_normal"` names the object serialized as `serialized`."""
    try:
        module = importlib.import_module(str(serialized.get("module")))
        made = module.get(identifier)
        return keras.saving.serialize_keras_object(made) == serialized
    except Exception:  # noqa: BLE001 - any failure means "not the same object"
        return False


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b
