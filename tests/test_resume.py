"""A search killed with SIGKILL in the middle of a trial resumes without losing a
finished trial. The search runs in a real subprocess."""

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    from sklearn.datasets import load_digits
    import keras_hparams as kh

    directory, kill_at = sys.argv[1], int(sys.argv[2])

    class KillDuringTrial(keras.callbacks.Callback):
        # Counts trainings in a file, so the count survives the kill.
        def on_train_begin(self, logs=None):
            path = os.path.join(directory, "fits.txt")
            count = int(open(path).read()) + 1 if os.path.exists(path) else 1
            open(path, "w").write(str(count))
            self.count = count

        def on_epoch_end(self, epoch, logs=None):
            if self.count == kill_at and epoch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    @kh.tunable
    def build_model():
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(kh.Int("units", 4, 32, step=4)),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(kh.Float("lr", 1e-3, 1e-1, log=True)),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y = load_digits(return_X_y=True)
    tuner = kh.Tuner(build_model, "val_accuracy", max_trials=4, directory=directory,
                     project_name="p", seed=0, verbose=0)
    tuner.search(x[:300] / 16.0, y[:300], epochs=3, validation_split=0.25, verbose=0,
                 callbacks=[KillDuringTrial()])
    """
)


def run(tmp_path, kill_at):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(tmp_path):
    with sqlite3.connect(tmp_path / "p" / "trials.db") as connection:
        return connection.execute(
            "SELECT id, status, score, params, started FROM trials ORDER BY id"
        ).fetchall()


def test_sigkill_mid_trial_then_resume(tmp_path):
    killed = run(tmp_path, kill_at=3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    before = rows(tmp_path)
    assert [(r[0], r[1]) for r in before] == [
        (1, "completed"),
        (2, "completed"),
        (3, "running"),
    ]
    assert all(r[2] is not None for r in before[:2])

    resumed = run(tmp_path, kill_at=0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = rows(tmp_path)
    assert [(r[0], r[1]) for r in after] == [(i, "completed") for i in range(1, 5)]
    assert after[:2] == before[:2]  # finished trials untouched
    assert after[2][3] == before[2][3]  # the killed trial ran again with its values
    # 3 trainings before the kill, then only trial 3 again and trial 4.
    assert (tmp_path / "fits.txt").read_text() == "5"


EPOCH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    from sklearn.datasets import load_digits
    import keras_hparams as kh

    directory, kill = sys.argv[1], sys.argv[2] == "kill"

    class LogEpochs(keras.callbacks.Callback):
        # Appends each trained epoch to a file; kills the process as epoch 4
        # begins, once epoch 3's progress is saved.
        def on_epoch_end(self, epoch, logs=None):
            with open(os.path.join(directory, "epochs.txt"), "a") as f:
                f.write(f"{epoch + 1}\\n")

        def on_epoch_begin(self, epoch, logs=None):
            if kill and epoch == 3:
                os.kill(os.getpid(), signal.SIGKILL)

    @kh.tunable
    def build_model():
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(kh.Int("units", 4, 32, step=4)),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    x, y = load_digits(return_X_y=True)
    tuner = kh.Tuner(build_model, "val_accuracy", max_trials=1, directory=directory,
                     project_name="p", seed=0, verbose=0, save_progress_every=0)
    tuner.search(x[:300] / 16.0, y[:300], epochs=6, validation_split=0.25, verbose=0,
                 callbacks=[LogEpochs()])
    """
)


def test_interrupted_trial_resumes_from_its_last_epoch(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(EPOCH_SCRIPT)

    def run(mode):
        return subprocess.run(
            [sys.executable, str(script), str(tmp_path), mode],
            capture_output=True,
            text=True,
            timeout=300,
        )

    killed = run("kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    progress = tmp_path / "p" / "trials" / "trial_0001" / "progress.json"
    assert progress.exists()

    resumed = run("resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # Epochs 1-3 before the kill, then only 4-6: the epoch count is honoured.
    assert (tmp_path / "epochs.txt").read_text().split() == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]
    (trial,) = rows(tmp_path)
    assert trial[1] == "completed"
    with sqlite3.connect(tmp_path / "p" / "trials.db") as connection:
        (history,) = connection.execute("SELECT history FROM trials").fetchone()
    assert len(json.loads(history)) == 6
    assert not progress.exists()  # cleared once the trial ended
    assert (tmp_path / "p" / "trials" / "trial_0001" / "model.keras").exists()
