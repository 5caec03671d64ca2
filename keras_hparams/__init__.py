"""keras-hparams: tune the hyperparameters of Keras code you already have."""

from keras_hparams import algorithms, pruners
from keras_hparams.errors import (
    FailedTrialError,
    FatalError,
    ObjectiveNotFoundError,
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
from keras_hparams.tuner import Tuner
from keras_hparams.wrapper import TunableModel

__version__ = "0.1.0"

__all__ = [
    "Boolean",
    "Choice",
    "Dimension",
    "FailedTrialError",
    "FatalError",
    "Fixed",
    "Float",
    "Int",
    "LoadedSearch",
    "Objective",
    "ObjectiveNotFoundError",
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
