"""Layer keys of `TunableModel`: `"<glob>.<argument>"`, `".repeat"` and `".include"`.

The keys are matched against the layers found in the base model's config (nested
models included, reached as `"<model>/<layer>"`) once, at construction; each trial
then edits a copy of that config at the recorded locations.
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass
from typing import Any

from keras_hparams._wrapper_names import stable_names
from keras_hparams._wrapper_values import (
    describe,
    get_at,
    is_serialized,
    walk,
    with_base_default,
)
from keras_hparams.space import Choice, Dimension, Fixed, Int

STRUCTURE_WORDS = ("repeat", "include")
# Keys of a nested model's config that describe its graph, not arguments to tune.
_GRAPH_KEYS = ("name", "layers", "input_layers", "output_layers", "build_input_shape")


@dataclass
class Layer:
    """One layer of the base model, as its config holds it."""

    path: str  # "dense_1", or "head/dense_1" inside the nested model "head"
    class_name: str
    location: tuple  # keys from the model config to this layer's entry
    parent_kind: str  # "Sequential" or "Functional"
    config: dict[str, Any]
    keras_name: str = ""  # the name in the config, when the path renames it

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def arguments(self) -> list[str]:
        return [key for key in self.config if key not in _GRAPH_KEYS]

    def label(self) -> str:
        return f"Layer {self.path!r} ({self.class_name})"


@dataclass(eq=False)
class ArgumentTarget:
    """One layer argument a key tunes."""

    key: str
    layer: Layer
    location: tuple  # from the model config to the argument
    dimension: Dimension


@dataclass(eq=False)
class StructureTarget:
    """A layer, or a block of consecutive layers, that a trial repeats or leaves out."""

    key: str
    word: str  # "repeat" or "include"
    layers: list[Layer]
    dimension: Dimension

    def count(self, value: Any) -> int:
        return int(value) if self.word == "repeat" else int(bool(value))


def index_layers(
    model_config: dict[str, Any], kind: str, names: list[str] | None = None
) -> list[Layer]:
    """Every layer in `model_config`, nested ones after their model; inputs left out.

    Layers are named as `_wrapper_names` says (stable from run to run), or by
    `names`, the names an earlier indexing of the same model gave, in order.
    """
    found: list[tuple[int | None, Layer]] = []
    _visit(model_config["layers"], ("layers",), None, kind, found)
    if names is None or len(names) != len(found):
        names = stable_names([(layer.class_name, layer.path) for _, layer in found])
    layers = []
    for (parent, layer), name in zip(found, names, strict=True):
        prefix = layers[parent].path + "/" if parent is not None else ""
        layer.keras_name, layer.path = layer.path, prefix + name
        layers.append(layer)
    return layers


def _visit(
    entries: list,
    location: tuple,
    parent: int | None,
    parent_kind: str,
    found: list[tuple[int | None, Layer]],
) -> None:
    """Collects `(index of the parent model, layer)`, the layer's path holding its
    own name for now."""
    for position, entry in enumerate(entries):
        config = entry.get("config")
        if not isinstance(config, dict) or entry.get("class_name") == "InputLayer":
            continue
        name = config.get("name", entry.get("name", ""))
        layer = Layer(
            name, entry["class_name"], location + (position,), parent_kind, config
        )
        found.append((parent, layer))
        if _is_model_config(config):
            kind = "Sequential" if entry["class_name"] == "Sequential" else "Functional"
            inner = layer.location + ("config", "layers")
            _visit(config["layers"], inner, len(found) - 1, kind, found)


def _is_model_config(config: dict[str, Any]) -> bool:
    layers = config.get("layers")
    return isinstance(layers, list) and all(is_serialized(e) for e in layers)


def match(glob: str, layers: list[Layer], key: str) -> list[Layer]:
    """The layers whose name or path matches `glob`; `ValueError` if none does."""
    matched = [
        layer
        for layer in layers
        if fnmatch.fnmatchcase(layer.name, glob)
        or fnmatch.fnmatchcase(layer.path, glob)
    ]
    if not matched:
        renamed = [layer for layer in layers if layer.name != layer.keras_name]
        note = (
            f" Layers that Keras named are numbered by their position in the model, "
            f"as a fresh session names them: {renamed[0].keras_name!r} is "
            f"{renamed[0].name!r} here."
            if renamed
            else ""
        )
        raise ValueError(
            f"The key {key!r} matches no layer: {glob!r} is not the name of a layer "
            f"of the base model. Its layers: {[layer.path for layer in layers]}."
            f"{note}"
        )
    return matched


def argument_targets(
    key: str, marker: Dimension, layers: list[Layer]
) -> list[ArgumentTarget]:
    """The targets of `"<glob>.<argument>[.<sub-argument>...]"`.

    A glob reaches the matched layers that have the argument, so
    `"*.kernel_initializer"` leaves dropout layers alone.
    """
    glob, *parts = key.split(".")
    reached, failures = [], []
    for layer in match(glob, layers, key):
        try:
            location, base_value = walk(layer.config, parts)
        except LookupError as error:
            failures.append((layer, *error.args))
        else:
            reached.append((layer, layer.location + ("config",) + location, base_value))
    if not reached:
        raise ValueError(_missing_argument_message(key, parts, failures))
    if marker.name is not None:
        # A marker with its own name is one dimension shared by every match.
        shared = with_base_default(
            marker, marker.name, [value for *_, value in reached]
        )
        return [
            ArgumentTarget(key, layer, location, shared)
            for layer, location, _ in reached
        ]
    return [
        ArgumentTarget(
            key,
            layer,
            location,
            with_base_default(marker, f"{layer.path}.{'.'.join(parts)}", [value]),
        )
        for layer, location, value in reached
    ]


def _missing_argument_message(key: str, parts: list[str], failures: list) -> str:
    layer, depth, value = failures[0]
    if depth == 0:
        by_class = {}
        for failed, *_ in failures:
            by_class.setdefault(failed.class_name, failed)
        listed = "; ".join(
            f"{failed.label()} takes: {', '.join(failed.arguments)}"
            for failed in by_class.values()
        )
        return (
            f"For the key {key!r}, no matched layer has an argument {parts[0]!r}. "
            f"{listed}."
        )
    reached = f"{layer.path}.{'.'.join(parts[:depth])}"
    hint = (
        " Give the layer one in the base model, or tune "
        f"'{reached}' itself (e.g. kh.Choice([...]))."
        if value is None
        else ""
    )
    return (
        f"For the key {key!r}, {reached!r} in the base model is {describe(value)}, "
        f"which has no argument {parts[depth]!r}.{hint}"
    )


def structure_targets(
    key: str, marker: Dimension, layers: list[Layer]
) -> list[StructureTarget]:
    """The targets of `"<glob>.repeat"`, `"<a>+<b>.repeat"` and the same `.include`."""
    blocks_part, word = key.rsplit(".", 1)
    _check_structure_marker(key, word, marker)
    globs = blocks_part.split("+")
    if len(globs) == 1:
        blocks = [[layer] for layer in match(globs[0], layers, key)]
    else:
        blocks = [_block(key, globs, layers)]
    for block in blocks:
        _check_sequential(key, block)
    default = 1 if word == "repeat" else True  # the base model has each layer once
    if marker.name is not None:
        shared = with_base_default(marker, marker.name, [default])
        return [StructureTarget(key, word, block, shared) for block in blocks]
    return [
        StructureTarget(
            key,
            word,
            block,
            with_base_default(
                marker, "+".join(layer.path for layer in block) + f".{word}", [default]
            ),
        )
        for block in blocks
    ]


def _check_structure_marker(key: str, word: str, marker: Dimension) -> None:
    if isinstance(marker, Int):
        values = [marker.low]
    elif isinstance(marker, (Choice, Fixed)):
        values = marker.values()
    else:
        values = [None]
    if word == "repeat":
        ok = all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        )
        accepted = "kh.Int with low >= 0 (e.g. kh.Int(1, 4))"
    else:
        ok = all(isinstance(v, bool) for v in values)
        accepted = "kh.Boolean()"
    if not ok:
        raise TypeError(
            f"For the key {key!r}, expected {accepted}. Received: {marker!r}."
        )


def _block(key: str, globs: list[str], layers: list[Layer]) -> list[Layer]:
    block = []
    for glob in globs:
        matched = match(glob, layers, key)
        if len(matched) != 1:
            raise ValueError(
                f"In the block key {key!r}, each part names one layer, but {glob!r} "
                f"matches {[layer.path for layer in matched]}."
            )
        block.append(matched[0])
    first = block[0].location
    consecutive = all(
        layer.location[:-1] == first[:-1] and layer.location[-1] == first[-1] + i
        for i, layer in enumerate(block)
    )
    if not consecutive:
        raise ValueError(
            f"The block key {key!r} must list consecutive layers of one Sequential "
            f"model, in order. Received: {[layer.path for layer in block]}."
        )
    return block


def _check_sequential(key: str, block: list[Layer]) -> None:
    if block[0].parent_kind != "Sequential":
        raise ValueError(
            f"The key {key!r} changes the structure of a Functional model, which only "
            f"works on the layers of a Sequential model ({block[0].label()} is in a "
            "Functional model). Decorate the function that builds it with "
            "@kh.tunable and write the loop there instead."
        )


def check_no_overlap(targets: list[StructureTarget]) -> None:
    """Raises `ValueError` when one layer is in two structure keys."""
    owner: dict[str, str] = {}
    for target in targets:
        for layer in target.layers:
            if layer.path in owner:
                raise ValueError(
                    f"Layer {layer.path!r} is in two structure keys, "
                    f"{owner[layer.path]!r} and {target.key!r}. Give each layer at "
                    "most one `.repeat` or `.include`."
                )
            owner[layer.path] = target.key


def is_present(
    layer: Layer, counts: dict[StructureTarget, int], targets: list[StructureTarget]
) -> bool:
    """Whether `layer` (and every model around it) is in the trial's model."""
    for target in targets:
        for member in target.layers:
            inside = f"{layer.path}/".startswith(f"{member.path}/")
            if inside and counts[target] == 0:
                return False
    return True


