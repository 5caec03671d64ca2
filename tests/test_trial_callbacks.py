import keras
import pytest

import keras_hparams as kh
from keras_hparams.loaded import load
from keras_hparams.trial import COMPLETED, Trial
from keras_hparams.trial_callbacks import TrialCallback
from tests.test_results import write_search


class Recorder(TrialCallback):
    """Overrides one hook; the others are the base class's."""

    def __init__(self):
        self.ended = []

    def on_trial_end(self, search, trial):
        self.ended.append((search.best_score, trial.id, trial.status))


def test_hooks_are_optional_and_see_the_search_and_the_trial(tmp_path):
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    trial = Trial(1, {"lr": 0.05}, COMPLETED, 0.4, 0, [{"val_loss": 0.4}])
    recorder = Recorder()
    with load(write_search(tmp_path / "p", [trial], space)) as search:
        assert recorder.on_search_begin(search) is None
        assert recorder.on_trial_begin(search, trial) is None
        recorder.on_trial_end(search, trial)
        assert recorder.on_search_end(search) is None
        assert search.trials == [trial]  # the base hooks changed nothing
    assert recorder.ended == [(0.4, 1, COMPLETED)]


class Events(TrialCallback):
    """Records every hook as the tuner calls it, with what the store says then."""

    def __init__(self):
        self.events = []

    def on_search_begin(self, search):
        self.events.append(("search_begin",))

    def on_trial_begin(self, search, trial):
        self.events.append(("begin", trial.id, trial.status, dict(trial.params)))

    def on_trial_end(self, search, trial):
        stored = {t.id: t for t in search.trials}[trial.id]
        self.events.append(("end", trial.id, trial.status, stored.status))

    def on_search_end(self, search):
        self.events.append(("search_end", len(search.trials)))


def test_the_tuner_calls_each_hook_in_order(digits, tmp_path):
    from tests.conftest import make_builder
    from tests.test_tuner import FailAt, make_tuner, search

    events = Events()
    tuner = make_tuner(make_builder(), tmp_path, max_trials=3, trial_callbacks=[events])
    search(tuner, digits, epochs=1)
    assert events.events[0] == ("search_begin",)
    assert events.events[-1] == ("search_end", 3)
    for trial in tuner.trials:
        begin, end = [e for e in events.events[1:-1] if e[1] == trial.id]
        # begin: the values the build used, the row running; end: recorded.
        assert begin == ("begin", trial.id, "running", trial.params)
        assert end == ("end", trial.id, "completed", "completed")

    # A search that stops on an error still ends its callbacks' search.
    stopped = Events()
    failing = make_tuner(
        make_builder(),
        tmp_path / "2",
        max_trials=3,
        max_consecutive_failures=1,
        trial_callbacks=[stopped],
    )
    with pytest.raises(kh.TooManyFailuresError):
        search(failing, digits, epochs=2, callbacks=[FailAt(0)])
    assert [e[0] for e in stopped.events] == [
        "search_begin",
        "begin",
        "end",
        "search_end",
    ]
    assert stopped.events[2][2] == "failed"


@pytest.mark.parametrize("value", [[object()], "mlflow", [keras.callbacks.History()]])
def test_trial_callbacks_must_be_trial_callbacks(tmp_path, value):
    from tests.conftest import make_builder

    with pytest.raises(
        TypeError, match=r"trial_callbacks=...\) expects a list of kh.TrialCallback"
    ):
        kh.Tuner(make_builder(), directory=tmp_path, trial_callbacks=value)
