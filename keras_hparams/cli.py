"""The `keras-hparams` console command: read, plot and export a search.

    keras-hparams show DIR                 the search space and best trials as tables
    keras-hparams best DIR                 the best trial's values as JSON
    keras-hparams plot DIR --out FILE.png  convergence, scores, partial dependence
    keras-hparams export DIR OUT           best model: OUT.keras, or a SavedModel folder

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
import sys
from collections.abc import Sequence
from typing import Any

from keras_hparams import __version__, pareto_plot
from keras_hparams import export as export_lib
from keras_hparams.choosing import Best
from keras_hparams.constraints import Constraint
from keras_hparams.plots import KINDS
from keras_hparams.results import LoadedSearch, load


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command with `argv` (defaults to `sys.argv[1:]`); returns its status.

    Returns:
        `0` on success, `1` when the command fails (no search in DIR, say), with the
        reason on stderr. Wrong usage exits with status `2`, as argparse does.
    """
    arguments = _parser().parse_args(argv)
    try:
        with load(arguments.directory) as search:
            return arguments.command(search, arguments)
    except (FileNotFoundError, ValueError, RuntimeError, ImportError) as error:
        print(f"keras-hparams {arguments.name}: error: {error}", file=sys.stderr)
        return 1


def _show(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    from keras_hparams.report import summary_text

    print(summary_text(search, arguments.trials))
    return 0


def _best(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    trial = search.choose(_choice(arguments))
    best = {
        "trial": trial.id,
        "objective": search.objective.get_config(),
        "score": trial.score,
        "params": trial.params,
        "epochs": (trial.best_epoch or 0) + 1,
    }
    if "objectives" in trial.extra:
        best["objectives"] = trial.extra["objectives"]
    print(json.dumps(best, indent=2))
    return 0


def _plot(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    if not arguments.out.lower().endswith(".png"):
        raise ValueError(
            f"plot --out expects a .png file. Received: --out {arguments.out!r}."
        )
    search.plot(arguments.out, kind=arguments.kind)
    print(f"Wrote {arguments.out}")
    return 0


def _export(search: LoadedSearch, arguments: argparse.Namespace) -> int:
    path = search.export(
        arguments.out, format=arguments.format, choose=_choice(arguments)
    )
    format = export_lib.resolve_format(path, arguments.format)
    details = export_lib.details_path(path, format)
    print(f"Wrote {path} ({format}) and {details}")
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
    plot = command("plot", _plot, "Save plots of the search as a PNG file.")
    plot.add_argument("--out", required=True, metavar="FILE.png", help="PNG to write")
    plot.add_argument(
        "--kind",
        choices=(*KINDS, pareto_plot.KIND),
        default="all",
        help="which plot (default: all; pareto: the front of several objectives)",
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
    for sub in (best, export):
        _choice_arguments(sub)
    return parser


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
