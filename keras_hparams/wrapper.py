"""`kh.TunableModel`: tune an existing compiled model from the outside.

The base model is read once, through its config. Each trial copies that config,
writes the trial's values where the keys point, rebuilds a fresh model with
`from_config` (fresh weights) and compiles it with the base model's compile config,
the optimizer changed as the optimizer keys say.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import keras

from keras_hparams import _wrapper_layers as layers_lib
from keras_hparams._wrapper_optimizer import OptimizerKeys
from keras_hparams._wrapper_values import set_at
from keras_hparams.errors import FailedTrialError
from keras_hparams.space import Dimension, SearchSpace
from keras_hparams.space import from_config as dimension_from_config
from keras_hparams.tunable import BuildContext

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class TunableModel:
    """An existing compiled model whose layer arguments and optimizer a search tunes.

    Keys name what to tune; each maps to a marker (`kh.Int`, `kh.Float`,
    `kh.Choice`, `kh.Boolean`, `kh.Fixed`), given without a name unless one
    dimension should be shared:

    - `"<layer glob>.<argument>"`: any argument in the layer's config, nested ones
      through dots (`"dense*.kernel_regularizer.l2"`). One dimension per matched
      layer that has the argument, named `"<layer>.<argument>"`.
    - `"<layer glob>.repeat"`, `"<layer>+<layer>.repeat"`: how many times a layer or
      a block of consecutive layers of a Sequential model appears (`kh.Int`).
    - `"<layer glob>.include"`: whether the layer (or block) is kept (`kh.Boolean`).
    - `"optimizer"`, `"optimizer.<argument>"`: the optimizer by name and its
      arguments; an argument the trial's optimizer does not take is inactive.
    - `"optimizer.learning_rate"`, `"optimizer.learning_rate.schedule"`,
      `"optimizer.learning_rate.<argument>"`: the rate (a schedule's initial rate),
      constant or which schedule, and the schedule's arguments.

    A dimension whose marker keeps its implicit default takes the base model's value
    as its default, so `build()` reproduces the base model. The base model is never
    modified.

    Layer names. Keys and dimension names use the layers' names, except for the
    names Keras made itself: a layer created without a name is named after its class
    and numbered across the session (`dense`, `dense_1`, and `dense_2`, `dense_3`
    when the same script runs again in one process). Such a layer is named by its
    position among the model's Keras-named layers of its class, as a fresh session
    names them: `dense`, `dense_1`, ..., so that a rerun or a resumed search finds
    the same dimensions. A name counts as Keras's when it has that form (the class
    in snake_case, alone or with `_<number>`) and Keras has made that many names
    for the class in this session; names you gave are kept, and a class keeps its
    names when renumbering would give one layer another's name (`dense_1` and
    `dense_2` given by hand). An error for a key that matches no layer lists the
    names in use.

    Args:
        model: a compiled Sequential or Functional `keras.Model` (nested models
            included).
        space: dict, keys as above mapped to markers.

    Raises:
        TypeError: `model` is not a Sequential or Functional model, or a key or
            marker has the wrong type.
        ValueError: `model` is not compiled, a key matches no layer, or names an
            argument, optimizer or schedule that does not exist.

    Example:

    ```python
    base = make_my_model()  # compiled; not edited
    tunable = kh.TunableModel(base, {
        "dense*.units": kh.Int(32, 256, step=32),
        "dropout*.rate": kh.Float(0.0, 0.5),
        "dense_1.repeat": kh.Int(1, 3),
        "optimizer.learning_rate": kh.Float(1e-4, 1e-2, log=True),
    })
    model = tunable.build({"dense_1.units": 64})
    tuner = kh.Tuner(tunable, objective="val_accuracy", max_trials=20)
    ```
    """

    def __init__(self, model: keras.Model, space: dict[str, Dimension]) -> None:
        self._set_up(model, space)

    def _set_up(
        self,
        model: keras.Model,
        space: dict[str, Dimension],
        layer_names: list[str] | None = None,
    ) -> None:
        self._layer_names = layer_names
        self._model_config = _model_config(model)
        self._compile_config = _compile_config(model)
        self._model_class = type(model)
        self._custom_objects = _custom_objects(model)
        self.model = model
        self._keys = _checked_keys(space)
        dimensions = self._add_layer_keys(
            model, {k: m for k, m in self._keys.items() if not _is_optimizer_key(k)}
        )
        self._optimizer = OptimizerKeys(
            self._compile_config["optimizer"],
            {k: m for k, m in self._keys.items() if _is_optimizer_key(k)},
        )
        dimensions.update({k: [d] for k, d in self._optimizer.dimensions.items()})
        # A named marker shared by several layers is one dimension: add() ignores
        # its repeats.
        self._space = SearchSpace([d for key in self._keys for d in dimensions[key]])

    def _add_layer_keys(
        self, model: keras.Model, keys: dict[str, Dimension]
    ) -> dict[str, list[Dimension]]:
        """Matches the layer keys; returns the dimensions each key makes."""
        kind = "Sequential" if isinstance(model, keras.Sequential) else "Functional"
        layers = layers_lib.index_layers(self._model_config, kind, self._layer_names)
        self._layer_names = [layer.name for layer in layers]
        self._arguments: list[layers_lib.ArgumentTarget] = []
        self._structure: list[layers_lib.StructureTarget] = []
        dimensions: dict[str, list[Dimension]] = {}
        for key, marker in keys.items():
            if key.rpartition(".")[2] in layers_lib.STRUCTURE_WORDS:
                found = layers_lib.structure_targets(key, marker, layers)
                self._structure += found
            else:
                found = layers_lib.argument_targets(key, marker, layers)
                self._arguments += found
            dimensions[key] = [target.dimension for target in found]
        _check_no_double_targets(self._arguments)
        layers_lib.check_no_overlap(self._structure)
        return dimensions

    @property
    def space(self) -> SearchSpace:
        """Every dimension the keys define, in the order of the keys."""
        return self._space

    def build(self, params: dict[str, Any] | None = None) -> keras.Model:
        """Builds a fresh compiled model for `params`; defaults for the rest.

        Args:
            params: dict, values by dimension name. Defaults to `None` (all defaults,
                which reproduce the base model where the markers allow).

        Returns:
            A new compiled `keras.Model` with fresh weights.

        Raises:
            ValueError: a value outside its dimension, or a name this build does not
                use (unknown, or inactive for these values).
            FailedTrialError: Keras rejected the model built for these values.
        """
        params = dict(params or {})
        unknown = sorted(name for name in params if name not in self._space)
        if unknown:
            raise ValueError(
                f"TunableModel.build() was given values for {unknown}, which are not "
                f"dimensions of this TunableModel. Its dimensions: {self._space.names}."
            )
        context = BuildContext(self._space, params)
        model = self.build_in(context)
        inactive = sorted(set(params) - set(context.active))
        if inactive:
            raise ValueError(
                f"TunableModel.build() was given values for {inactive}, which are "
                "inactive for these values (a layer left out, or an argument the "
                f"chosen optimizer or schedule does not take). The names this build "
                f"used: {sorted(context.active)}."
            )
        return model

    def build_in(self, context: BuildContext) -> keras.Model:
        """Builds the trial's model, with `context` giving each dimension its value."""
        counts = {
            target: target.count(context.resolve(target.dimension))
            for target in self._structure
        }
        config = copy.deepcopy(self._model_config)
        for target in self._arguments:
            if layers_lib.is_present(target.layer, counts, self._structure):
                set_at(config, target.location, context.resolve(target.dimension))
        layers_lib.apply_structure(config, self._structure, counts)
        _drop_build_configs(config)
        compile_config = dict(
            self._compile_config, optimizer=self._optimizer.resolve(context)
        )
        try:
            with keras.saving.custom_object_scope(self._custom_objects):
                model = self._model_class.from_config(config)
                model.compile_from_config(compile_config)
        except Exception as error:
            raise FailedTrialError(
                f"Keras rejected the model built for this trial "
                f"({_trial_values(context)}): {_root_message(error)}"
            ) from error
        return model

    def get_config(self) -> dict[str, Any]:
        """The base model (with its compile config) and the keys, serialized."""
        return {
            "model": keras.saving.serialize_keras_object(self.model),
            "space": {key: marker.get_config() for key, marker in self._keys.items()},
            # The names the keys saw: a restored model's layers carry the names
            # Keras made as if given by hand.
            "layer_names": list(self._layer_names),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TunableModel:
        model = keras.saving.deserialize_keras_object(config["model"])
        space = {key: dimension_from_config(c) for key, c in config["space"].items()}
        tunable = cls.__new__(cls)
        tunable._set_up(model, space, config.get("layer_names"))
        return tunable

    def __repr__(self) -> str:
        return (
            f"<TunableModel of {self.model.name!r} with {len(self._space)} dimensions>"
        )


def _model_config(model: Any) -> dict[str, Any]:
    if not isinstance(model, keras.Model):
        raise TypeError(
            "TunableModel expects a compiled keras.Model (Sequential or Functional). "
            f"Received: model={model!r} of type {type(model).__name__}."
        )
    advice = (
        "Decorate the function that creates the model with @kh.tunable and "
        "put markers where its values are set instead."
    )
    try:
        config = model.get_config()
    except NotImplementedError as error:
        reason = " ".join(str(error).split("Example:")[0].split())
        raise TypeError(
            f"TunableModel rebuilds a model from its config, and model {model.name!r} "
            f"has a layer without one ({reason}) {advice}"
        ) from error
    if not isinstance(config.get("layers"), list):
        raise TypeError(
            f"Model {model.name!r} is a subclassed keras.Model "
            f"({type(model).__name__}), whose layers have no config that TunableModel "
            f"could rebuild it from. {advice}"
        )
    return copy.deepcopy(config)


def _compile_config(model: keras.Model) -> dict[str, Any]:
    config = model.get_compile_config()
    if not config or config.get("optimizer") is None:
        raise ValueError(
            f"TunableModel expects a compiled model, and model {model.name!r} is not "
            "compiled. Call model.compile(optimizer=..., loss=..., metrics=...) first: "
            "each trial's model is compiled the same way."
        )
    return copy.deepcopy(config)


def _custom_objects(model: keras.Model) -> dict[str, type]:
    """The classes in `model`, so that unregistered custom layers rebuild too."""
    found = {type(model).__name__: type(model)}
    for layer in model.layers:
        found[type(layer).__name__] = type(layer)
        if isinstance(layer, keras.Model):
            found.update(_custom_objects(layer))
    return found


def _checked_keys(space: Any) -> dict[str, Dimension]:
    if not isinstance(space, dict):
        raise TypeError(
            "TunableModel expects space as a dict of keys to markers, e.g. "
            "{'dense*.units': kh.Int(32, 256)}. "
            f"Received: space={space!r} of type {type(space).__name__}."
        )
    for key, marker in space.items():
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"Each key of space must be a non-empty str. Received: {key!r}."
            )
        parts = key.split(".")
        if "" in parts or (len(parts) == 1 and key != "optimizer"):
            raise ValueError(
                f"The key {key!r} is not of the form '<layer glob>.<argument>', "
                "'<layer glob>.repeat', '<layer glob>.include', 'optimizer' or "
                "'optimizer.<argument>'."
            )
        if not isinstance(marker, Dimension):
            raise TypeError(
                f"For the key {key!r}, expected a marker such as kh.Int(32, 256), "
                f"kh.Choice([...]) or kh.Fixed(value). Received: {marker!r}."
            )
    return dict(space)


