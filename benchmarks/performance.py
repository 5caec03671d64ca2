"""Tuner overhead and where it goes, proposal latency, memory and parallel trials.

Run everything and write the results section (17 minutes on the development
machine's 2 cores at load average 1-3; more on a busy machine):

    python benchmarks/performance.py --markdown SECTION.md

`--quick` is a smoke run of about 3 minutes. Naming parts runs only those: `--latency
100 200` runs the proposal latency alone; `--overhead 10 30 --models mlp
--kerastuner-up-to 0` profiles 30 MLP trials in about a minute.

overhead (`--overhead N ...`, `--models mlp cnn`, `--kerastuner-up-to N`): wall time
    of `tuner.search` over N trials divided by the wall time of a bare loop that builds
    and fits the same N configurations (same data, epochs, batch size, validation
    split and callbacks; `clear_session()` and a seed before each model, as Keras's
    documentation and KerasTuner do), for a small MLP and a small CNN on digits; and
    the same ratio for KerasTuner's BayesianOptimization against a bare loop over
    the configurations it trained (up to N=30 by default: past that its own
    proposals take several seconds each). The runs are interleaved in one fresh
    process per model: each tuner resumes its project from one N to the next (a new
    tuner with the larger `max_trials` over the same folder, as a user resumes),
    each segment followed by its bare loop, so that every loop meets the same
    machine load and the same process state. The same runs
    give the time between trials (from the trial rows, and from one `fit`'s end to
    the next `fit`'s start for every loop) and where each loop's time goes:
    proposal, trial store, checkpoints, garbage collection, clear_session,
    seeding, callback copies, progress lines, build, fit, ..., timed by wrapping
    those functions in this process (a part's time excludes the wrapped parts it
    calls; what no wrapper covers is "anything else").
latency (`--latency FINISHED ...`): `BayesianOptimization.propose` alone (what runs
    between two trials) with 100 and 200 finished trials in 3, 8 and 15 dimensions,
    on a synthetic objective (no Keras): median and worst of 5 proposals, as the
    library runs it and with BLAS forced to one thread.
memory (`--memory TRIALS`): resident memory after trial 10 and after the last trial
    of one process, for `tuner.search` and a bare loop, each in a fresh process
    (`benchmarks/memory.py`).
parallel (`--parallel TRIALS`): MLP trials per minute in this process and with
    `executor="processes"` and 1 and 2 workers; skipped with a message where
    `kh.Tuner` takes no `executor` argument.

KerasTuner (`pip install keras-tuner`) is needed for its rows only; KerasTuner 1.4.8
needs tensorboard installed to run on TensorFlow 2.21.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import memory  # noqa: E402
from perf_models import (  # noqa: E402
    BATCH_SIZE,
    VALIDATION_SPLIT,
    Family,
    FromValues,
    families,
)
from perf_report import (  # noqa: E402
    Report,
    load,
    machine,
    report_gaps,
    report_overhead,
    report_parts,
    spread,
)
from perf_runs import (  # noqa: E402
    kerastuner_missing,
    latency,
    overhead,
    overhead_in_process,
    parallel,
)

FULL = {"overhead": [10, 30, 100], "latency": [100, 200], "memory": 100, "parallel": 20}
QUICK = {"overhead": [5, 10], "latency": [50], "memory": 20, "parallel": 6}


# -- parts of the run -----------------------------------------------------------------
def warm_up(models: list[Family]) -> None:
    """One fit of each model first, so that no timed loop pays TensorFlow's start."""
    for family in models:
        keras.backend.clear_session()
        model = family.build(FromValues(family.warm_up))
        model.fit(family.x, family.y, **family.fit_kwargs())


def overhead_part(
    report: Report, models: list[Family], checkpoints: list[int], kt_up_to: int
) -> None:
    missing = kerastuner_missing()
    kt_up_to = 0 if missing else kt_up_to
    report.add(
        "### Overhead: search / bare loop over the same configurations",
        "",
        "Seconds of each search (creating the tuner included) and of a bare loop "
        "(clear_session, seed, build, fit) over the configurations that search "
        "trained, cumulative up to N; ratio = search / bare loop, and in brackets "
        "the same ratio with clear_session and every garbage collection taken out "
        "of both loops (the bare loop and KerasTuner collect garbage fully before "
        "each model; keras-hparams may do it less often). Epochs: "
        + ", ".join(f"{f.name} {f.epochs}" for f in models)
        + f"; batch size {BATCH_SIZE}, validation split {VALIDATION_SPLIT}; "
        "EarlyStopping(patience=3) and a timing callback in every loop; Bayesian "
        "search, seed 0; keras-hparams with its default `verbose=1` (printed into "
        "memory). Each model's four loops run interleaved in one fresh Python "
        f"process. KerasTuner up to N={kt_up_to}"
        + (f" (keras-tuner {missing})" if missing else "")
        + f". Load average (1 min) before: {load()}.",
        "",
    )
    results = {f.name: overhead_in_process(f, checkpoints, kt_up_to) for f in models}
    for name, result in results.items():
        report_overhead(report, name, result)
    report.add(
        "### Time between trials in the overhead runs (median / worst, seconds)",
        "",
        "keras-hparams rows: from one trial's `ended` to the next trial's "
        "`started` in `tuner.trials` (`ended` is stamped before the checkpoint "
        "and the row are written, `started` after clear_session and seeding, "
        "before the build). fit end -> next fit start: the same gap for every "
        "loop, from a callback; it includes clear_session, seeding, build and "
        "compile, which the bare loop pays too.",
        "",
    )
    for name, result in results.items():
        report_gaps(report, name, result)
    report.add(
        "### Where the time goes, by part (seconds per trial, cumulative up to N)",
        "",
        "A part's time excludes the wrapped parts it calls; `anything else` is the "
        "loop's time that no wrapper covers (the tuner's own code, the bare loop's "
        "callback construction). Garbage collection counts Python's automatic "
        "collections too, wherever they happen; its calls are full collections.",
        "",
    )
    for name, result in results.items():
        report_parts(report, name, result, "ours")
        report_parts(report, name, result, "kt")
        rows, read = result["store_read"]
        report.add(
            f"One read of `tuner.trials` with {rows} rows ({name}): "
            f"{read * 1000:.1f} ms (median of 20).",
            "",
        )


