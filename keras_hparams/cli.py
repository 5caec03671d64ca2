"""The `keras-hparams` console command: read, plot and export a search.

    keras-hparams show DIR                 the search space and best trials as tables
    keras-hparams best DIR                 the best trial's values as JSON
    keras-hparams plot DIR --out FILE.png  plots (.png, .svg or .pdf; --kind, --yscale)
    keras-hparams export DIR OUT           best model: OUT.keras, or a SavedModel folder
    keras-hparams export-optuna DIR URL    the search as an Optuna study (dashboard)

With several objectives, `best` and `export` take the trial to read (`--trial 7`,
or `--best val_accuracy --where "params<=100000"`), `show` prints the Pareto front,
and `plot --kind pareto` draws it.

DIR is a project folder (the one holding `trials.db`), or a folder holding exactly one
project. `python -m keras_hparams.cli` runs the same command. Only `plot` and `export`
import matplotlib or Keras (and TensorFlow): `--help`, `show` and `best` answer at once.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

from keras_hparams import __version__, pareto_plot
from keras_hparams import export as export_lib
from keras_hparams.choosing import Best
from keras_hparams.constraints import Constraint
from keras_hparams.loaded import LoadedSearch, load
from keras_hparams.plots import FORMATS, KINDS, YSCALES


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command with `argv` (defaults to `sys.argv[1:]`); returns its status.

    Returns:
        `0` on success, `1` when the command fails (no search in DIR, a damaged
        trial database or checkpoint, a folder it cannot read), with the reason on
        one line of stderr. Wrong usage exits with status `2`, as argparse does.
    """
    arguments = _parser().parse_args(argv)
    try:
        custom_objects = _custom_objects(getattr(arguments, "modules", None) or [])
        with load(arguments.directory, custom_objects=custom_objects) as search:
            return arguments.command(search, arguments)
    except (
        OSError,
        ValueError,
        TypeError,
        RuntimeError,
        ImportError,
        sqlite3.Error,
        zipfile.BadZipFile,
    ) as error:
        # One line, whatever the message.
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"keras-hparams {arguments.name}: error: {message}", file=sys.stderr)
        return 1


