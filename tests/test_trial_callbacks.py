import keras_hparams as kh
from keras_hparams.results import load
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