def latency_part(report: Report, finished_counts: list[int]) -> None:
    report.add(
        "### Proposal latency: `BayesianOptimization.propose` alone",
        "",
        "Synthetic trials (no Keras); median / worst of 5 proposals, seconds; as "
        "the library runs it, and with BLAS forced to one thread by "
        "`threadpoolctl.threadpool_limits(1)` around the call, interleaved. "
        f"Load average (1 min) before: {load()}.",
        "",
    )
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # comes with scikit-learn; the default rows alone then
        threadpool_limits = None
    rows = []
    for finished in finished_counts:
        default, limited = [f"{finished}, as is"], [f"{finished}, 1 BLAS thread"]
        for dimensions in (3, 8, 15):
            default.append(spread(latency(dimensions, finished)))
            if threadpool_limits is not None:
                with threadpool_limits(1):
                    limited.append(spread(latency(dimensions, finished)))
        rows += [default] + ([limited] if threadpool_limits is not None else [])
        print(f"  latency: {rows[-2:]}", flush=True)
    report.table(["finished trials, threads", "3 dims", "8 dims", "15 dims"], rows)


def memory_part(report: Report, trials: int) -> None:
    after = min(10, trials // 2)
    report.add(
        "### Memory: resident set size in one process",
        "",
        f"{trials} trials, each loop in a fresh process (`benchmarks/memory.py`: "
        "its MLP, 1 epoch, random search). "
        f"Load average (1 min) before: {load()}.",
        "",
    )
    rows = []
    for mode, label in (("bare", "bare Keras loop"), ("tuner", "`tuner.search`")):
        result = memory.measure(mode, trials)
        rss = result["samples"]
        growth = rss[-1] - rss[after - 1]
        rows.append(
            [label, f"{result['seconds']:.0f} s", f"{rss[after - 1]:.0f} MB"]
            + [f"{rss[-1]:.0f} MB", f"**{growth:+.0f} MB**"]
        )
    report.table(
        ["loop", "wall time", f"RSS after trial {after}"]
        + [f"RSS after trial {trials}", "growth"],
        rows,
    )


def parallel_part(report: Report, family: Family, trials: int) -> None:
    report.add(
        "### Parallel trials: trials per minute",
        "",
        f"{trials} {family.name} trials of {family.epochs} epochs, Bayesian "
        "search; wall time from creating the tuner to the end of the search "
        f"(starting the workers included). Load average (1 min) before: {load()}.",
        "",
    )
    report.table(
        ["execution", "completed trials", "wall time", "trials per minute"],
        parallel(family, trials),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--overhead", type=int, nargs="*", metavar="N")
    parser.add_argument("--models", nargs="+", choices=["mlp", "cnn"])
    parser.add_argument("--kerastuner-up-to", type=int, metavar="N")
    parser.add_argument("--latency", type=int, nargs="*", metavar="FINISHED")
    parser.add_argument("--memory", type=int, metavar="TRIALS")
    parser.add_argument("--parallel", type=int, metavar="TRIALS")
    parser.add_argument("--markdown", help="write the results section to this file")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # MODEL JSON
    args = parser.parse_args()
    if args.child:  # one model family's overhead runs, for overhead_in_process
        name, path = args.child
        family = families([name])[0]
        warm_up([family])
        result = overhead(family, sorted(args.overhead), args.kerastuner_up_to)
        Path(path).write_text(json.dumps(result))
        return
    sizes = QUICK if args.quick else FULL
    named = {p: getattr(args, p) for p in sizes if getattr(args, p) is not None}
    if (args.models or args.kerastuner_up_to is not None) and "overhead" not in named:
        named["overhead"] = sizes["overhead"]
    plan = named or sizes
    kt_up_to = args.kerastuner_up_to
    if kt_up_to is None:
        kt_up_to = 10 if args.quick else 30
    models = families(args.models or ["mlp", "cnn"])
    started = time.perf_counter()
    report = Report()
    report.add(
        "## Tuner overhead, proposal latency, memory and parallel trials "
        "(`benchmarks/performance.py`)",
        "",
        f"- Machine: {machine()}.",
        f"- Date: {datetime.date.today().isoformat()}.",
        f"- Command: `python benchmarks/performance.py {' '.join(sys.argv[1:])}`",
        "",
    )
    if plan.get("overhead"):
        overhead_part(report, models, sorted(plan["overhead"]), kt_up_to)
    if plan.get("latency"):
        latency_part(report, plan["latency"])
    if plan.get("memory"):
        memory_part(report, plan["memory"])
    if plan.get("parallel"):
        parallel_part(report, families(["mlp"])[0], plan["parallel"])
    minutes = (time.perf_counter() - started) / 60
    report.add(f"Total wall time {minutes:.1f} min; load average at the end {load()}.")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(report.lines) + "\n")


if __name__ == "__main__":
    main()
