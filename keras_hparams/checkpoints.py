"""Files of a trial, in `<project>/trials/trial_NNNN/`: the one place that names them.

`model.keras`: the best epoch's model, kept for the best few trials only (its
weights alone, marked so, where Keras cannot save the model whole).
`progress.json` and `progress-*`: a running trial's last saved state, deleted when
the trial ends (kept while a multi-fidelity search may still promote it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from keras_hparams.errors import DamagedFileError

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.keras"
PROGRESS_FILE = "progress.json"
TRIALS_FOLDER = "trials"
# The key in a trial's `extra` saying why a trial that ranks among the best has no
# model file (the disk was full, the model could not be saved): its score stands.
NO_FILE = "no_checkpoint"
# The class name in the config of a model file that holds the weights alone.
WEIGHTS_ONLY = "keras_hparams.WeightsOnly"


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
    with _removed_on_failure(temporary):
        write_model(model, temporary)
    os.replace(temporary, target)
    return target


def write_model(model: keras.Model, target: Path) -> None:
    """`model.save(target)`; for a model Keras cannot save whole (a subclassed model
    whose constructor takes objects and that has no `get_config`), its weights
    alone, in a `.keras` archive whose config says so (see `load_model`)."""
    try:
        model.save(target)
    except NotImplementedError as error:  # Keras: "must override get_config()"
        try:
            _write_weights_only(model, target, error)
        except Exception:  # noqa: BLE001 - not even its weights: the first error
            raise error from None


def _write_weights_only(model: keras.Model, target: Path, error: Exception) -> None:
    import tempfile

    import keras

    reason = " ".join(str(error).split())[:300]
    config = {
        "module": None,
        "class_name": WEIGHTS_ONLY,
        "config": {"model": type(model).__name__, "reason": reason},
        "build_config": model.get_build_config() if model.built else None,
    }
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "model.weights.h5"
        model.save_weights(weights)
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr(
                "metadata.json", json.dumps({"keras_version": keras.__version__})
            )
            archive.writestr("config.json", json.dumps(config))
            archive.write(weights, "model.weights.h5")


@contextlib.contextmanager
def _removed_on_failure(temporary: Path) -> Iterator[None]:
    """Deletes a half-written file (a full disk) before the error goes on."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise


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
            write_model(model, path)
            return cls(path.read_bytes())

    def write(self, project: Path, trial_id: int) -> Path:
        return save_bytes(self.data, project, trial_id)


def save_bytes(data: bytes, project: Path, trial_id: int) -> Path:
    """Writes a model file made elsewhere (a worker's) as `save` would."""
    target = path(project, trial_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name("partial-" + MODEL_FILE)
    with _removed_on_failure(temporary), open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target


def load_model(
    checkpoint: Path,
    trial_id: int,
    *,
    custom_objects: dict[str, Any] | None = None,
    rebuild: Callable[[], keras.Model] | None = None,
) -> keras.Model:
    """The model saved in a trial's checkpoint, as `keras.models.load_model` reads it.

    Where the file is whole but cannot be loaded as a model (a custom layer Keras
    cannot find, a `Lambda` that safe mode refuses), `rebuild()` makes the model
    from the builder as it is now and the checkpoint's weights are loaded into it,
    with a warning: it is the trial's model only if the builder did not change.

    Raises:
        DamagedFileError: the file is not a whole `.keras` archive.
        ValueError: it cannot be loaded, and there is no `rebuild`.
    """
    import keras

    check_model_file(checkpoint, trial_id)
    config = _config(checkpoint)
    weights_only = config.get("class_name") == WEIGHTS_ONLY
    if weights_only and rebuild is None:
        raise ValueError(
            f"The checkpoint {checkpoint} of trial {trial_id} holds the model's "
            "weights alone: Keras could not save the model whole "
            f"({config['config'].get('reason', '')}). Its builder "
            "rebuilds it: make a kh.Tuner with the same builder, directory and "
            "project_name and call its best_model()."
        )
    if weights_only:
        return _rebuilt(rebuild, checkpoint)
    try:
        return keras.models.load_model(checkpoint, custom_objects=custom_objects)
    except Exception as error:  # noqa: BLE001 - any refusal by Keras, reported
        reason = f"{type(error).__name__}: {str(error)[:500]}"
        if rebuild is None:
            raise ValueError(
                f"The checkpoint {checkpoint} of trial {trial_id} is whole, but Keras "
                f"could not load it: {reason}. Pass the custom layers, losses... it "
                "needs as kh.load(..., custom_objects={...})."
            ) from error
    warnings.warn(
        f"The checkpoint {checkpoint} of trial {trial_id} could not be loaded as a "
        f"model ({reason}), so the model was rebuilt from the builder as it is now "
        "and the checkpoint's weights loaded into it: it is the trial's model only "
        "if the builder did not change since the search. Register custom objects "
        "(keras.saving.register_keras_serializable) to load the saved model itself.",
        stacklevel=3,
    )
    return _rebuilt(rebuild, checkpoint)


def _rebuilt(rebuild: Callable[[], keras.Model], checkpoint: Path) -> keras.Model:
    """`rebuild()`'s model with the checkpoint's weights (and optimizer state)."""
    model = rebuild()
    load_weights(model, checkpoint)
    return model


def load_weights(model: keras.Model, checkpoint: Path) -> None:
    """Loads a model file's weights into `model`, building it first where it was
    made without an `Input` (a subclassed model), and its optimizer."""
    if not model.built:
        build_as_saved(model, checkpoint)
    if model.optimizer is not None:  # the file holds its state: build it to load
        model.optimizer.build(model.trainable_variables)
    model.load_weights(checkpoint)


def _config(checkpoint: Path) -> dict[str, Any]:
    with zipfile.ZipFile(checkpoint) as archive:
        return json.loads(archive.read("config.json"))


def build_as_saved(model: keras.Model, checkpoint: Path) -> None:
    """Builds `model` for the input shape its saved file records (its
    `build_config`), so that the saved weights can be loaded into it: by calling it
    on zeros of that shape where it is one array (Keras's own advice), else as
    `keras.models.load_model` would."""
    build_config = _config(checkpoint).get("build_config") or {}
    shape = build_config.get("input_shape")
    if isinstance(shape, list) and all(d is None or isinstance(d, int) for d in shape):
        model(np.zeros([1 if d is None else d for d in shape], dtype="float32"))
    elif build_config:
        model.build_from_config(build_config)


def check_model_file(checkpoint: Path, trial_id: int) -> None:
    """Raises `DamagedFileError` unless `checkpoint` is a whole `.keras` archive."""
    try:
        with zipfile.ZipFile(checkpoint) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        bad, names = f"{type(error).__name__}: {error}", set()
    else:
        bad = None if bad is None else f"its member {bad} is corrupt"
    if bad is None and not {"config.json", "model.weights.h5"} <= names:
        bad = f"it holds {sorted(names)}, not a model's config and weights"
    if bad is not None:
        raise DamagedFileError(
            f"The checkpoint {checkpoint} of trial {trial_id} is damaged ({bad}): it "
            "is not a whole .keras file (a copy that did not finish, a full disk?). "
            "The trial's score and values are kept in the trial database. Restore the "
            "file from a backup, or delete it and retrain the best values with "
            "export(path, x, y, retrain=True)."
        )


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
    write_model(model, folder / model_file)
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
