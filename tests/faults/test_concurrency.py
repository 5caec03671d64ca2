"""Two processes pointed at one project folder at the same time.

The second gets `kh.SearchLockedError` with a clear message and changes nothing; once
the first has ended, a new search resumes the project as usual.
"""

from __future__ import annotations

import pytest

from tests.faults import TALLY, child, invariants, launch, scaled

pytestmark = pytest.mark.faults

RACES = scaled(1, 8)


def hold_first_search(tmp_path, **config) -> launch.Search:
    """A search held at the first batch of its first trial."""
    first = launch.start(tmp_path, hold=str(tmp_path / "release"), **config)
    assert first.wait_for("holding"), first.output()[-3000:]
    return first


def release(tmp_path, first: launch.Search) -> None:
    (tmp_path / "release").touch()
    assert first.wait() == 0, first.output()[-3000:]


def test_second_process_is_refused_then_the_project_resumes(tmp_path):
    first = hold_first_search(tmp_path, max_trials=1)
    project = tmp_path / "p"
    before = invariants.read_rows(project)

    second = launch.run(tmp_path, max_trials=1)
    assert second.poll() == 1
    result = second.result()
    assert result["error"] == "SearchLockedError", result
    assert f"Another process is searching in {project}" in result["message"]
    assert "another project_name" in result["message"]
    assert invariants.read_rows(project) == before  # it wrote nothing

    release(tmp_path, first)
    third = launch.run(tmp_path, max_trials=2)
    assert third.poll() == 0, third.output()[-3000:]
    rows = invariants.read_rows(project)
    invariants.check_rows(rows, epochs=child.EPOCHS)
    assert [r.status for r in rows] == ["completed"] * 2
    invariants.check_files(project, rows, keep=2, final=True)


def test_two_processes_started_at_once_run_one_search(tmp_path):
    for race in range(RACES):
        folder = tmp_path / f"race{race}"
        searches = [launch.start(folder, max_trials=2) for _ in range(2)]
        codes = sorted(search.wait() for search in searches)
        results = [search.result() for search in searches]
        assert codes == [0, 1], [s.output()[-2000:] for s in searches]
        assert {"done": True} in results
        assert any(r.get("error") == "SearchLockedError" for r in results), results
        rows = invariants.read_rows(folder / "p")
        invariants.check_rows(rows, epochs=child.EPOCHS)
        assert [r.status for r in rows] == ["completed"] * 2
        invariants.check_files(folder / "p", rows, keep=2, final=True)
        TALLY["lock races"] += 1


def test_overwrite_while_another_process_searches_is_refused(tmp_path):
    first = hold_first_search(tmp_path, max_trials=2)
    project = tmp_path / "p"
    before = invariants.read_rows(project)

    second = launch.run(tmp_path, max_trials=2, overwrite=True)
    try:
        assert second.result().get("error") == "SearchLockedError", second.result()
        assert invariants.read_rows(project) == before
    finally:
        release(tmp_path, first)
    rows = invariants.read_rows(project)
    assert [r.status for r in rows] == ["completed"] * 2


def test_a_refused_process_changes_nothing_in_the_project(tmp_path):
    first = hold_first_search(tmp_path, max_trials=2)
    second = launch.run(tmp_path, max_trials=2, objective="val_loss")
    try:
        assert second.result()["error"] == "SearchLockedError", second.result()
    finally:
        release(tmp_path, first)
    third = launch.run(tmp_path, max_trials=3)
    assert third.result() == {"done": True}, third.result()
