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


class BuildError(FatalError, ValueError):
    """The model's code makes the same mistake in every build.

    A marker without a name inside a build, one name defined two ways, a builder
    that returns no compiled model: every trial would fail the same way, so the
    search stops at the first one.
    """


class MarkerOutsideBuildError(BuildError, TypeError):
    """A marker's description was used as a value.

    A marker gives a trial's value only when it is called during a build; one made
    outside the build function (at module level, say) stays a description, which
    refuses to act as a number. Also a `TypeError`, as Python raises for a wrong
    operand.
    """


class ObjectiveNotFoundError(FatalError, ValueError):
    """The objective names a metric the model does not report."""


class SearchSpaceMismatchError(FatalError, ValueError):
    """The project directory holds a search made with different settings."""


class TooManyFailuresError(FatalError, RuntimeError):
    """`max_consecutive_failures` trials in a row failed."""


class NoCompletedTrialError(FatalError, RuntimeError):
    """A search ended without completing any trial; the message quotes why."""


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