def apply_structure(
    config: dict[str, Any],
    targets: list[StructureTarget],
    counts: dict[StructureTarget, int],
) -> None:
    """Repeats or removes each target's block in `config`, in place."""
    taken = _all_names(config)
    # Deepest lists first, then from the end of each list, so that the locations
    # recorded at construction stay valid while earlier edits change list lengths.
    order = sorted(
        targets,
        key=lambda t: (len(t.layers[0].location), t.layers[0].location[-1]),
        reverse=True,
    )
    for target in order:
        first = target.layers[0].location
        entries, start = get_at(config, first[:-1]), first[-1]
        block = entries[start : start + len(target.layers)]
        copies = list(block) if counts[target] else []
        for repeat in range(2, counts[target] + 1):
            copies += [_renamed(entry, repeat, taken) for entry in block]
        entries[start : start + len(target.layers)] = copies


def _renamed(entry: dict[str, Any], repeat: int, taken: set[str]) -> dict[str, Any]:
    entry = copy.deepcopy(entry)
    name = base = f"{entry['config']['name']}_{repeat}"
    suffix = 2
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(name)
    entry["config"]["name"] = name
    if "name" in entry:
        entry["name"] = name
    return entry


def _all_names(config: Any) -> set[str]:
    names = set()
    if isinstance(config, dict):
        if is_serialized(config) and isinstance(config["config"], dict):
            names.add(config["config"].get("name"))
        for value in config.values():
            names |= _all_names(value)
    elif isinstance(config, list):
        for value in config:
            names |= _all_names(value)
    return names
