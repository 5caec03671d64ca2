import sys

import keras
import pytest

import keras_hparams as kh
from keras_hparams.callbacks import HParamsLogger, for_trial, per_trial_paths
from keras_hparams.objective import Objective
from keras_hparams.trial import Trial
from tests.test_results import digits_200, make_tuner, shared_search

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, metadata  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return shared_search(tmp_path_factory)


@pytest.fixture(scope="module")
def tuner(root):
    return make_tuner(root)


def read_events(folder):
    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def test_each_trial_gets_fresh_copies_and_its_own_tensorboard_folder(tmp_path):
    board = keras.callbacks.TensorBoard(str(tmp_path / "logs"))
    stopping = keras.callbacks.EarlyStopping(patience=2)
    objective = Objective("val_accuracy", "max")
    prepared = for_trial([stopping, board], Trial(7, {"lr": 0.1}), objective)
    copy, board_copy, logger = prepared
    assert isinstance(copy, keras.callbacks.EarlyStopping) and copy is not stopping
    assert board_copy is not board
    assert board_copy.log_dir == str(tmp_path / "logs" / "trial_0007")
    assert board.log_dir == str(tmp_path / "logs")  # the user's stays as it was
    assert isinstance(logger, HParamsLogger)
    assert logger.log_dir == board_copy.log_dir
    assert logger.objective == objective


def test_trial_folders_hold_the_values_and_score_for_the_hparams_dashboard(tuner):
    logs = tuner.project_directory.parent / "logs"
    trials = tuner.trials
    assert sorted(p.name for p in logs.iterdir() if p.is_dir()) == [
        f"trial_{t.id:04d}" for t in trials
    ]
    for trial in trials:
        folder = logs / f"trial_{trial.id:04d}"
        events = read_events(folder)
        start = metadata.parse_session_start_info_plugin_data(
            events.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
        )
        assert start.group_name == f"trial_{trial.id:04d}"
        values = {
            name: getattr(value, value.WhichOneof("kind"))
            for name, value in start.hparams.items()
        }
        assert values == pytest.approx(trial.params)
        (score,) = events.Tensors("val_accuracy")
        assert score.step == 0  # one point per run: one run here
        assert tensor_util.make_ndarray(score.tensor_proto) == pytest.approx(
            trial.score
        )
        end = metadata.parse_session_end_info_plugin_data(
            events.SummaryMetadata(metadata.SESSION_END_INFO_TAG).plugin_data.content
        )
        assert end.status == api_pb2.STATUS_SUCCESS
        # Keras's own logs, in the trial's folder.
        assert read_events(folder / "validation").Tensors("epoch_accuracy")


def test_tensorboard_hparams_plugin_lists_every_trial_with_its_score(tuner):
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context, list_session_groups

    logs = str(tuner.project_directory.parent / "logs")
    multiplexer = pem.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logs)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logs)
    plugin = backend_context.Context(
        base_plugin.TBContext(data_provider=provider, logdir=logs)
    )
    score = api_pb2.MetricName(group="", tag="val_accuracy")
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0,
        slice_size=100,
        allowed_statuses=[api_pb2.STATUS_SUCCESS],
        col_params=[api_pb2.ColParams(hparam=n) for n in tuner.space.names]
        + [api_pb2.ColParams(metric=score)],
    )
    handler = list_session_groups.Handler(context.RequestContext(), plugin, "", request)
    groups = {g.name: g for g in handler.run().session_groups}
    assert sorted(groups) == [f"trial_{t.id:04d}" for t in tuner.trials]
    for trial in tuner.trials:
        group = groups[f"trial_{trial.id:04d}"]
        assert set(group.hparams) == set(trial.params)
        (value,) = [m.value for m in group.metric_values if m.name == score]
        assert value == pytest.approx(trial.score)


def test_without_tensorboard_the_search_runs_and_warns(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "tensorboard"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    x, y = digits_200()
    tuner = make_tuner(tmp_path)
    tuner.max_trials = 2
    with pytest.warns(UserWarning, match=r'pip install "keras-hparams\[tensorboard\]"'):
        tuner.search(
            x,
            y,
            epochs=1,
            validation_split=0.25,
            verbose=0,
            callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "logs"))],
        )
    assert [t.status for t in tuner.trials] == ["completed", "completed"]
    assert not (tmp_path / "logs").exists()


