"""Bridges to other tools, each needing its own optional package.

Nothing here is imported until it is used: `kh.integrations.MLflowCallback` imports
this package's `mlflow` module, which imports mlflow only when the callback is made.

- `MLflowCallback` (`pip install "keras-hparams[mlflow]"`): one MLflow run per trial.
- `to_optuna` (`pip install "keras-hparams[optuna]"`): the search as an Optuna study,
  for optuna-dashboard and `optuna.visualization`.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "MLflowCallback": "keras_hparams.integrations.mlflow",
    "to_optuna": "keras_hparams.integrations.optuna",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