def _show(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    from keras_hparams.report import summary_text

    print(summary_text(search, arguments.trials))
    return 0


def _best(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    from keras_hparams.report import best_details

    trial = search.choose(_choice(arguments))
    details = best_details(trial, search.objective)
    if "objectives" in trial.extra:
        details["objectives"] = trial.extra["objectives"]
    print(json.dumps(details, indent=2))
    return 0


def _plot(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    suffixes = tuple(f".{f}" for f in FORMATS)
    if not arguments.out.lower().endswith(suffixes):
        raise ValueError(
            f"plot --out expects a file ending in {', '.join(suffixes)}. "
            f"Received: --out {arguments.out!r}."
        )
    search.plot(arguments.out, kind=arguments.kind, yscale=arguments.yscale)
    print(f"Wrote {arguments.out}")
    return 0


def _export(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    try:
        path = search.export(
            arguments.out, format=arguments.format, choose=_choice(arguments)
        )
    except (TypeError, ValueError) as error:  # Keras's, for a class it cannot find
        text = f"{error} {error.__cause__}"  # Keras's own error, in full
        missing = re.search(r"Could not locate \w+ '([^']+)'", text)
        if missing is None:
            raise
        raise ValueError(
            f"The best model uses {missing.group(1)!r}, which is not defined here. "
            "Name the module that defines it: keras-hparams export DIR OUT "
            "--import MODULE (importable from the current folder, e.g. my_layers "
            "for my_layers.py)."
        ) from None
    format = export_lib.resolve_format(path, arguments.format)
    details = export_lib.details_path(path, format)
    print(f"Wrote {path} ({format}) and {details}")
    return 0


def _export_optuna(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    from keras_hparams.integrations.optuna import to_optuna

    study = to_optuna(search, arguments.storage, arguments.study_name)
    print(
        f"Wrote {len(study.trials)} trials to the Optuna study "
        f"{study.study_name!r} in {arguments.storage}"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-hparams",
        description="Read, plot and export a keras-hparams search.",
        epilog="DIR: a project folder (holding trials.db), or a folder holding "
        "exactly one project.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    commands.required = True

    def command(name, function, summary):
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument("directory", metavar="DIR", help="the search's folder")
        sub.set_defaults(command=function, name=name)
        return sub

    show = command("show", _show, "Print the search space and the best trials.")
    show.add_argument(
        "--trials", type=_positive, default=10, help="how many trials (default: 10)"
    )
    best = command("best", _best, "Print the best trial's values as JSON.")
    plot = command("plot", _plot, "Save plots of the search as a .png/.svg/.pdf.")
    plot.add_argument(
        "--out", required=True, metavar="FILE", help="the file; its suffix its format"
    )
    plot.add_argument(
        "--kind",
        choices=(*KINDS, pareto_plot.KIND),
        default="all",
        help="which plot (default: all; pareto: the front of several objectives)",
    )
    plot.add_argument(
        "--yscale",
        choices=YSCALES,
        default="auto",
        help="the objective's scale (default: auto, log for a loss spanning decades)",
    )
    export = command(
        "export",
        _export,
        "Export the best model: a .keras file, or a SavedModel folder for TF "
        "Serving; the best values go beside it as <name>.params.json.",
    )
    export.add_argument(
        "out", metavar="OUT", help="a path ending in .keras, or a folder path"
    )
    export.add_argument(
        "--format",
        choices=export_lib.FORMATS,
        help="default: keras for .keras paths, saved_model for paths without suffix",
    )
    export.add_argument(
        "--import",
        dest="modules",
        action="append",
        metavar="MODULE",
        help="a module that defines custom layers, losses or metrics of the model "
        "(importable from the current folder, e.g. my_layers or pkg.layers); "
        "may be repeated",
    )
    optuna = command(
        "export-optuna",
        _export_optuna,
        "Write the search as a new Optuna study, for optuna-dashboard "
        '(needs pip install "keras-hparams[optuna]").',
    )
    optuna.add_argument(
        "storage", metavar="STORAGE_URL", help="such as sqlite:///optuna.db"
    )
    optuna.add_argument(
        "--study-name", help="the new study's name (default: the project's folder)"
    )
    for sub in (best, export):
        _choice_arguments(sub)
    return parser


def _custom_objects(modules: list[str]) -> dict[str, object] | None:
    """The classes and functions defined by `modules`, by name, for loading models
    that use them (as `keras.models.load_model(custom_objects=...)` takes them)."""
    if not modules:
        return None
    import importlib
    import inspect
    import os

    if os.getcwd() not in sys.path:  # a console script does not look there
        sys.path.insert(0, os.getcwd())
    found: dict[str, object] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ImportError(
                f"--import {name}: the module could not be imported ({error}). Give "
                "a module importable from the current folder, such as my_layers for "
                "my_layers.py."
            ) from error
        for attribute, value in vars(module).items():
            if (inspect.isclass(value) or inspect.isfunction(value)) and (
                value.__module__ == module.__name__
            ):
                found[attribute] = value
    return found


def _choice_arguments(parser: argparse.ArgumentParser) -> None:
    """--trial, --best and --where: which trial of several good ones to read."""
    parser.add_argument(
        "--trial", type=_positive, help="this trial instead of the best one"
    )
    parser.add_argument(
        "--best",
        metavar="OBJECTIVE",
        help="the trial with the best value of this objective (with --where)",
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        type=_limit,
        metavar="LIMIT",
        help='a limit such as "params<=100000" on --best\'s trials (repeatable)',
    )


def _choice(arguments: argparse.Namespace) -> Any:
    """The `choose=` value that --trial, --best and --where give, or None."""
    if arguments.trial is not None and arguments.best is not None:
        raise ValueError("pass either --trial or --best, not both.")
    if arguments.where and arguments.best is None:
        raise ValueError(
            "--where limits the trials of --best: pass --best OBJECTIVE too."
        )
    if arguments.best is not None:
        return Best(arguments.best, where=arguments.where)
    return arguments.trial


def _limit(text: str) -> Constraint:
    match = re.fullmatch(r"\s*([^<>=\s]+)\s*(<=|>=)\s*(\S+)\s*", text)
    try:
        value = float(match.group(3)) if match else None
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(
            f"expected NAME<=NUMBER or NAME>=NUMBER. Received: {text!r}"
        )
    limit = "at_most" if match.group(2) == "<=" else "at_least"
    return Constraint(match.group(1), **{limit: value})


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer. Received: {text!r}"
        )
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
