"""Files of a trial, in `<project>/trials/trial_NNNN/`: the one place that names them.

`model.keras`: the best epoch's model, kept for the best few trials only.
`progress.json` and `progress-*`: a running trial's last saved state, deleted when
the trial ends (kept while a multi-fidelity search may still promote it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.keras"
PROGRESS_FILE = "progress.json"
TRIALS_FOLDER = "trials"


def trial_folder(trial_id: int) -> str:
    """The name of a trial's folder: `trial_0007` (also its TensorBoard subfolder)."""
    return f"trial_{trial_id:04d}"


def trial_directory(project: Path, trial_id: int) -> Path:
    return project / TRIALS_FOLDER / trial_folder(trial_id)


def is_trial_file(relative: Path) -> bool:
    """Whether a path relative to `<project>/trials/` is one keras-hparams writes."""
    parts = relative.parts
    if not re.fullmatch(r"trial_\d{4,}", parts[0]):
        return False
    if len(parts) == 1:
        return True
    name = parts[1].removeprefix("partial-")
    return len(parts) == 2 and (
        name in (MODEL_FILE, PROGRESS_FILE) or name.startswith("progress-")
    )


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


class BestModel(Protocol):
    """A trial's best-epoch model, to be written if the trial ranks among the best."""

    def write(self, project: Path, trial_id: int) -> Path: ...


@dataclasses.dataclass
class ModelInMemory:
    """The model itself: a trial trained in this process."""

    model: keras.Model

    def write(self, project: Path, trial_id: int) -> Path:
        return save(self.model, project, trial_id)


@dataclasses.dataclass
class ModelBytes:
    """The bytes of a `.keras` file: a trial trained in a worker."""

    data: bytes

    @classmethod
    def of(cls, model: keras.Model) -> ModelBytes:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / MODEL_FILE
            model.save(path)
            return cls(path.read_bytes())

    def write(self, project: Path, trial_id: int) -> Path:
        return save_bytes(self.data, project, trial_id)


def save_bytes(data: bytes, project: Path, trial_id: int) -> Path:
    """Writes a model file made elsewhere (a worker's) as `save` would."""
    target = path(project, trial_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name("partial-" + MODEL_FILE)
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target


def keep_only(project: Path, trial_ids: set[int]) -> None:
    """Deletes the best-epoch model files of every trial not in `trial_ids`.

    A running trial's progress files stay; folders left empty are removed.
    """
    root = project / TRIALS_FOLDER
    if not root.is_dir():
        return
    for folder in root.glob("trial_*"):
        suffix = folder.name.removeprefix("trial_")
        if suffix.isdigit() and int(suffix) not in trial_ids:
            for name in (MODEL_FILE, "partial-" + MODEL_FILE):
                (folder / name).unlink(missing_ok=True)
            if not any(folder.iterdir()):
                folder.rmdir()


# -- progress of a running trial: what a resumed trial continues from ------------

def save_progress(
    model: keras.Model,
    project: Path,
    trial_id: int,
    history: list[dict[str, float]],
    best_epoch: int | None,
    best_weights: list | None,
) -> None:
    """Saves a running trial's state after `len(history)` epochs.

    The model and best weights go to files named by epoch; `progress.json`, written
    last and atomically, names them, so a kill at any point leaves the previous
    consistent state.
    """
    folder = trial_directory(project, trial_id)
    folder.mkdir(parents=True, exist_ok=True)
    epochs = len(history)
    model_file, best_file = f"progress-{epochs}.keras", f"progress-{epochs}-best.npz"
    model.save(folder / model_file)
    if best_weights is not None:
        with open(folder / best_file, "wb") as handle:
            np.savez(handle, *best_weights)
    state = {
        "epochs": epochs,
        "history": history,
        "best_epoch": best_epoch,
        "model": model_file,
        "best": best_file if best_weights is not None else None,
    }
    _write_atomically(folder / PROGRESS_FILE, json.dumps(state))
    for old in folder.glob("progress-*"):
        if old.name not in (model_file, best_file):
            old.unlink(missing_ok=True)


def load_progress(project: Path, trial_id: int) -> dict[str, Any] | None:
    """The saved state of a trial (with `best_weights` loaded), or None."""
    folder = trial_directory(project, trial_id)
    try:
        state = json.loads((folder / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    state["model"] = folder / state["model"]
    if not state["model"].exists():
        return None
    state["best_weights"] = None
    if state["best"]:
        with np.load(folder / state["best"]) as arrays:
            state["best_weights"] = [arrays[f"arr_{i}"] for i in range(len(arrays))]
    return state


def clear_progress(project: Path, trial_id: int) -> None:
    """Deletes a trial's progress files, half-written ones included."""
    folder = trial_directory(project, trial_id)
    for name in (PROGRESS_FILE, "partial-" + PROGRESS_FILE):
        (folder / name).unlink(missing_ok=True)
    for pattern in ("progress-*", "partial-progress-*"):
        for old in folder.glob(pattern):
            old.unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def progress_files(project: Path, trial_id: int) -> dict[str, bytes]:
    """The bytes of a trial's saved state by file name ({} if none), to send to a
    worker that does not share the project's files."""
    folder = trial_directory(project, trial_id)
    state = folder / PROGRESS_FILE
    if not state.exists():
        return {}
    names = [PROGRESS_FILE, *(p.name for p in folder.glob("progress-*"))]
    return {name: (folder / name).read_bytes() for name in names}


def write_progress_files(project: Path, trial_id: int, files: dict[str, bytes]) -> None:
    """Writes a saved state made elsewhere (`progress_files`), `progress.json`
    last, so that a kill leaves the previous state or the whole new one."""
    if not files:
        return
    folder = trial_directory(project, trial_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name != PROGRESS_FILE:
            temporary = folder / ("partial-" + name)
            temporary.write_bytes(data)
            os.replace(temporary, folder / name)
    _write_atomically(folder / PROGRESS_FILE, files[PROGRESS_FILE].decode())
    kept = set(files)
    for old in folder.glob("progress-*"):
        if old.name not in kept:
            old.unlink(missing_ok=True)


def _write_atomically(target: Path, text: str) -> None:
    temporary = target.with_name("partial-" + target.name)
    temporary.write_text(text)
    os.replace(temporary, target)
