"""keras-hparams: tune the hyperparameters of Keras code you already have."""

from keras_hparams.errors import (
    FailedTrialError,
    FatalError,
    ObjectiveNotFoundError,
    SearchLockedError,
    SearchSpaceMismatchError,
    TooManyFailuresError,
)
from keras_hparams.objective import Objective
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
    "Objective",
    "ObjectiveNotFoundError",
    "SearchLockedError",
    "SearchSpace",
    "SearchSpaceMismatchError",
    "TooManyFailuresError",
    "Trial",
    "TunableFunction",
    "TunableModel",
    "Tuner",
    "tunable",
]