def _is_optimizer_key(key: str) -> bool:
    return key == "optimizer" or key.startswith("optimizer.")


def _check_no_double_targets(targets: list[layers_lib.ArgumentTarget]) -> None:
    seen: dict[tuple, str] = {}
    for target in targets:
        if target.location in seen and seen[target.location] != target.key:
            raise ValueError(
                f"The keys {seen[target.location]!r} and {target.key!r} both tune "
                f"{target.dimension.name!r}. Keep one of them, or narrow a glob."
            )
        seen[target.location] = target.key


def _drop_build_configs(config: Any) -> None:
    # Each layer's build_config holds the input shape it saw in the base model; a
    # trial that changes a shape (units, filters, repeats) must let layers rebuild.
    if isinstance(config, dict):
        config.pop("build_config", None)
        config.pop("compile_config", None)
        for value in config.values():
            _drop_build_configs(value)
    elif isinstance(config, list):
        for value in config:
            _drop_build_configs(value)


def _root_message(error: BaseException) -> str:
    """The message of the error Keras wrapped last: the layer's own words."""
    while True:
        inner = error.__cause__ or (
            None if error.__suppress_context__ else error.__context__
        )
        if inner is None:
            return f"{type(error).__name__}: {_ANSI.sub('', str(error)).strip()}"
        error = inner


def _trial_values(context: BuildContext) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in context.active.items())
