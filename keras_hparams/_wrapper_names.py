"""The names `TunableModel` gives the base model's layers, stable from run to run.

Keras names a layer made without a name after its class, numbered across the session
(`dense`, `dense_1`, ...); run the same script again in one process and the same
layers are `dense_2`, `dense_3`, so dimension names built from them would change and
a resumed search would take them for new dimensions. A layer whose name Keras made is
therefore named by its position among the model's such layers of its class, as a
fresh session names them: `dense`, `dense_1`, ... A name counts as Keras's when it has
that form (the class in snake_case, alone or followed by `_<number>`) and Keras has
made that many names for the class in this session; any other name is kept. When
renumbering a class would give a layer the name another layer has (layers named
`dense_1` and `dense_2` by hand, say), that class keeps its names.
"""

from __future__ import annotations

import re
from typing import Any


def stable_names(layers: list[tuple[str, str]]) -> list[str]:
    """The names to use for `(class_name, keras_name)` pairs in model order."""
    made = _names_made()
    by_class: dict[str, list[int]] = {}
    for index, (class_name, name) in enumerate(layers):
        base = snake_case(class_name)
        if _made_by_keras(base, name, made):
            by_class.setdefault(base, []).append(index)
    names = [name for _, name in layers]
    for base, indices in by_class.items():
        renamed = {i: base if k == 0 else f"{base}_{k}" for k, i in enumerate(indices)}
        # A new name that another layer has now: cannot tell which layer it means.
        if not any(new != names[i] and new in names for i, new in renamed.items()):
            for i, new in renamed.items():
                names[i] = new
    return names


def snake_case(class_name: str) -> str:
    """A class name as Keras turns it into a layer name (`Conv2D` -> `conv2d`)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _made_by_keras(base: str, name: str, made: dict[str, int] | None) -> bool:
    if name == base:
        number = 0
    else:
        found = re.fullmatch(re.escape(base) + r"_(\d+)", name)
        if found is None:
            return False
        number = int(found[1])
    return made is None or number < made.get(base, 0)


def _names_made() -> dict[str, int] | None:
    """How many names Keras has made per class prefix in this session, or None
    where this Keras does not say (then every name of the form counts)."""
    try:
        from keras.src.backend.common import global_state

        counts: Any = global_state.get_global_attribute("object_name_uids")
    except Exception:  # noqa: BLE001 - a private detail of Keras; fall back
        return None
    return dict(counts) if counts is not None else {}
