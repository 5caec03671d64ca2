"""Several trials at once: worker processes, a Dask LocalCluster, and the checks
that refuse bad combinations before any training."""

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_hparams as kh
from keras_hparams import fit_arguments, pickling
from keras_hparams.execution import dask as dask_execution
from keras_hparams.execution import processes
from keras_hparams.progress import format_params
from keras_hparams.runner import Job, Task
from keras_hparams.trial import COMPLETED, FAILED, INTERRUPTED, Trial
from tests.conftest import make_builder
from tests.real_code_layers import Unsaveable
from tests.test_trial_callbacks import Events

pytestmark = pytest.mark.slow


@kh.tunable
def module_level_builder():
    model = keras.Sequential([keras.Input((64,))])
    model.add(keras.layers.Dense(kh.Int("units", 4, 16, step=4, default=8)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


class KillOnce(keras.callbacks.Callback):
    """Kills its own process at the first epoch end of the first trial to claim
    `marker` (renaming a file is atomic, so exactly one trial does)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def on_epoch_end(self, epoch, logs=None):
        try:
            os.rename(self.marker, self.marker + ".claimed")
        except FileNotFoundError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


def _ids_and_statuses(tuner):
    return [(t.id, t.status) for t in tuner.trials]


def test_two_worker_processes_record_each_trial_once(tmp_path, digits, capsys):
    x, y = digits
    events = Events()  # trial callbacks run here, in the driver
    tuner = kh.Tuner(
        make_builder(),  # a closure: it travels by value (cloudpickle)
        "val_accuracy",
        max_trials=6,
        directory=tmp_path,
        seed=0,
        executor="processes",
        n_workers=2,
        verbose=1,
        trial_callbacks=[events],
    )
    # Callbacks with one file path: two trials at once must not write one file.
    saving = [
        keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt" / "best.h5")),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
    ]
    tuner.search(
        x,
        y,
        epochs=2,
        validation_split=0.25,
        batch_size=32,
        verbose=0,
        callbacks=saving,
    )

    assert _ids_and_statuses(tuner) == [(i, COMPLETED) for i in range(1, 7)]
    assert events.events[0] == ("search_begin",)
    assert events.events[-1] == ("search_end", 6)
    for trial in tuner.trials:
        begin, end = [e for e in events.events[1:-1] if e[1] == trial.id]
        assert begin[:2] == ("begin", trial.id) and begin[3] == trial.params
        assert end == ("end", trial.id, "completed", "completed")
    for trial in tuner.trials:
        folder = f"trial_{trial.id:04d}"
        assert (tmp_path / "ckpt" / folder / "best.h5").is_file()
        rows = (tmp_path / folder / "log.csv").read_text().splitlines()
        assert rows[0].startswith("epoch,") and len(rows) == 3
    # Progress: a trial's values are printed when it ends, as its build used them
    # (a proposal may hold values of dimensions the build leaves inactive).
    lines = capsys.readouterr().out.splitlines()
    ckpt = tmp_path / "ckpt"
    assert (
        f"ModelCheckpoint(filepath={str(ckpt / 'best.h5')!r}) writes each trial's "
        f"files to {ckpt / 'trial_NNNN' / 'best.h5'}."
    ) in lines
    for trial in tuner.trials:
        assert f"Trial {trial.id}/6 started" in lines
        ended = [line for line in lines if line.startswith(f"Trial {trial.id}/6 val_")]
        assert len(ended) == 1
        assert f"({format_params(trial.params)})" in ended[0]
        if trial.params["layers"] == 1:
            assert "units_1" not in ended[0]
    keys = {tuner.algorithm.key(tuner.space, t.params) for t in tuner.trials}
    assert len(keys) == 6  # pending-aware: no two trials share values
    assert tuner.trials[0].params == {
        "layers": 1,
        "units_0": 8,
        "act": "relu",
        "lr": 1e-2,
    }  # the defaults ran first
    assert {"layers", "units_0", "act", "lr"} <= set(tuner.space.names)
    # Both workers trained at the same time at least once.
    spans = sorted((t.started, t.ended) for t in tuner.trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))
    # The best trial's model file came back from its worker and loads.
    model = tuner.best_model()
    accuracy = model.evaluate(x[225:], y[225:], verbose=0, return_dict=True)
    assert accuracy["accuracy"] == pytest.approx(tuner.best_score, abs=1e-5)
    checkpoints = sorted(p.parent.name for p in tmp_path.rglob("model.keras"))
    assert len(checkpoints) == 3


def _search_with_one_trial_killed(tmp_path, digits, **execution):
    """Five trials, one of whose processes kills itself at its first epoch end:
    checks that the other four complete and each is recorded once; the failed one."""
    x, y = digits
    marker = tmp_path / "kill-me"
    marker.write_text("")
    tuner = kh.Tuner(
        make_builder(),
        "val_loss",
        max_trials=5,
        directory=tmp_path,
        seed=1,
        verbose=0,
        **execution,
    )
    tuner.search(
        x,
        y,
        epochs=2,
        validation_split=0.25,
        verbose=0,
        callbacks=[KillOnce(str(marker))],
    )

    statuses = _ids_and_statuses(tuner)
    assert [i for i, _ in statuses] == [1, 2, 3, 4, 5]
    failed = [t for t in tuner.trials if t.status == FAILED]
    assert len(failed) == 1
    assert sum(s == COMPLETED for _, s in statuses) == 4
    assert (tmp_path / "kill-me.claimed").exists()
    return failed[0]


def test_a_killed_worker_fails_its_trial_and_the_search_goes_on(tmp_path, digits):
    failed = _search_with_one_trial_killed(
        tmp_path, digits, executor="processes", n_workers=2
    )
    assert "killed by signal SIGKILL" in failed.error


def test_data_as_a_function_and_a_pruner_in_workers(tmp_path, digits):
    x, y = digits
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)

    def make_dataset():  # made on each worker: a tf.data.Dataset cannot travel
        import tensorflow as tf

        data = (np.load(tmp_path / "x.npy")[:225], np.load(tmp_path / "y.npy")[:225])
        return tf.data.Dataset.from_tensor_slices(data).batch(32)

    def make_validation():
        import tensorflow as tf

        data = (np.load(tmp_path / "x.npy")[225:], np.load(tmp_path / "y.npy")[225:])
        return tf.data.Dataset.from_tensor_slices(data).batch(64)

    tuner = kh.Tuner(
        make_builder(),
        "val_loss",
        max_trials=5,
        directory=tmp_path,
        project_name="p",
        seed=2,
        executor="processes",
        n_workers=2,
        pruner="median",
        verbose=0,
    )
    tuner.search(make_dataset, validation_data=make_validation, epochs=3, verbose=0)
    assert len(tuner.trials) == 5
    assert all(t.finished and len(t.history) >= 1 for t in tuner.trials)
    assert all(t.status != FAILED for t in tuner.trials), [
        t.error for t in tuner.trials
    ]


def test_a_dataset_that_cannot_travel_is_refused_before_training(tmp_path, digits):
    import tensorflow as tf

    x, y = digits
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    tuner = kh.Tuner(
        make_builder(),
        "loss",
        max_trials=2,
        directory=tmp_path,
        executor="processes",
        n_workers=2,
        verbose=0,
    )
    with pytest.raises(TypeError, match="function without arguments"):
        tuner.search(dataset, epochs=1, verbose=0)
    assert tuner.trials == []


@contextlib.contextmanager
def _dask_client(config=None):
    """A client of a real LocalCluster: two worker processes of one thread each."""
    distributed = pytest.importorskip("distributed")
    import dask

    with (
        dask.config.set(config or {}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_dask_local_cluster_runs_each_trial_once(tmp_path, digits):
    x, y = digits
    with _dask_client() as client:
        tuner = kh.Tuner(
            make_builder(),
            "val_accuracy",
            max_trials=5,
            directory=tmp_path,
            seed=3,
            executor=client,
            verbose=0,
        )
        # The TensorBoard callback runs on the workers, which share no project
        # folder with this process: each trial still logs into its own folder.
        board = keras.callbacks.TensorBoard(str(tmp_path / "logs"))
        tuner.search(
            x, y, epochs=2, validation_split=0.25, verbose=0, callbacks=[board]
        )
        # Each worker unpickled the search's Job (builder and arrays) once and
        # ran every one of its trials with it.
        loaded = client.run(lambda: list(dask_execution._JOBS))
        assert len(loaded) == 2
        assert len({tuple(digests) for digests in loaded.values()}) == 1
        assert all(len(digests) == 1 for digests in loaded.values())

    assert _ids_and_statuses(tuner) == [(i, COMPLETED) for i in range(1, 6)]
    logs = sorted(p for p in (tmp_path / "logs").iterdir() if p.is_dir())
    assert [p.name for p in logs] == [f"trial_{i:04d}" for i in range(1, 6)]
    assert all(any(p.rglob("events.out.tfevents.*")) for p in logs)
    path = tuner.export(tmp_path / "best.keras")
    loaded = keras.models.load_model(path)
    assert loaded.predict(x[:3], verbose=0).shape == (3, 10)


def test_a_dask_worker_killed_mid_trial_fails_that_trial_only(tmp_path, digits):
    # No retry on another worker: the scheduler gives up on the task at once.
    with _dask_client({"distributed.scheduler.allowed-failures": 0}) as client:
        failed = _search_with_one_trial_killed(tmp_path, digits, executor=client)
    assert "The Dask task running this trial failed" in failed.error
    assert "KilledWorker" in failed.error


def test_resume_after_a_stop_reruns_the_trials_that_were_running(tmp_path, digits):
    x, y = digits
    store_dir = tmp_path / "search"
    tuner = kh.Tuner(
        make_builder(),
        "val_loss",
        max_trials=4,
        directory=tmp_path,
        seed=4,
        verbose=0,
    )
    # A search killed with two trials running leaves two running rows.
    for trial_id in (1, 2):
        tuner._store.write(Trial(id=trial_id, params={}, status=INTERRUPTED))
    assert store_dir.exists()
    resumed = kh.Tuner(
        make_builder(),
        "val_loss",
        max_trials=4,
        directory=tmp_path,
        seed=4,
        executor="processes",
        n_workers=2,
        verbose=0,
    )
    resumed.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert _ids_and_statuses(resumed) == [(i, COMPLETED) for i in range(1, 5)]


def test_a_task_does_not_carry_the_data(tmp_path, digits):
    x, y = digits
    tuner = kh.Tuner(make_builder(), directory=tmp_path, executor="processes")
    plan = fit_arguments.plan((x, y), {"epochs": 1})
    task = Task(Trial(1, {"lr": 0.01}), None, [], [Trial(1, {})] * 50)
    job = Job(tuner.builder, plan, tuner.objective, tuner.algorithm.key)
    assert len(pickle.dumps(task)) < 10_000 < x.nbytes < len(pickling.dumps(job))


def test_module_level_builders_pickle_by_name_without_cloudpickle():
    restored = pickle.loads(pickle.dumps(module_level_builder))
    assert restored is module_level_builder


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"executor": "threads"}, "expects None"),
        ({"n_workers": 2}, "need an executor"),
        ({"executor": "processes", "n_workers": 0}, "n_workers"),
        ({"devices": "GPU:0"}, "devices"),
        ({"devices": ["GPU:x"]}, "GPU:x"),
        ({"devices": ["GPU:0", "GPU:1"], "n_workers": 3}, "one worker per device"),
        ({"executor": "processes", "worker_resources": {"GPU": 1}}, "Dask client"),
        ({"executor": "processes", "worker_resources": {"GPU": -1}}, "resource"),
        (
            {"worker_timeout": 0},
            r"Tuner\(worker_timeout=...\) expects a positive number of seconds. "
            r"Received: 0\.",
        ),
        (
            {"worker_timeout": None},
            r"Tuner\(worker_timeout=...\) expects a positive number of seconds. "
            r"Received: None\.",
        ),
        (
            {"lost_trial_retries": -1},
            r"Tuner\(lost_trial_retries=...\) expects an integer >= 0. Received: -1\.",
        ),
    ],
)
def test_bad_execution_options_name_the_argument(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        kh.Tuner(make_builder(), directory=tmp_path, **options)


def test_a_strategy_is_checked_and_not_combined_with_workers(tmp_path):
    import tensorflow as tf

    with pytest.raises(TypeError, match="tf.distribute.Strategy"):
        kh.Tuner(make_builder(), directory=tmp_path, distribution_strategy="mirrored")
    with pytest.raises(ValueError, match="cannot be combined with executor"):
        kh.Tuner(
            make_builder(),
            directory=tmp_path,
            distribution_strategy=tf.distribute.get_strategy(),
            executor="processes",
        )


def test_devices_pin_each_worker():
    env = processes._worker_environment("GPU:1", threads=1)
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"
    assert processes._worker_environment("CPU", None)["CUDA_VISIBLE_DEVICES"] == ""
    assert processes.check_devices(["/GPU:0", "gpu:1", "CPU"]) == [
        "GPU:0",
        "GPU:1",
        "CPU",
    ]


MIRRORED = textwrap.dedent(
    """
    import sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import numpy as np
    import keras_hparams as kh

    @kh.tunable
    def build():
        model = keras.Sequential([keras.Input((8,))])
        model.add(keras.layers.Dense(kh.Int("units", 4, 16, step=4), activation="relu"))
        model.add(keras.layers.Dense(1))
        lr = kh.Float("lr", 1e-3, 1e-1, log=True)
        model.compile(keras.optimizers.Adam(lr), "mse")
        return model

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    seen = []

    class Where(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(type(self.model.distribute_strategy).__name__)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    tuner = kh.Tuner(build, "val_loss", max_trials=3, directory=sys.argv[1], seed=0,
                     distribution_strategy=strategy, verbose=0)
    tuner.search(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0,
                 callbacks=[Where()])
    assert [t.status for t in tuner.trials] == ["completed"] * 3, tuner.trials
    assert strategy.num_replicas_in_sync == 2
    print("strategies", sorted(set(seen)))
    path = tuner.export(sys.argv[1] + "/best.keras")
    print("exported", path)
    """
)


def test_mirrored_strategy_over_two_cpus_searches_and_exports(tmp_path):
    # Logical devices must be set before TensorFlow starts: a fresh process.
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "strategies ['MirroredStrategy']" in run.stdout
    # Plain Keras, with no keras_hparams import, loads the exported model.
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, keras; m = keras.models.load_model(sys.argv[1]); "
            "print(m.count_params())",
            str(tmp_path / "best.keras"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert int(check.stdout.split()[-1]) > 0


def test_an_error_that_ends_the_search_is_raised_as_in_one_process(tmp_path, digits):
    x, y = digits
    tuner = kh.Tuner(
        make_builder(),
        "val_auc",  # the model reports no AUC
        max_trials=4,
        directory=tmp_path,
        executor="processes",
        n_workers=2,
        verbose=0,
    )
    with pytest.raises(kh.errors.ObjectiveNotFoundError, match="val_accuracy"):
        tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    # The first trial to end raised; the other worker's trial was stopped with
    # the search (interrupted: it reruns on resume), unless it had ended too.
    failed = [t for t in tuner.trials if t.status == FAILED]
    assert failed and all("objective 'val_auc'" in t.error for t in failed)
    assert {t.status for t in tuner.trials} <= {FAILED, INTERRUPTED}
    assert len(tuner.trials) == 2


UNGUARDED = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    import keras_hparams as kh

    @kh.tunable
    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(kh.Float("lr", 1e-3, 1e-1)), "mse")
        return model

    # No `if __name__ == "__main__":` guard: each worker imports this file.
    x = np.ones((32, 4), "float32")
    tuner = kh.Tuner(build, "loss", max_trials=1, directory=sys.argv[1],
                     executor="processes", n_workers=1, verbose=0)
    try:
        tuner.search(x, x[:, :1], epochs=1, verbose=0)
    except kh.NoCompletedTrialError as error:
        print("ERROR:", tuner.trials[0].status, error)
    """
)


def test_a_script_without_a_main_guard_is_told_why_its_workers_die(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    run = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=Path(__file__).parent.parent,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The worker refused to start a search of its own, and said why...
    assert 'under `if __name__ == "__main__":`' in run.stderr
    # ...and the driver recorded the trial as failed, pointing at that message.
    assert "ERROR: failed The search ended with no completed trial" in run.stdout
    assert "trial 1: The worker process running this trial exited with " in (run.stdout)
    assert "It finished no trial; its error is printed above." in run.stdout


@kh.tunable
def unsaveable_builder():
    model = keras.Sequential([keras.Input((64,))])
    model.add(keras.layers.Dense(kh.Int("units", 4, 16, step=4, default=8)))
    model.add(Unsaveable())
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_lost_trial_runs_again_when_asked_and_keeps_its_score_without_a_file(
    tmp_path, digits
):
    # One worker process kills itself at its trial's first epoch end; with
    # lost_trial_retries=1 that trial runs again on the new worker. No model of
    # this builder can be saved: every trial keeps its score and says why.
    x, y = digits
    marker = tmp_path / "kill-me"
    marker.write_text("")
    tuner = kh.Tuner(
        unsaveable_builder,
        "val_loss",
        max_trials=3,
        directory=tmp_path,
        seed=5,
        executor="processes",
        n_workers=1,
        lost_trial_retries=1,
        verbose=0,
    )
    tuner.search(
        x,
        y,
        epochs=2,
        validation_split=0.25,
        verbose=0,
        callbacks=[KillOnce(str(marker))],
    )
    assert (tmp_path / "kill-me.claimed").exists()
    assert _ids_and_statuses(tuner) == [(i, COMPLETED) for i in (1, 2, 3)]
    for trial in tuner.trials:
        assert trial.extra["no_checkpoint"].startswith(
            "its model could not be saved: NotImplementedError: this layer cannot "
            "be saved"
        ), trial.extra
    assert not list(tmp_path.rglob("*.keras"))


_ORPHAN = textwrap.dedent("""
    import importlib.util, multiprocessing, os, sys, time

    def load_lifeline():
        spec = importlib.util.spec_from_file_location("lifeline", sys.argv[1])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def worker(driver, beat):
        lifeline = load_lifeline()
        lifeline._die_with_parent = lambda: None  # as on macOS: the thread alone
        lifeline.start(driver, beat)
        time.sleep(120)

    if __name__ == "__main__":
        context = multiprocessing.get_context("spawn")
        beat = context.RawValue("d", 0.0)
        process = context.Process(target=worker, args=(os.getpid(), beat))
        process.start()
        while beat.value == 0:
            time.sleep(0.01)
        print(process.pid, flush=True)
        time.sleep(120)
""")


def test_a_worker_whose_driver_dies_ends_without_a_parent_death_signal(tmp_path):
    # The portable half of the lifeline (macOS has no PR_SET_PDEATHSIG): the
    # thread that watches the parent ends the worker once its driver is gone.
    from keras_hparams.execution import lifeline
    from tests.faults.launch import wait_gone

    script = tmp_path / "driver.py"
    script.write_text(_ORPHAN)
    driver = subprocess.Popen(
        [sys.executable, str(script), lifeline.__file__],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        worker = int(driver.stdout.readline())
    finally:
        driver.kill()
        driver.wait(30)
    assert wait_gone([worker], timeout=60) == []
