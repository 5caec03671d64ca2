"""Best-epoch model files of the best few trials, in `<project>/trials/trial_NNNN/`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import keras

MODEL_FILE = "model.keras"


def trial_directory(project: Path, trial_id: int) -> Path:
    return project / "trials" / f"trial_{trial_id:04d}"


def path(project: Path, trial_id: int) -> Path:
    return trial_directory(project, trial_id) / MODEL_FILE


def save(model: keras.Model, project: Path, trial_id: int) -> Path:
    """Saves `model` for `trial_id`; a kill mid-write leaves no half-written file."""
    target = path(project, trial_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name("partial-" + MODEL_FILE)
    model.save(temporary)
    os.replace(temporary, target)
    return target


def keep_only(project: Path, trial_ids: set[int]) -> None:
    """Deletes the checkpoint folders of every trial not in `trial_ids`."""
    root = project / "trials"
    if not root.is_dir():
        return
    for folder in root.glob("trial_*"):
        suffix = folder.name.removeprefix("trial_")
        if suffix.isdigit() and int(suffix) not in trial_ids:
            shutil.rmtree(folder, ignore_errors=True)
