"""The cluster step compares this run's guided topics with the previous run's (run documents)."""

from __future__ import annotations

from pathlib import Path

from common.adapters.local.sqlite_state import SQLiteStateStore
from common.steps.cluster import previous_topics

SIZES = {"sizes": {"price": 10}, "new_themes": 4}


def _run(state: SQLiteStateStore, run_id: str, recipe: str, started: str, **doc: object) -> None:
    state.create_run(run_id, {"run_id": run_id, "recipe": recipe, "started_at": started})
    if doc:
        state.update_run(run_id, dict(doc))


def test_the_newest_earlier_run_of_the_recipe_with_topics(tmp_path: Path) -> None:
    state = SQLiteStateStore(tmp_path / "state.sqlite")
    _run(state, "a", "themes", "2026-11-01T00:00:00+00:00", clustering={"topics": SIZES})
    newer = {"sizes": {"price": 12}, "new_themes": 3}
    _run(state, "b", "themes", "2026-11-02T00:00:00+00:00", clustering={"topics": newer})
    _run(state, "c", "themes", "2026-11-03T00:00:00+00:00", clustering={"texts": 0})  # no topics
    _run(state, "other", "else", "2026-11-03T00:00:00+00:00", clustering={"topics": SIZES})
    _run(state, "now", "themes", "2026-11-04T00:00:00+00:00")
    # Started after this run (an overlapping one): not "previous".
    _run(state, "later", "themes", "2026-11-05T00:00:00+00:00", clustering={"topics": SIZES})

    found = previous_topics(state, "themes", "now", "2026-11-04T00:00:00+00:00")
    assert found == {"run_id": "b", **newer}
    assert previous_topics(state, "themes", "a", "2026-11-01T00:00:00+00:00") is None
