"""The `keras-hparams` console command: read, plot and export a search.

    keras-hparams show DIR                 the search space and best trials as tables
    keras-hparams best DIR                 the best trial's values as JSON
    keras-hparams plot DIR --out FILE.png  convergence, scores, partial dependence
    keras-hparams export DIR OUT           best model: OUT.keras, or a SavedModel folder

DIR is a project folder (the one holding `trials.db`), or a folder holding exactly one
project. `python -m keras_hparams.cli` runs the same command. Only `plot` and `export`
import matplotlib or Keras (and TensorFlow): `--help`, `show` and `best` answer at once.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import zipfile
from collections.abc import Sequence

from keras_hparams import __version__
from keras_hparams import export as export_lib
from keras_hparams.plots import KINDS
from keras_hparams.results import LoadedSearch, load


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command with `argv` (defaults to `sys.argv[1:]`); returns its status.

    Returns:
        `0` on success, `1` when the command fails (no search in DIR, a damaged
        trial database or checkpoint, a folder it cannot read), with the reason on
        one line of stderr. Wrong usage exits with status `2`, as argparse does.
    """
    arguments = _parser().parse_args(argv)
    try:
        with load(arguments.directory) as search:
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
    trial = search.best_trial
    best = {
        "trial": trial.id,
        "objective": search.objective.get_config(),
        "score": trial.score,
        "params": trial.params,
        "epochs": (trial.best_epoch or 0) + 1,
    }
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
    path = search.export(arguments.out, format=arguments.format)
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
    command("best", _best, "Print the best trial's values as JSON.")
    plot = command("plot", _plot, "Save plots of the search as a PNG file.")
    plot.add_argument("--out", required=True, metavar="FILE.png", help="PNG to write")
    plot.add_argument(
        "--kind", choices=KINDS, default="all", help="which plot (default: all)"
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
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer. Received: {text!r}"
        )
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
