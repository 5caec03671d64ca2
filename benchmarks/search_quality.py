"""Search quality on exact, noise-free objectives: keras-hparams against the anchors.

Run: python benchmarks/search_quality.py [--seeds 10] [--jobs 2]
     [--problems branin ...] [--methods ours ours_batch4 gp_minimize ...]
     [--rerun-anchors] [--no-write]

Each problem (see `sq_problems.py`) is searched by each method (see `sq_methods.py`)
once per seed with the problem's trial budget. Reported per method and problem: the
mean, median and worst-seed regret (the objective at the best values found minus its
minimum; lower is better), then each method's regret relative to random search's
median regret, averaged over the problems, and whether keras-hparams meets the
issue's targets; then the proposal latency at 100 trials in 8 dimensions. The table is
written to `benchmarks/RESULTS.md` (between its markers; other sections are kept).

"ours" runs `kh.Tuner` end to end; "ours_batch4" asks `propose` for 4 values at a
time, pending-aware, without Keras; "ours_direct" is "ours" without Keras (the same
proposals, checked), for trying settings quickly. The slow anchors (`gp_minimize`,
KerasTuner) are deterministic given the seed, so their runs are kept in
`search_quality_anchors.json`, keyed by the problem's code and the package versions,
and rerun only when those change or with `--rerun-anchors`.
"""

from __future__ import annotations

import os

# One BLAS and TensorFlow thread per process: the worker processes share the cores,
# and scipy's L-BFGS-B with threaded BLAS is 5-10x slower on a loaded machine.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import sq_problems  # noqa: E402
from sq_report import report, write_results  # noqa: E402

ANCHOR_CACHE = HERE / "search_quality_anchors.json"
CACHED = ("gp_minimize", "kerastuner")
DEFAULT_METHODS = [
    "ours",
    "ours_batch4",
    "gp_minimize",
    "kerastuner",
    "optuna",
    "random",
]
PACKAGES = {
    "gp_minimize": "scikit-optimize",
    "kerastuner": "keras-tuner",
    "optuna": "optuna",
}


def run_one(method: str, problem_name: str, seed: int) -> dict:
    """One search, in a worker process: the values in trial order and the regret."""
    import sq_methods

    problem = next(p for p in sq_problems.problems() if p.name == problem_name)
    started = time.perf_counter()
    values, best = sq_methods.METHODS[method](problem, seed)
    return {
        "method": method,
        "problem": problem_name,
        "seed": seed,
        "regret": problem.regret(best),
        "regrets": [v - problem.optimum for v in values],
        "seconds": time.perf_counter() - started,
    }


def cache_key(method: str, problem: sq_problems.Problem) -> str:
    """What a cached anchor run depends on: the problem (its function's code and
    constants, dimensions, budget; the defaults only for KerasTuner, which uses
    them), the anchor's code in `sq_methods` and its package's version."""
    import sq_methods

    functions = {
        "gp_minimize": [
            sq_methods.gp_minimize,
            sq_methods._skopt_dimensions,
            sq_methods._skopt_values,
        ],
        "kerastuner": [
            sq_methods.kerastuner,
            sq_methods._kt_loop,
            sq_methods._suggest_kt,
            sq_methods.Reads,
        ],
    }[method]
    configs = [d.get_config() for d in problem.dimensions]
    if method != "kerastuner":
        for config in configs:
            config.pop("default", None)
    text = "|".join(
        [
            method,
            importlib.metadata.version(PACKAGES[method]),
            problem.name,
            str(problem.budget),
            repr(configs),
            _code(problem.function),
            *(inspect.getsource(f) for f in functions),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _code(function) -> str:
    """A function's source, with that of the module globals it names (helpers,
    constants) and of its closure's values."""
    parts = [inspect.getsource(function)]
    for value in [c.cell_contents for c in function.__closure__ or ()] + [
        function.__globals__[name]
        for name in function.__code__.co_names
        if name in function.__globals__
    ]:
        parts.append(_code(value) if inspect.isfunction(value) else repr(value))
    return "\n".join(parts)


def missing_package(method: str) -> str | None:
    module = {"kerastuner": "keras_tuner", "optuna": "optuna"}.get(method)
    if module and importlib.util.find_spec(module) is None:
        return f"pip install {PACKAGES[method]}"
    return None


def run_all(args: argparse.Namespace, problems: list) -> list[dict]:
    cache = json.loads(ANCHOR_CACHE.read_text()) if ANCHOR_CACHE.exists() else {}
    results, tasks = [], []
    for method in args.methods:
        if hint := missing_package(method):
            print(f"skipping {method}: its package is missing ({hint})", flush=True)
            continue
        for problem in problems:
            key = cache_key(method, problem) if method in CACHED else None
            for seed in range(args.seeds):
                cached = cache.get(f"{key}/{seed}") if key else None
                if cached and not args.rerun_anchors:
                    results.append(cached)
                else:
                    tasks.append((method, problem.name, seed, key))
    print(
        f"{len(results)} runs from {ANCHOR_CACHE.name}, {len(tasks)} to run", flush=True
    )
    # The longest first, so that the worker processes finish together.
    budget = {p.name: p.budget for p in problems}
    tasks.sort(key=lambda t: (t[0] not in ("ours", "kerastuner"), -budget[t[1]]))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = {pool.submit(run_one, *task[:3]): task for task in tasks}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            result = future.result()
            results.append(result)
            key = futures[future][3]
            if key:  # written at once: a run stopped half way keeps what it did
                cache[f"{key}/{result['seed']}"] = result
                ANCHOR_CACHE.write_text(json.dumps(cache, sort_keys=True) + "\n")
            if done % 20 == 0 or done == len(tasks):
                print(f"  {done}/{len(tasks)} runs done", flush=True)
    return results


def latency(repeats: int = 5) -> list[float]:
    """Seconds of `propose` at 100 completed trials in 8 dimensions, as
    `performance.py --latency` measures it."""
    from perf_runs import latency as perf_latency

    return perf_latency(8, 100, repeats)


def machine() -> str:
    versions = []
    for name in ("keras", "tensorflow", "scikit-optimize", "keras-tuner", "optuna"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {kib / 2**20:.0f} GiB; "
        f"Python {platform.python_version()}, " + ", ".join(versions)
    )


def main() -> None:
    names = [p.name for p in sq_problems.problems()]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--problems", nargs="+", default=names, choices=names)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument("--rerun-anchors", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--save", help="also write every run's regrets to this JSON")
    args = parser.parse_args()
    args.command = " ".join(["python benchmarks/search_quality.py", *sys.argv[1:]])
    problems = [p for p in sq_problems.problems() if p.name in args.problems]
    started = time.time()
    for name, declared, found in sq_problems.check_all():
        if name in args.problems and found < declared - 1e-9:
            raise SystemExit(f"{name}: found {found} below its optimum {declared}")
    results = run_all(args, problems)
    if args.save:
        Path(args.save).write_text(json.dumps(results) + "\n")
    seconds = latency() if "ours" in args.methods else []
    lines = report(results, problems, args, seconds, machine(), time.time() - started)
    print("\n".join(lines))
    if not args.no_write:
        write_results(HERE / "RESULTS.md", lines)


if __name__ == "__main__":
    main()
