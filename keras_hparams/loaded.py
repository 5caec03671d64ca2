"""A search reopened from its project folder, without the code that built its
models: `kh.load` and the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_hparams import checkpoints
from keras_hparams.objective import Objective
from keras_hparams.objectives import Objectives
from keras_hparams.results import SearchResults
from keras_hparams.space import SearchSpace
from keras_hparams.storage import DATABASE_NAME, Meta, TrialStore

if TYPE_CHECKING:  # imported where used: reading results needs no TensorFlow
    import keras


class LoadedSearch(SearchResults):
    """A search opened read-only from its project folder (see `kh.load`).

    It reads the trial database without taking the search's lock and opens it
    read-only (SQLite's `mode=ro`; `immutable` on a read-only disk), so it works
    while another process is still searching, and on a folder it cannot write:
    each access to `trials` reads the rows as they are now. It cannot search, and
    it exports the best trial's checkpoint. Close it with `close()`, or use it as a
    context manager.

    Args:
        project_directory: str or path, the folder that holds `trials.db`.
        custom_objects: dict, custom layers, losses, ... that the checkpoints need,
            as for `keras.models.load_model`. Defaults to `None`.

    Example:

    ```python
    search = kh.load("hparams", "digits")
    search.summary()
    model = search.best_model()
    ```
    """

    def __init__(
        self,
        project_directory: str | os.PathLike,
        *,
        custom_objects: dict[str, Any] | None = None,
    ) -> None:
        self.project_directory = Path(project_directory)
        if not (self.project_directory / DATABASE_NAME).is_file():
            raise FileNotFoundError(
                f"No search in {self.project_directory}: expected its trial database "
                f"{self.project_directory / DATABASE_NAME}."
            )
        self.custom_objects = custom_objects
        self._store = TrialStore(self.project_directory, read_only=True)
        objective = self._store.get_meta(Meta.OBJECTIVE)
        if objective is None:
            self._store.close()
            raise ValueError(
                f"{self.project_directory / DATABASE_NAME} holds no search: it has "
                "no objective. Expected a folder written by kh.Tuner."
            )
        self.objective = Objective.from_config(objective)
        stored = self._store.get_meta(Meta.OBJECTIVES)
        self.objectives = (
            Objectives.from_config(stored) if stored else Objectives([self.objective])
        )

    @property
    def space(self) -> SearchSpace:
        """The search space as stored now (a running search may still extend it)."""
        return SearchSpace.from_config(self._store.get_meta(Meta.SPACE) or [])

    def best_model(self, *, choose: Any = None) -> keras.Model:
        """The best trial's model with the weights of its best epoch, compiled.

        Args:
            choose: a trial id, a `kh.Trial` or a `kh.Best` rule: that trial's
                model instead. Defaults to `None`.
        """
        trial, checkpoint = self._best_checkpoint(choose)
        return checkpoints.load_model(
            checkpoint, trial.id, custom_objects=self.custom_objects
        )

    def close(self) -> None:
        """Closes the database connection."""
        self._store.close()

    def __enter__(self) -> LoadedSearch:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def find_project(directory: str | os.PathLike, project_name: str | None = None) -> Path:
    """The project folder (the one holding `trials.db`) that `directory` names.

    Args:
        directory: the project folder itself, or a folder of projects.
        project_name: str, the project inside `directory`. Defaults to `None`:
            `directory` itself if it holds a search, else its only project.

    Raises:
        FileNotFoundError: no search there.
        ValueError: `directory` holds several projects and no `project_name`.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"No search at {directory}: the folder does not exist. Expected a project "
            f"folder holding {DATABASE_NAME}, or the folder of projects that holds it."
        )
    if project_name is not None:
        project = directory / project_name
        if not (project / DATABASE_NAME).is_file():
            raise FileNotFoundError(
                f"No search named {project_name!r} in {directory}: expected "
                f"{project / DATABASE_NAME}. Projects found there: "
                f"{_projects(directory) or 'none'}."
            )
        return project
    if (directory / DATABASE_NAME).is_file():
        return directory
    found = _projects(directory)
    if len(found) == 1:
        return directory / found[0]
    if not found:
        raise FileNotFoundError(
            f"No search in {directory}: expected {DATABASE_NAME} in it (a project "
            "folder) or in one of its subfolders (a folder of projects)."
        )
    raise ValueError(
        f"{directory} holds {len(found)} searches: {found}. Name one: "
        f"{directory / found[0]}, or project_name={found[0]!r}."
    )


def load(
    directory: str | os.PathLike,
    project_name: str | None = None,
    *,
    custom_objects: dict[str, Any] | None = None,
) -> LoadedSearch:
    """Opens a search, finished or still running, to read its results.

    Needs no builder code: trials, best values, `results()`, `summary()`, `plot()`
    and `export()` of the best checkpoint all work. It never takes the search's
    lock, so a search running in another process goes on undisturbed.

    Args:
        directory: str or path, the `directory` given to `kh.Tuner`, or the
            project folder itself (the one holding `trials.db`).
        project_name: str, the `project_name` given to `kh.Tuner`. Defaults to
            `None`: `directory` is the project folder, or holds only one project.
        custom_objects: dict, custom objects the checkpoints need to load, as for
            `keras.models.load_model`. Defaults to `None`.

    Returns:
        A read-only `LoadedSearch`.

    Raises:
        FileNotFoundError: no search there.
        ValueError: several projects and no `project_name`.

    Example:

    ```python
    search = kh.load("hparams", "digits")
    print(search.best_params, search.best_score)
    search.export("best.keras")
    ```
    """
    project = find_project(directory, project_name)
    return LoadedSearch(project, custom_objects=custom_objects)


def _projects(directory: Path) -> list[str]:
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.is_dir() and (p / DATABASE_NAME).is_file()
    )
