"""keras-hparams: tune the hyperparameters of Keras code you already have.

Importing the package costs only what is used: the markers, errors and results
readers and `tunable` load at once (numpy and the standard library); `Tuner`,
`TunableModel`, `algorithms` and `pruners` load Keras (and TensorFlow) on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keras_hparams.errors import (
    DamagedFileError,
    FailedTrialError,
    FatalError,
    ObjectiveNotFoundError,
    SchedulerLostError,
    SearchLockedError,
    SearchSpaceMismatchError,
    TooManyFailuresError,
    UnsupportedSpaceError,
)
from keras_hparams.objective import Objective
from keras_hparams.results import LoadedSearch, SearchResults, load
from keras_hparams.space import (
    Boolean,
    Choice,
    Dimension,
    Fixed,
    Float,
    Int,
    SearchSpace,
)
from keras_hparams.trial import Trial
from keras_hparams.tunable import TunableFunction, tunable

if TYPE_CHECKING:
    from keras_hparams import algorithms, pruners
    from keras_hparams.tuner import Tuner
    from keras_hparams.wrapper import TunableModel

__version__ = "0.1.0"

# Public names whose modules import Keras: loaded when first used.
_LAZY = {
    "Tuner": ("keras_hparams.tuner", "Tuner"),
    "TunableModel": ("keras_hparams.wrapper", "TunableModel"),
    "algorithms": ("keras_hparams.algorithms", None),
    "pruners": ("keras_hparams.pruners", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'keras_hparams' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later uses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Boolean",
    "Choice",
    "DamagedFileError",
    "Dimension",
    "FailedTrialError",
    "FatalError",
    "Fixed",
    "Float",
    "Int",
    "LoadedSearch",
    "Objective",
    "ObjectiveNotFoundError",
    "SchedulerLostError",
    "SearchLockedError",
    "SearchResults",
    "SearchSpace",
    "SearchSpaceMismatchError",
    "TooManyFailuresError",
    "UnsupportedSpaceError",
    "Trial",
    "TunableFunction",
    "TunableModel",
    "Tuner",
    "algorithms",
    "load",
    "pruners",
    "tunable",
]
