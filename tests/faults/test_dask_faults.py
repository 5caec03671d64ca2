"""What a Dask cluster does to a long search: workers lost, a network blip, the
scheduler lost.

- Every worker the search started with is killed mid-trial (the LocalCluster's
  nannies start new ones): the search goes on with the new workers; each killed
  trial is recorded as failed with a sentence, and trained once only (Dask's own
  retry of it is refused).
- The connection between the client and the scheduler is cut for a few seconds
  by a TCP forwarder between them: the search rides it out, each trial recorded
  once.
- The scheduler process is killed: the search stops with `kh.SchedulerLostError`,
  which names the scheduler and says that `search()` resumes; the trial that was
  running is recorded as interrupted, and a new scheduler finishes the search.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import pytest

import keras_hparams as kh
from tests.conftest import make_builder
from tests.faults import FULL, TALLY, invariants

distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.skipif(not FULL, reason="KH_FAULTS=full only: Dask clusters"),
]


class Trainings(keras.callbacks.Callback):
    """Logs each training's process id to `folder/fits`; kills its own process at
    its first epoch end if that process is one of `victims` not yet killed."""

    def __init__(self, folder: str, victims: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.folder, self.victims = folder, victims

    def on_train_begin(self, logs=None):
        with open(os.path.join(self.folder, "fits"), "a") as handle:
            handle.write(f"{os.getpid()}\n")

    def on_epoch_end(self, epoch, logs=None):
        if os.getpid() not in self.victims:
            return
        try:
            os.close(
                os.open(
                    os.path.join(self.folder, f"killed-{os.getpid()}"),
                    os.O_CREAT | os.O_EXCL,
                )
            )
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


def fits(folder: Path) -> list[int]:
    path = folder / "fits"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def search(client, folder: Path, max_trials: int, victims=()) -> kh.Tuner:
    tuner = kh.Tuner(
        make_builder(),
        "val_accuracy",
        max_trials=max_trials,
        directory=folder,
        project_name="p",
        seed=0,
        executor=client,
        verbose=0,
    )
    x, y = load()
    tuner.search(
        x,
        y,
        epochs=2,
        validation_split=0.25,
        verbose=0,
        callbacks=[Trainings(str(folder), tuple(victims))],
    )
    return tuner


def load():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:200] / 16.0).astype("float32"), y[:200].astype("int32")


@contextlib.contextmanager
def local_cluster(**client_options):
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, **client_options) as client,
    ):
        yield cluster, client


def test_the_search_outlives_every_worker_it_started_with(tmp_path):
    with local_cluster() as (_, client):
        originals = set(client.run(os.getpid).values())
        tuner = search(client, tmp_path, max_trials=6, victims=originals)
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=2)
    statuses = [r.status for r in rows]
    assert statuses.count("failed") == 2 and statuses.count("completed") == 4, rows
    for row in rows:
        if row.status == "failed":
            # Both originals may die with a trial queued on them: 1 or 2 times.
            assert re.match(
                r"The Dask worker running this trial died or was lost \(\d times?\), "
                "so it is recorded as failed rather than trained again",
                row.error,
            ), row.error
    assert {int(p.name.split("-")[1]) for p in tmp_path.glob("killed-*")} == originals
    trained = fits(tmp_path)
    assert len(trained) == 6  # 4 completed, 2 killed: none trained twice
    assert not set(trained[-2:]) & originals  # the last ran on new workers
    assert tuner.best_model().compiled
    TALLY["faults injected: Dask worker killed mid-trial"] += 2


class Forwarder:
    """A TCP forwarder from a local port to `target` that can cut every
    connection through it and refuse new ones for a while (a network blip)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.cut_until = 0.0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inbound, _ = self.server.accept()
            except OSError:
                return
            if time.monotonic() < self.cut_until:
                inbound.close()
                continue
            outbound = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((inbound, outbound))
            threading.Thread(
                target=self._pump, args=(inbound, outbound), daemon=True
            ).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)

    def cut(self, seconds: float) -> None:
        """Closes every connection through it; refuses new ones for `seconds`."""
        self.cut_until = time.monotonic() + seconds
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for end in pair:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        self.server.close()
        self.cut(0)


def cut_when_training(folder: Path, forwarder: Forwarder, seconds: float) -> None:
    deadline = time.monotonic() + 300
    while not fits(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    forwarder.cut(seconds)
    (folder / "cut").touch()


def test_a_network_blip_between_client_and_scheduler_is_ridden_out(tmp_path):
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        host, port = cluster.scheduler_address.removeprefix("tcp://").split(":")
        forwarder = Forwarder((host, int(port)))
        try:
            with distributed.Client(forwarder.address, timeout=30) as client:
                cutter = threading.Thread(
                    target=cut_when_training, args=(tmp_path, forwarder, 4)
                )
                cutter.start()
                search(client, tmp_path, max_trials=4)
                cutter.join()
        finally:
            forwarder.close()
    assert (tmp_path / "cut").exists()
    rows = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(rows, epochs=2)
    assert [r.status for r in rows] == ["completed"] * 4
    TALLY["faults injected: 4 s client-scheduler blip"] += 1


@contextlib.contextmanager
def scheduler_and_worker(folder: Path):
    """A scheduler process and a worker process, started with Dask's own commands."""
    file = folder / f"scheduler-{time.monotonic_ns()}.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    logs = open(folder / "dask.log", "ab")
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
            env=env,
            stdout=logs,
            stderr=logs,
        )
    ]
    try:
        deadline = time.monotonic() + 120
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(file),
                ],
                env=env,
                stdout=logs,
                stderr=logs,
            )
        )
        address = json.loads(file.read_text())["address"]
        yield processes[0], address
    finally:
        for process in processes:
            process.kill()
            process.wait(30)
        logs.close()


def kill_when_training(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not fits(folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()


def test_a_lost_scheduler_stops_the_search_with_a_sentence(tmp_path):
    with scheduler_and_worker(tmp_path) as (scheduler, address):
        with distributed.Client(address, timeout=5) as client:
            client.wait_for_workers(1, timeout=120)
            killer = threading.Thread(
                target=kill_when_training, args=(tmp_path, scheduler)
            )
            killer.start()
            with pytest.raises(kh.SchedulerLostError) as raised:
                search(client, tmp_path, max_trials=3)
            killer.join()
    message = str(raised.value)
    assert message.startswith(f"The Dask scheduler at {address} could not be reached")
    assert "run search() again to resume them" in message
    rows = invariants.read_rows(tmp_path / "p")
    assert [r.status for r in rows] == ["interrupted"]
    assert rows[0].error.startswith("the search stopped: The Dask scheduler at")

    with scheduler_and_worker(tmp_path) as (_, address):  # a new one: resume
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=120)
            search(client, tmp_path, max_trials=3)
    resumed = invariants.read_rows(tmp_path / "p")
    invariants.check_rows(resumed, epochs=2)
    assert [r.status for r in resumed] == ["completed"] * 3
    defaults = {"layers": 1, "units_0": 8, "act": "relu", "lr": 0.01}
    assert resumed[0].params == defaults  # the interrupted trial, run again
    TALLY["faults injected: Dask scheduler killed"] += 1