def test_with_cross_validation_the_score_is_the_mean_over_folds(tmp_path):
    x, y = digits_200()
    tuner = make_tuner(tmp_path, cv=2)
    tuner.max_trials = 1
    logs = tmp_path / "logs"
    board = keras.callbacks.TensorBoard(str(logs), write_graph=False)
    tuner.search(x, y, epochs=2, verbose=0, callbacks=[board])
    (trial,) = tuner.trials
    assert len(trial.extra["scores"]) == 2
    events = read_events(logs / "trial_0001")
    points = events.Tensors("val_accuracy")
    assert [p.step for p in points] == [0, 1]
    last = tensor_util.make_ndarray(points[-1].tensor_proto)
    assert last == pytest.approx(trial.score)  # the mean of the two folds' bests
    # One event file for both runs, so that TensorBoard reads the points in order.
    assert len(list((logs / "trial_0001").glob("events.out.tfevents.*"))) == 1


def test_hparams_values_are_ones_the_dashboard_accepts():
    trial = Trial(1, {"act": None, "units": 8, "rate": 0.5, "bn": True, "f": "a"})
    logger = HParamsLogger("logs", trial, Objective("val_loss", "min"))
    assert logger.values == {
        "act": "None",
        "units": 8,
        "rate": 0.5,
        "bn": True,
        "f": "a",
    }
    assert logger.trial_id == "trial_0001"


def test_a_fit_without_the_objective_records_a_failed_session(tmp_path):
    x, y = digits_200()
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    logger = HParamsLogger(
        str(tmp_path), Trial(3, {"a": 1}), Objective("val_auc", "max")
    )
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    events = read_events(tmp_path)
    end = metadata.parse_session_end_info_plugin_data(
        events.SummaryMetadata(metadata.SESSION_END_INFO_TAG).plugin_data.content
    )
    assert end.status == api_pb2.STATUS_FAILURE
    assert "val_auc" not in events.Tags()["tensors"]
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1


def test_a_diverged_run_records_a_failed_session_without_score(tmp_path):
    x, y = digits_200()
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Lambda(lambda t: t * float("nan")),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    logger = HParamsLogger(str(tmp_path), Trial(4, {}), Objective("loss", "min"))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    events = read_events(tmp_path)
    end = metadata.parse_session_end_info_plugin_data(
        events.SummaryMetadata(metadata.SESSION_END_INFO_TAG).plugin_data.content
    )
    assert end.status == api_pb2.STATUS_FAILURE
    assert "loss" not in events.Tags()["tensors"]


def test_callbacks_that_write_files_get_a_path_per_trial(tmp_path):
    objective = Objective("val_loss", "min")
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt" / "e{epoch}.keras")),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
    ]
    checkpoint, logger, backup = for_trial(callbacks, Trial(3, {}), objective)
    folder = "trial_0003"
    assert checkpoint.filepath == str(tmp_path / "ckpt" / folder / "e{epoch}.keras")
    assert logger.filename == str(tmp_path / folder / "log.csv")
    assert (tmp_path / folder).is_dir()  # CSVLogger opens its file without mkdir
    assert backup.backup_dir == str(tmp_path / "backup" / folder)
    assert backup._weights_path.startswith(backup.backup_dir)
    assert backup._training_metadata_path.startswith(backup.backup_dir)
    assert callbacks[0].filepath == str(tmp_path / "ckpt" / "e{epoch}.keras")
    assert per_trial_paths(callbacks) == [
        f"ModelCheckpoint(filepath={callbacks[0].filepath!r}) writes each trial's "
        f"files to {tmp_path / 'ckpt' / 'trial_NNNN' / 'e{epoch}.keras'}",
        f"CSVLogger(filename={callbacks[1].filename!r}) writes each trial's files "
        f"to {tmp_path / 'trial_NNNN' / 'log.csv'}",
        f"BackupAndRestore(backup_dir={callbacks[2].backup_dir!r}) writes each "
        f"trial's files to {tmp_path / 'backup' / 'trial_NNNN'}",
    ]


def read_experiment(folder):
    events = read_events(folder)
    content = events.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content
    return metadata.parse_experiment_plugin_data(content)


def domain_of(info):
    if info.HasField("domain_interval"):
        return (info.domain_interval.min_value, info.domain_interval.max_value)
    return [getattr(v, v.WhichOneof("kind")) for v in info.domain_discrete.values]


