"""The exceptions keras-hparams raises.

Two families, as in KerasTuner: a `FailedTrialError` ends one trial, which is recorded
as failed while the search goes on; a `FatalError` stops the search. Fatal errors about
the user's input also subclass `ValueError`, so `except ValueError` keeps working.
"""

from __future__ import annotations


class FailedTrialError(Exception):
    """Raised inside a trial to fail it; the search records it and goes on."""


class FatalError(Exception):
    """Stops the search: going on would fail every trial the same way."""


class ObjectiveNotFoundError(FatalError, ValueError):
    """The objective names a metric the model does not report."""


class SearchSpaceMismatchError(FatalError, ValueError):
    """The project directory holds a search made with different settings."""


class TooManyFailuresError(FatalError, RuntimeError):
    """`max_consecutive_failures` trials in a row failed."""


class UnsupportedSpaceError(FatalError, ValueError):
    """The algorithm cannot search this space (a grid over a continuous range)."""


class SearchLockedError(FatalError, RuntimeError):
    """Another process holds the project directory: it searches there, or has a
    `Tuner` open on it."""


class DamagedFileError(FatalError, ValueError):
    """A file of the project (the trial database, a checkpoint) is empty, truncated
    or not what keras-hparams wrote; nothing was changed or deleted."""


class SchedulerLostError(FatalError, RuntimeError):
    """The Dask scheduler could not be reached for longer than the client's
    reconnection timeout; the running trials are recorded as interrupted."""
