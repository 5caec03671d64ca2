"""Run several trials at once: in worker processes, then on a Dask cluster.

Run: python examples/parallel_search.py            (about 1-2 minutes on 2 CPU cores)
     python examples/parallel_search.py --gpus 0 1 (one worker per GPU)

The model code is the same as for a sequential search; only the Tuner's `executor`
changes. The tuner's process proposes values and writes the trial database; workers
build and train. The Dask part needs `pip install "keras-hparams[dask]"` and is
skipped without it. To use a cluster you already run, pass its client instead of the
LocalCluster's: `kh.Tuner(..., executor=Client("tcp://scheduler:8786"))`.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_hparams as kh  # noqa: E402


# Worker processes import this module to find `build_model` (or receive it by value
# with cloudpickle), so the search itself runs under `if __name__ == "__main__"`.
@kh.tunable
def build_model():
    model = keras.Sequential([keras.Input((64,))])
    for i in range(kh.Int("layers", 1, 2)):
        model.add(
            keras.layers.Dense(
                kh.Int(f"units_{i}", 32, 256, step=32, default=64),
                activation=kh.Choice("activation", ["relu", "tanh"]),
            )
        )
        model.add(keras.layers.Dropout(kh.Float("dropout", 0.0, 0.4, default=0.1)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(kh.Float("lr", 1e-4, 1e-2, log=True)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def search(x, y, name, trials, **execution):
    started = time.perf_counter()
    tuner = kh.Tuner(
        build_model,
        objective="val_loss",
        max_trials=trials,
        directory="hparams",
        project_name=name,
        overwrite=True,
        seed=0,
        **execution,
    )
    tuner.search(x, y, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
    seconds = time.perf_counter() - started
    print(
        f"{name}: {trials} trials in {seconds:.1f} s, best val_loss "
        f"{tuner.best_score:.4f} (trial {tuner.best_trial.id})\n"
    )
    return tuner


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument(
        "--gpus", type=int, nargs="*", help="GPU indices: one worker process per GPU"
    )
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")

    # 1. Worker processes on this machine: one per GPU, or two sharing the CPU cores.
    if args.gpus:
        devices = [f"GPU:{i}" for i in args.gpus]
        search(x, y, "parallel_gpus", args.trials, devices=devices)
    else:
        search(
            x, y, "parallel_processes", args.trials, executor="processes", n_workers=2
        )

    # 2. A Dask cluster: a LocalCluster here; any dask.distributed.Client works.
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print('Dask part skipped: pip install "keras-hparams[dask]" to run it.')
        return
    # One thread per worker: Keras's session and seeds are per process.
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        tuner = search(x, y, "parallel_dask", args.trials, executor=client)
    path = tuner.export("hparams/parallel_best.keras")
    model = keras.models.load_model(path)
    print(f"Exported {path}: {model.count_params()} parameters")


if __name__ == "__main__":
    main()
