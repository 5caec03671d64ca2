import html.parser

import pytest

import keras_hparams as kh
from keras_hparams import display
from keras_hparams.loaded import load
from keras_hparams.trial import COMPLETED, FAILED, RUNNING, Trial
from tests.test_results import PROJECT, make_tuner, shared_search, write_search


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return shared_search(tmp_path_factory)


class Cells(html.parser.HTMLParser):
    """The text of each <th>/<td> of an HTML table, row by row."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None


def table(markup):
    parser = Cells()
    parser.feed(markup)
    return parser.rows


def test_a_tuner_and_a_loaded_search_show_counts_best_and_top_trials(root):
    tuner = make_tuner(root)
    with load(root) as search:
        for shown in (tuner, search):
            text = repr(shown)
            name = type(shown).__name__
            assert text.startswith(f"{name} in {root / PROJECT}\n")
            assert "Objective: val_accuracy (max). Trials: 4 (4 completed)." in text
            best = shown.best_trial
            assert f"Best: trial {best.id}, val_accuracy={best.score:.4g}." in text
            lines = text.split("Top 4 of 4 completed trials:\n")[1].splitlines()
            assert lines[0].split()[:3] == ["rank", "trial", "val_accuracy"]
            ranked = [int(line.split()[1]) for line in lines[2:]]
            assert ranked == [t.id for t in shown.ranked_trials()]

            markup = shown._repr_html_()
            assert f"<div>{name} in {root / PROJECT}</div>" in markup
            rows = table(markup)
            assert rows[0][:4] == ["rank", "trial", "val_accuracy", "best epoch"]
            assert [int(row[1]) for row in rows[1:]] == ranked
            assert float(rows[1][2]) == pytest.approx(best.score, rel=1e-3)


def test_only_the_best_few_trials_are_listed(tmp_path):
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    trials = [Trial(i, {"lr": 0.01 * i}, COMPLETED, 1.0 / i) for i in range(1, 9)]
    trials.append(Trial(9, {"lr": 0.09}, FAILED, error="boom"))
    with load(write_search(tmp_path / "p", trials, space)) as search:
        text = repr(search)
        rows = table(search._repr_html_())
    assert "Trials: 9 (8 completed, 1 failed)." in text
    assert f"Top {display.TOP_TRIALS} of 8 completed trials:" in text
    assert [int(row[1]) for row in rows[1:]] == [8, 7, 6, 5, 4]


def test_an_empty_or_running_search_shows_safely(tmp_path):
    space = kh.SearchSpace([kh.Choice("act", ["<b>relu</b>", "tanh"])])
    with load(write_search(tmp_path / "empty", [], space)) as search:
        assert repr(search) == (
            f"LoadedSearch in {tmp_path / 'empty'}\n"
            "Objective: val_loss (min). Trials: 0.\n"
            "No completed trial yet."
        )
        assert "No completed trial yet." in search._repr_html_()
    trials = [
        Trial(1, {"act": "<b>relu</b>"}, COMPLETED, 0.5),
        Trial(2, {"act": "tanh"}, RUNNING),
    ]
    with load(write_search(tmp_path / "p", trials, space)) as search:
        markup = search._repr_html_()
    assert "Trials: 2 (1 running, 1 completed)." in markup
    assert "&lt;b&gt;relu&lt;/b&gt;" in markup and "<b>" not in markup
    fresh = make_tuner(tmp_path / "fresh")
    assert repr(fresh).endswith("Trials: 0.\nNo completed trial yet.")


def test_a_closed_search_shows_its_folder_and_never_raises(tmp_path):
    space = kh.SearchSpace([kh.Float("lr", 0.01, 0.1)])
    search = load(write_search(tmp_path / "p", [], space))
    search.close()
    assert repr(search) == f"<LoadedSearch {tmp_path / 'p'}>"
    assert search._repr_html_() == f"<pre>&lt;LoadedSearch {tmp_path / 'p'}&gt;</pre>"
