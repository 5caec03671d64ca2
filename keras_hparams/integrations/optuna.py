"""Writes a search as an Optuna study, for optuna-dashboard and
`optuna.visualization`.

Needs optuna (`pip install "keras-hparams[optuna]"`, which also installs
optuna-dashboard). Only Optuna's public API is used: `optuna.create_study`,
`optuna.trial.create_trial` and `Study.add_trial`.

How our records map to Optuna's:

| keras-hparams | Optuna |
| --- | --- |
| Int, Float (step, log) | IntDistribution, FloatDistribution |
| Choice, Boolean, Fixed | CategoricalDistribution (every choice) |
| completed | COMPLETE, value = score |
| pruned, timed out | PRUNED, value = score so far |
| failed, interrupted | FAIL |
| running | RUNNING |
| the objective at each epoch | intermediate values, step = 0-based epoch |
| id, status, best epoch, epochs trained, error, other metrics | user attrs |

A trial that did not use a conditional hyperparameter has no such param, as in an
Optuna study with conditional search spaces. Optuna numbers trials from 0 in the
order they are added: trial `id` becomes number `id - 1` in a complete search.
"""

from __future__ import annotations

import datetime
import json
import math
import warnings
from typing import Any

from keras_hparams.space import Choice, Dimension, Fixed, Int, SearchSpace
from keras_hparams.trial import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    PRUNED,
    RUNNING,
    TIMED_OUT,
    Trial,
)

_STATES = {
    COMPLETED: "COMPLETE",
    PRUNED: "PRUNED",
    TIMED_OUT: "PRUNED",
    FAILED: "FAIL",
    INTERRUPTED: "FAIL",
    RUNNING: "RUNNING",
}
_CATEGORY_TYPES = (type(None), bool, int, float, str)


def to_optuna(search: Any, storage: Any, study_name: str | None = None) -> Any:
    """Writes every trial of `search` into a new Optuna study in `storage`.

    Args:
        search: a `SearchResults` (a `kh.Tuner`, or a search opened by `kh.load`).
        storage: an Optuna storage URL such as `"sqlite:///optuna.db"`, or an
            Optuna storage object.
        study_name: str, the new study's name. Defaults to `None`: the project
            folder's name.

    Returns:
        The `optuna.Study`.

    Raises:
        ImportError: optuna is not installed.
        ValueError: a study of that name already exists in `storage`.

    Example:

    ```python
    from keras_hparams.integrations import to_optuna

    study = to_optuna(kh.load("hparams/digits"), "sqlite:///optuna.db")
    # then, in a shell: optuna-dashboard sqlite:///optuna.db
    ```
    """
    optuna = _optuna()
    study_name = study_name or search.project_directory.name
    direction = "minimize" if search.objective.direction == "min" else "maximize"
    try:
        study = optuna.create_study(
            storage=storage, study_name=study_name, direction=direction
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise ValueError(
            f"to_optuna: a study named {study_name!r} already exists in {storage!r}. "
            "Pass another study_name, or delete it first with "
            f"optuna.delete_study(study_name={study_name!r}, storage=...)."
        ) from None
    with warnings.catch_warnings():  # experimental in Optuna 5, shown by the dashboard
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([search.objective.name])
    study.set_user_attr("keras_hparams_project", str(search.project_directory))
    trials = sorted(search.trials, key=lambda t: t.id)
    distributions = _distributions(search.space, trials)
    for trial in trials:
        study.add_trial(_frozen_trial(optuna, trial, distributions, search.objective))
    return study


def distribution(dimension: Dimension) -> Any:
    """The Optuna distribution of one of our dimensions (every value it allows)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(dimension, Fixed):
        return CategoricalDistribution([_category(dimension.value)])
    if isinstance(dimension, Choice):
        return CategoricalDistribution([_category(v) for v in dimension.choices])
    high = dimension.high
    if dimension.step is not None:  # the last grid point, so Optuna does not warn
        high = dimension.from_index(int(dimension.cardinality()) - 1)
    if isinstance(dimension, Int):
        step = 1 if dimension.step is None else int(dimension.step)
        return IntDistribution(dimension.low, high, log=dimension.log, step=step)
    return FloatDistribution(
        dimension.low, high, log=dimension.log, step=dimension.step
    )


def _distributions(space: SearchSpace, trials: list[Trial]) -> dict[str, Any]:
    """A distribution per name: the space's, else the values the trials used."""
    from optuna.distributions import CategoricalDistribution

    found = {d.name: distribution(d) for d in space}
    seen: dict[str, dict] = {}
    for trial in trials:
        for name, value in trial.params.items():
            if name not in found:
                seen.setdefault(name, {})[repr(_category(value))] = _category(value)
    for name, values in seen.items():
        found[name] = CategoricalDistribution(list(values.values()))
    return found


def _frozen_trial(optuna: Any, trial: Trial, distributions: dict, objective) -> Any:
    states = optuna.trial.TrialState
    state = getattr(states, _STATES.get(trial.status, "FAIL"))
    value = None
    if state in (states.COMPLETE, states.PRUNED) and _finite(trial.score):
        value = float(trial.score)
    if state == states.COMPLETE and value is None:
        state = states.FAIL  # Optuna's COMPLETE needs a finite value
    params = {
        name: _param(distributions[name], value) for name, value in trial.params.items()
    }
    frozen = optuna.trial.create_trial(
        state=state,
        value=value,
        params=params,
        distributions={name: distributions[name] for name in params},
        user_attrs=_user_attrs(trial, objective),
        intermediate_values=_intermediate_values(trial, objective),
    )
    if trial.started is not None:
        frozen.datetime_start = datetime.datetime.fromtimestamp(trial.started)
    if state.is_finished() and trial.ended is not None:
        frozen.datetime_complete = datetime.datetime.fromtimestamp(trial.ended)
    return frozen


def _param(distribution: Any, value: Any) -> Any:
    """`value` as `distribution` holds it."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return _category(value)
    if isinstance(distribution, IntDistribution):
        return int(value)
    return float(value)


def _category(value: Any) -> Any:
    """A value Optuna accepts as a category: None, bool, int, float or str."""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return value if isinstance(value, _CATEGORY_TYPES) else str(value)


def _intermediate_values(trial: Trial, objective) -> dict[int, float]:
    return {
        epoch: float(logs[objective.name])
        for epoch, logs in enumerate(trial.history)
        if _finite(logs.get(objective.name))
    }


def _user_attrs(trial: Trial, objective) -> dict[str, Any]:
    """What Optuna has no field for, as JSON-safe values."""
    best = {}
    if trial.best_epoch is not None and trial.best_epoch < len(trial.history):
        best = trial.history[trial.best_epoch]
    attrs = {
        "keras_hparams_trial_id": trial.id,
        "keras_hparams_status": trial.status,
        "best_epoch": trial.best_epoch,
        "epochs_trained": len(trial.history),
        "error": trial.error,
        "metrics_at_best_epoch": {
            k: v for k, v in best.items() if k != objective.name and _finite(v)
        },
        "extra": trial.extra,
    }
    return _json_safe(json.loads(json.dumps(attrs, default=str)))


def _json_safe(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ImportError(
            'to_optuna needs optuna: pip install "keras-hparams[optuna]"'
        ) from None
    return optuna
