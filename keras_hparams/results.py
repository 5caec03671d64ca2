"""Read access to a search's results, shared by `kh.Tuner` and a reopened search.

`SearchResults` derives everything readable (best trial, tables, plots, export) from
`trials` and `best_model()`; `kh.Tuner` and `LoadedSearch` (loaded.py) provide those.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_hparams import checkpoints, choosing, report
from keras_hparams.objective import Objective
from keras_hparams.objectives import Objectives
from keras_hparams.space import SearchSpace
from keras_hparams.storage import TrialStore
from keras_hparams.trial import COMPLETED, Trial

if TYPE_CHECKING:  # imported where used: reading results needs no TensorFlow
    import keras


class SearchResults:
    """The results of the search stored in `project_directory`.

    Subclasses provide `trials` and `best_model()`; everything else derives from them:
    the best trial and values, a table of every trial, a printed summary, plots and
    export.

    Attributes:
        project_directory: Path of the project folder.
        objective: the search's `Objective` (with several, the first).
        objectives: its `Objectives`: every objective and constraint.
        space: the `SearchSpace` found so far.
        builder: what builds the models (`kh.Tuner` sets it), needed to retrain;
            `None` for a search opened with `kh.load`.
        seed: int or None, seeds the retraining of `export(retrain=True)`.

    Example:

    ```python
    search = kh.load("hparams/digits")   # or a kh.Tuner
    search.summary()
    rows = search.results()              # one dict per trial
    search.plot("search.png")
    search.export("best.keras")
    ```
    """

    project_directory: Path
    objective: Objective
    objectives: Objectives
    _choice: Any = None  # what choose() chose: a trial id or a kh.Best rule
    _store: TrialStore  # the project's trial store, opened by the subclass
    space: SearchSpace
    builder: Any = None
    seed: int | None = None

    @property
    def trials(self) -> list[Trial]:
        """Every trial of the project, by id, as stored now."""
        return self._store.trials()

    def _best_checkpoint(self, choose: Any = None) -> tuple[Trial, Path]:
        """The best (or chosen) trial and its best-epoch model file, or
        FileNotFoundError."""
        trial = self._chosen(choose)
        checkpoint = checkpoints.path(self.project_directory, trial.id)
        if not checkpoint.exists() and checkpoints.NO_FILE in trial.extra:
            raise FileNotFoundError(
                f"The best trial ({trial.id}) has no checkpoint: "
                f"{trial.extra[checkpoints.NO_FILE]}. Its score and values are "
                "recorded; export(path, x, y, retrain=True) trains its values again."
            )
        if not checkpoint.exists():
            chosen = choose is not None or self._choice is not None
            which = "chosen" if chosen else "best"
            raise FileNotFoundError(
                f"No checkpoint was kept for the {which} trial ({trial.id}): expected "
                f"{checkpoint}. A search with Tuner(keep_checkpoints=0) keeps none; "
                "rebuild the model with the best values and train it instead."
            )
        return trial, checkpoint

    def best_model(self, *, choose: Any = None) -> keras.Model:
        """The best trial's model with the weights of its best epoch, compiled."""
        raise NotImplementedError

    @property
    def best_trial(self) -> Trial:
        """The completed trial with the best score (the earliest among equals).

        With several objectives, the trial `choose()` chose, or the only one on
        the Pareto front; a `ValueError` that lists the front otherwise.
        """
        return self._chosen(None)

    @property
    def best_params(self) -> dict[str, Any]:
        """The best (or chosen) trial's values, by hyperparameter name."""
        return dict(self.best_trial.params)

    @property
    def best_score(self) -> float:
        """The best trial's score: its best epoch's value of the objective (with
        several objectives, the chosen trial's value of the first one)."""
        return self.best_trial.score

    @property
    def best_trials(self) -> list[Trial]:
        """The Pareto front: the completed trials that no other completed trial
        beats on every objective, best first by the first objective. With one
        objective, the best trial (and any with the same score)."""
        return self.objectives.front(self.trials)

    def choose(self, choice: Any) -> Trial:
        """Chooses the trial that `best_trial`, `best_params`, `best_score`,
        `best_model()` and `export()` read, among several good ones.

        Args:
            choice: a trial id, a `kh.Trial`, a `kh.Best` rule (the best value of
                one objective among the trials that meet some limits, decided
                again at each read), or None to return to the default.

        Returns:
            The chosen trial.

        Example:

        ```python
        tuner.best_trials                 # the Pareto front
        tuner.choose(kh.Best("val_accuracy",
                             where=kh.Constraint("params", at_most=100_000)))
        tuner.export("small.keras")
        ```
        """
        trial = self._chosen(choice)
        self._choice = choice.id if isinstance(choice, Trial) else choice
        return trial

    def _chosen(self, choose: Any) -> Trial:
        trials = self.trials
        if not any(t.status == COMPLETED for t in trials):
            raise RuntimeError(
                f"No completed trial in {self.project_directory} yet: "
                "run search() first."
            )
        return choosing.choose(
            self.objectives, trials, self._choice if choose is None else choose
        )

    def ranked_trials(self, trials: list[Trial] | None = None) -> list[Trial]:
        """Completed trials, best first (the earliest among equal scores; with
        several objectives, the Pareto front first)."""
        return self.objectives.ranked(self.trials if trials is None else trials)

    # -- tables ---------------------------------------------------------------
    def results(self, *, as_frame: bool = False, prefix: str = "hp_") -> Any:
        """One row per trial, by id.

        Columns: `id`, `status`, the objective (named after its metric, the trial's
        score), with several objectives or constraints each other objective and
        constrained quantity and `front` (whether the trial is on the Pareto
        front), each hyperparameter as `prefix` + its name, the other metrics at
        the trial's best epoch, then `best_epoch` (0-based, as `Trial.best_epoch`),
        `epochs_trained`, `started` and `ended` (timezone-aware datetimes),
        `seconds` and `error`. A hyperparameter that a trial did not use (a
        conditional one) is `None`. The prefix keeps a tuned `epochs` apart from
        the bookkeeping columns.

        Args:
            as_frame: bool, `True` returns a pandas DataFrame indexed by trial id
                (needs pandas). Defaults to `False`: a list of dicts.
            prefix: str, put before each hyperparameter's name. Defaults to
                `"hp_"`; `""` keeps the bare names, unless one would be used twice.

        Returns:
            A list of dicts, or a `pandas.DataFrame`.

        Example:

        ```python
        frame = tuner.results(as_frame=True)
        frame.sort_values("val_loss")[["val_loss", "hp_lr", "best_epoch"]]
        ```
        """
        table = report.rows(
            self.space,
            self.trials,
            self.objective.name,
            prefix=prefix,
            objectives=self.objectives,
        )
        return report.as_frame(table) if as_frame else table

    def importance(self, *, seed: int = 0) -> Any:
        """How much each hyperparameter matters to the objective, most first.

        A random forest learns the score from the values of the completed trials;
        a hyperparameter's share is how much the forest's fit drops when its values
        are shuffled (scikit-learn's permutation importance). See
        `keras_hparams.importance`.

        Args:
            seed: int, for the forest and the shuffles. Defaults to `0`.

        Returns:
            An `Importance`: `.values` (name -> share, summing to 1, most important
            first), `.spread` and `.method` (a sentence naming how). `print()` it.

        Raises:
            ValueError: too few completed trials, or no hyperparameter that varies.
        """
        from keras_hparams import importance

        return importance.importance(self.space, self.trials, self.objective, seed=seed)

    def summary(self, num_trials: int = 10) -> None:
        """Prints the search: its objective, search space and best trials as tables.

        Args:
            num_trials: int, how many of the best trials to list. Defaults to `10`.
        """
        print(report.summary_text(self, num_trials))

    # -- plots ----------------------------------------------------------------
    def plot(
        self,
        path: str | os.PathLike | None = None,
        *,
        kind: str = "all",
        yscale: str = "auto",
    ) -> Any:
        """Plots the search, and saves the figure if `path` is given.

        Needs matplotlib (`pip install "keras-hparams[plot]"`). In a notebook the
        returned figure displays itself.

        Args:
            path: str or path of the file to write: its suffix picks the format
                (`.png`, `.svg` or `.pdf`). Defaults to `None` (no file).
            kind: str, `"convergence"`, `"learning_curves"` (the objective per
                epoch of each trial), `"hyperparameters"` (the score against each
                value), `"partial_dependence"` (a surrogate model's prediction as
                one hyperparameter varies, with its uncertainty), `"importance"`
                (see `importance()`), `"contour"` (the prediction over the two most
                important hyperparameters), or `"all"`. Defaults to `"all"`. With
                several objectives, `"pareto"` draws each trial by two objectives
                and the front; the other kinds show the first objective.
            yscale: str, `"linear"`, `"log"`, or `"auto"` (the default: log for a
                positive objective to minimize spanning more than a decade). The
                range is set by the bulk of the scores; a far outlier (a diverged
                trial) is marked at the panel's edge with its value.

        Returns:
            The `matplotlib.figure.Figure`.
        """
        from keras_hparams import pareto_plot, plots

        if kind == pareto_plot.KIND:
            return pareto_plot.plot(self, path)
        # With several objectives, the other plots' "best" is the first objective's.
        shown = pareto_plot.FirstObjective(self) if self.objectives.multi else self
        return plots.plot(shown, kind=kind, path=path, yscale=yscale)

    # -- display --------------------------------------------------------------
    def __repr__(self) -> str:
        from keras_hparams import display

        return display.text(self)

    def _repr_html_(self) -> str:
        from keras_hparams import display

        return display.html(self)

    # -- export ---------------------------------------------------------------
    def export(
        self,
        path: str | os.PathLike,
        *fit_args: Any,
        format: str | None = None,
        retrain: bool = False,
        choose: Any = None,
        **fit_kwargs: Any,
    ) -> Path:
        """Writes the best model in a form that plain Keras or TF Serving loads.

        The best values are written beside it as `<name>.params.json` (trial,
        objective, score, values, `best_epoch` (0-based) and `epochs_trained` of
        the trial, and `model_epochs`, the epochs the exported model was trained
        for), so the choice can be reproduced.

        Args:
            path: str or path: a file ending in `.keras`, or a folder for a
                TensorFlow SavedModel (TF Serving).
            *fit_args: with `retrain=True`, the data to train on, as for `model.fit`.
            format: str, `"keras"` or `"saved_model"`. Defaults to `None`: `.keras`
                for a path ending in `.keras`, a SavedModel for a path without
                suffix.
            retrain: bool, `True` trains a fresh model with the best values on the
                data passed (`export(path, x, y, retrain=True)`), for as many epochs
                as the best trial's best epoch, and exports that model. Needs the
                search's builder: a `kh.Tuner`, not a search opened with `kh.load`.
                Defaults to `False`: the best trial's checkpoint.
            choose: which trial to export instead of the best (or the one
                `choose()` chose): a trial id, a `kh.Trial` or a `kh.Best` rule.
                Defaults to `None`.
            **fit_kwargs: with `retrain=True`, arguments of `model.fit` (`epochs`,
                `batch_size`, ...); tuned ones default to the best values.

        Returns:
            The path written.

        Example:

        ```python
        tuner.export("best.keras")                    # keras.models.load_model
        tuner.export("serving/digits/1")              # tf.saved_model.load
        tuner.export("final.keras", x, y, retrain=True)  # train on all the data
        tuner.export("t7.keras", choose=7)            # trial 7 of a Pareto front
        ```
        """
        from keras_hparams import export as export_lib

        path = Path(path)
        format = export_lib.resolve_format(path, format)
        trial = self._chosen(choose)
        if retrain:
            model, epochs = export_lib.retrain(
                self._builder_for_retrain(), trial, fit_args, fit_kwargs, seed=self.seed
            )
        elif fit_args or fit_kwargs:
            raise TypeError(
                "export() takes data and fit arguments only with retrain=True. "
                f"Received: {len(fit_args)} positional and keyword "
                f"{sorted(fit_kwargs)} arguments, retrain=False."
            )
        else:
            model, epochs = self.best_model(choose=trial), (trial.best_epoch or 0) + 1
        export_lib.save(model, path, format)
        details = {
            **report.best_details(trial, self.objective),
            "retrained": bool(retrain),
            "model_epochs": epochs,
            "format": format,
        }
        if "objectives" in trial.extra:
            details["objectives"] = self.objectives.get_config()
            details["values"] = trial.extra["objectives"]
        export_lib.write_details(path, format, details)
        return path

    def _builder_for_retrain(self) -> Any:
        if self.builder is None:
            raise ValueError(
                "export(retrain=True) builds a fresh model, so it needs the function "
                f"that builds it; this search of {self.project_directory} was opened "
                "without one (kh.load). Make a kh.Tuner with the same builder, "
                "directory and project_name, and call its export(retrain=True)."
            )
        return self.builder
