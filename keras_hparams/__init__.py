"""keras-hparams: tune the hyperparameters of Keras code you already have.

Importing the package costs only what is used: the markers, errors, results readers
and `tunable` load at once (numpy and the standard library); `Tuner`, `TunableModel`,
`HyperParameters`, `algorithms` and `pruners` load Keras (and TensorFlow) when first
used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keras_hparams.choosing import Best
from keras_hparams.constraints import Constraint
from keras_hparams.errors import (
    BuildError,
    DamagedFileError,
    FailedTrialError,
    FatalError,
    MarkerOutsideBuildError,
    NoCompletedTrialError,
    ObjectiveNotFoundError,
    SchedulerLostError,
    SearchLockedError,
    SearchSpaceMismatchError,
    TooManyFailuresError,
    UnsupportedSpaceError,
)
from keras_hparams.loaded import LoadedSearch, load
from keras_hparams.objective import Objective
from keras_hparams.results import SearchResults
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
from keras_hparams.trial_callbacks import TrialCallback
from keras_hparams.tunable import TunableFunction, tunable

if TYPE_CHECKING:
    from keras_hparams import algorithms, integrations, pruners
    from keras_hparams.hyperparameters import HyperParameters
    from keras_hparams.tuner import Tuner
    from keras_hparams.wrapper import TunableModel

__version__ = "0.1.0"

# Public names whose modules import Keras: loaded when first used.
_LAZY = {
    "Tuner": ("keras_hparams.tuner", "Tuner"),
    "TunableModel": ("keras_hparams.wrapper", "TunableModel"),
    "HyperParameters": ("keras_hparams.hyperparameters", "HyperParameters"),
    "algorithms": ("keras_hparams.algorithms", None),
    "integrations": ("keras_hparams.integrations", None),
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
    "Best",
    "Boolean",
    "BuildError",
    "Choice",
    "Constraint",
    "DamagedFileError",
    "Dimension",
    "FailedTrialError",
    "FatalError",
    "Fixed",
    "Float",
    "HyperParameters",
    "Int",
    "LoadedSearch",
    "MarkerOutsideBuildError",
    "NoCompletedTrialError",
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
    "TrialCallback",
    "TunableFunction",
    "TunableModel",
    "Tuner",
    "algorithms",
    "integrations",
    "load",
    "pruners",
    "tunable",
]