def test_with_the_space_the_dashboard_knows_every_domain_and_the_objective_first(
    tmp_path,
):
    x, y = digits_200()
    space = kh.SearchSpace(
        [
            kh.Int("units", 4, 16, step=4),
            kh.Int("layers", 1, 300),
            kh.Float("lr", 1e-3, 1e-1, log=True),
            kh.Float("dropout", 0.0, 0.4, step=0.2),
            kh.Choice("act", ["relu", "tanh", "gelu"]),
            kh.Choice("mixed", [1, None]),
            kh.Boolean("bn"),
            kh.Fixed("seed", 3),
        ]
    )
    values = {"units": 8, "layers": 2, "lr": 0.01, "dropout": 0.2, "act": "tanh",
              "mixed": None, "bn": True, "seed": 3, "batch_size": 16}  # fmt: skip
    for trial_id in (1, 2):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        logger = HParamsLogger(
            str(tmp_path / "logs" / f"trial_{trial_id:04d}"),
            Trial(trial_id, values, started=float(trial_id)),
            Objective("val_loss", "min"),
            space=space,
        )
        model.fit(x, y, epochs=1, validation_split=0.25, verbose=0,
                  callbacks=[logger])  # fmt: skip
    assert len(list((tmp_path / "logs").glob("events.out.tfevents.*"))) == 1
    experiment = read_experiment(tmp_path / "logs")
    infos = {info.name: info for info in experiment.hparam_infos}
    assert list(infos) == [*space.names, "batch_size"]
    assert domain_of(infos["units"]) == [4, 8, 12, 16]
    assert domain_of(infos["layers"]) == (1, 300)  # too many to list
    assert domain_of(infos["lr"]) == pytest.approx((1e-3, 1e-1))
    assert domain_of(infos["dropout"]) == pytest.approx([0.0, 0.2, 0.4])
    assert domain_of(infos["act"]) == ["gelu", "relu", "tanh"]  # tanh alone tried
    assert domain_of(infos["mixed"]) == ["1", "None"]  # one type, as TB needs
    assert domain_of(infos["bn"]) == [False, True]
    assert domain_of(infos["seed"]) == [3]
    assert infos["units"].type == api_pb2.DATA_TYPE_FLOAT64  # numbers, listed as ints
    assert not infos["batch_size"].HasField("domain_discrete")
    metrics = [(m.name.group, m.name.tag) for m in experiment.metric_infos]
    assert metrics == [
        ("", "val_loss"),
        ("train", "epoch_accuracy"),
        ("train", "epoch_loss"),
        ("validation", "epoch_accuracy"),
        ("validation", "epoch_loss"),
    ]
    # The session's values are those of the domains, so the dashboard matches them.
    start = metadata.parse_session_start_info_plugin_data(
        read_events(tmp_path / "logs" / "trial_0002")
        .SummaryMetadata(metadata.SESSION_START_INFO_TAG)
        .plugin_data.content
    )
    logged = {n: getattr(v, v.WhichOneof("kind")) for n, v in start.hparams.items()}
    assert logged["mixed"] == "None"
    assert logged["units"] == 8 and logged["act"] == "tanh"


def test_a_tuner_declares_its_search_space_to_the_dashboard(tuner):
    # The tuner gives each trial's logger the space: the parent log folder holds
    # the experiment configuration, with every dimension of the search.
    logs = tuner.project_directory.parent / "logs"
    experiment = read_experiment(logs)
    declared = {info.name for info in experiment.hparam_infos}
    assert declared == set(tuner.space.names)
    assert experiment.metric_infos[0].name.tag == tuner.objective.name


_WRITE_CONFIGS = """
import sys, time
from pathlib import Path
import keras_hparams as kh
from keras_hparams import hparams_domains

folder, go, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
space = kh.SearchSpace([kh.Int("units", 4, 16), kh.Choice("act", ["relu", "tanh"])])
while not go.exists():
    time.sleep(0.01)
for i in range(40):
    hparams_domains.write_config(folder, space, {"units": 4, name: i}, "loss", [])
"""


def test_trials_ending_together_in_two_processes_leave_one_configuration(tmp_path):
    # Worker processes and Dask workers end trials at the same moment: each
    # replaces the configuration in the shared log folder without failing the
    # trial, and one configuration is left, not none or two.
    import subprocess

    folder, go = tmp_path / "logs", tmp_path / "go"
    folder.mkdir()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITE_CONFIGS, str(folder), str(go), name],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    go.touch()
    errors = [w.communicate(timeout=600)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    experiment = read_experiment(folder)
    declared = [info.name for info in experiment.hparam_infos]
    assert declared[:2] == ["units", "act"] and declared[2] in ("a", "b")
