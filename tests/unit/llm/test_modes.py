"""The score and extract modes' pure parts: config, batching, source ids, threshold gating."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from common.llm.config import LLMConfig
from common.llm.items import Item, Outcome
from common.llm.modes import get_mode
from common.llm.modes.extract import render_followup
from common.llm.modes.extract_batches import GROUP, Batch, cut_batches, make_batches
from common.llm.modes.extract_events import (
    MAX_ENUM_IDS,
    batch_model,
    check_sources,
    constrain_sources,
    render_events,
    resolve_sources,
)
from common.llm.modes.score import (
    COLUMNS,
    is_eligible,
    outreach_items,
    score_frame,
    score_model,
)
from common.processors.base import MESSAGE_SCHEMA

T0 = datetime(2026, 11, 20, 14, 3, tzinfo=UTC)


def messages(n: int, *, lead: str = "c1", shuffle: bool = True, text: str = "hi") -> pl.DataFrame:
    """``n`` messages of one lead a minute apart (ids m0000… in time order), rows shuffled."""
    rows = [
        {
            "lead_key": lead,
            "message_id": f"m{i:04d}",
            "sent_at": T0 + timedelta(minutes=i),
            "sender": "user" if i % 2 else "agent",
            "text": f"{text} {i}",
        }
        for i in range(n)
    ]
    if shuffle:
        random.Random(3).shuffle(rows)
    return pl.DataFrame(rows, schema=MESSAGE_SCHEMA).with_columns(pl.col("lead_key").alias(GROUP))


# --- config -----------------------------------------------------------------------------


def test_each_mode_needs_its_section_and_analyze_keeps_needing_a_schema() -> None:
    with pytest.raises(ValidationError, match="needs at least one output field"):
        LLMConfig.model_validate({})
    with pytest.raises(ValidationError, match="mode `score` needs this section"):
        LLMConfig.model_validate({"mode": "score"})
    with pytest.raises(ValidationError, match="mode `extract` needs this section"):
        LLMConfig.model_validate({"mode": "extract"})
    with pytest.raises(ValidationError, match="only applies to mode `score`"):
        LLMConfig.model_validate(
            {"output_schema": {"a": {"type": "string"}}, "scoring": {"threshold": 50}}
        )
    with pytest.raises(ValidationError, match="only mode `analyze` takes an output schema"):
        LLMConfig.model_validate(
            {"mode": "score", "scoring": {}, "output_schema": {"a": {"type": "string"}}}
        )
    config = LLMConfig.model_validate({"mode": "extract", "extraction": {}})
    assert config.extraction is not None
    assert (config.extraction.batch_size, config.extraction.group_by) == (200, "lead_key")
    scoring = LLMConfig.model_validate({"mode": "score", "scoring": {}}).scoring
    assert scoring is not None and scoring.threshold == 70
    assert scoring.criteria_file == "scoring_criteria.md"


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"threshold": 101}, "less than or equal to 100"),
        ({"criteria": "x", "criteria_file": "c.md"}, "either `criteria`"),
    ],
)
def test_bad_scoring_sections_are_refused(section: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        LLMConfig.model_validate({"mode": "score", "scoring": section})


def test_bad_extraction_sections_are_refused() -> None:
    for section, match in [
        ({"batch_size": 0}, "greater than or equal to 1"),
        ({"event_types": ["funding", "funding"]}, "listed twice"),
        ({"event_types": []}, "at least 1"),
    ]:
        with pytest.raises(ValidationError, match=match):
            LLMConfig.model_validate({"mode": "extract", "extraction": section})


def test_modes_declare_their_columns() -> None:
    score = get_mode("score").columns(LLMConfig.model_validate({"mode": "score", "scoring": {}}))
    assert score["lead_score"] == pl.Int64() and score["outreach_eligible"] == pl.Boolean()
    extract = get_mode("extract").columns(
        LLMConfig.model_validate({"mode": "extract", "extraction": {}})
    )
    assert list(extract) == ["event_count", "events_json", "followup_subject", "followup_body"]


# --- batching ---------------------------------------------------------------------------


def test_450_messages_make_three_batches_of_at_most_200_in_time_order() -> None:
    batches = make_batches(messages(450), batch_size=200, token_budget=100_000, timezone="UTC")
    assert [len(b.message_ids) for b in batches] == [200, 200, 50]
    assert [(b.index, b.count) for b in batches] == [(0, 3), (1, 3), (2, 3)]
    ids = [i for b in batches for i in b.message_ids]
    assert ids == [f"m{i:04d}" for i in range(450)]  # every message once, oldest first
    assert all(list(b.sent_at) == sorted(b.sent_at) for b in batches)
    assert batches[2].label == "c1#3/3"


def test_batches_never_mix_groups() -> None:
    frame = pl.concat([messages(250, lead="a"), messages(30, lead="b")])
    batches = make_batches(frame, batch_size=200, token_budget=100_000, timezone="UTC")
    assert [(b.group, len(b.message_ids)) for b in batches] == [("a", 200), ("a", 50), ("b", 30)]


def test_batch_digest_shows_ids_and_local_time() -> None:
    frame = messages(2, shuffle=False)
    [batch] = make_batches(frame, batch_size=200, token_budget=1000, timezone="America/Mexico_City")
    assert batch.digest.splitlines() == [
        "[id=m0000 2026-11-20 08:03] agent: hi 0",
        "[id=m0001 2026-11-20 08:04] user: hi 1",
    ]


def test_token_budget_closes_a_batch_early_without_losing_messages() -> None:
    assert cut_batches([10] * 10, batch_size=200, token_budget=33) == [
        range(0, 3),
        range(3, 6),
        range(6, 9),
        range(9, 10),
    ]
    assert cut_batches([50, 1, 1], batch_size=200, token_budget=20) == [range(0, 1), range(1, 3)]
    assert cut_batches([], batch_size=5, token_budget=10) == []
    frame = messages(300, text="word " * 40)
    batches = make_batches(frame, batch_size=200, token_budget=2000, timezone="UTC")
    assert sum(len(b.message_ids) for b in batches) == 300
    assert all(len(b.message_ids) <= 200 for b in batches) and len(batches) > 2


def test_a_message_longer_than_the_budget_is_cut_but_kept() -> None:
    frame = messages(1, text="long " * 2000)
    [batch] = make_batches(frame, batch_size=200, token_budget=150, timezone="UTC")
    assert batch.message_ids == ("m0000",) and batch.digest.startswith("[id=m0000 ")
    assert batch.digest.endswith("…") and len(batch.digest) < 2000


# --- source ids ---------------------------------------------------------------------------


def test_cited_ids_must_be_messages_of_the_batch() -> None:
    known = {"c1-m0001", "c1-m0002", "c1-m0003"}
    assert resolve_sources(["c1-m0002", "c1-m0009", "c1-m0002"], known) == ["c1-m0002"]
    # Models dress ids up; the known ones inside a cited string count.
    assert resolve_sources(["id=c1-m0001, c1-m0003", "[id=c1-m0002 2026-11-20]"], known) == [
        "c1-m0001",
        "c1-m0003",
        "c1-m0002",
    ]
    events = [
        {"title": "a", "source_message_ids": ["c1-m0001", "m-unknown"]},
        {"title": "b", "source_message_ids": ["nope", "also nope"]},
        {"title": "c", "source_message_ids": ["c1-m0003"]},
    ]
    kept, check = check_sources(events, known)
    assert [e["title"] for e in kept] == ["a", "c"]
    assert kept[0]["source_message_ids"] == ["c1-m0001"]
    assert (check.unknown_ids, check.unsourced_events) == (3, 1)


def test_the_schema_sent_for_a_batch_only_allows_its_own_ids() -> None:
    schema = batch_model(["funding"], max_events=2).model_json_schema()
    narrowed = constrain_sources(schema, ["m1", "m2"])
    cited = narrowed["$defs"]["Event"]["properties"]["source_message_ids"]["items"]
    assert cited["enum"] == ["m1", "m2"]
    assert "enum" not in schema["$defs"]["Event"]["properties"]["source_message_ids"]["items"]
    many = [f"m{i}" for i in range(MAX_ENUM_IDS + 1)]
    assert constrain_sources(schema, many) == schema  # too long an enum: cite freely


def test_batch_answers_are_typed() -> None:
    model = batch_model(["funding", "churn"], max_events=2)
    event = {
        "type": "funding",
        "title": "Seed closed",
        "description": "$4M led by Harbor VC",
        "impact": "high",
        "metrics": ["$4M"],
        "severity": 5,
        "source_message_ids": ["m1"],
    }
    assert model.model_validate({"events": [event]}).model_dump()["events"][0] == event
    for bad in (
        {**event, "type": "hiring"},
        {**event, "impact": "huge"},
        {**event, "severity": 6},
        {**event, "source_message_ids": []},
    ):
        with pytest.raises(ValidationError):
            model.model_validate({"events": [bad]})
    with pytest.raises(ValidationError):
        model.model_validate({"events": [event] * 3})
    schema = json.dumps(model.model_json_schema())
    assert "funding" in schema and "source_message_ids" in schema


def test_event_list_for_the_followup_keeps_the_most_severe_within_budget() -> None:
    def event(i: int, severity: int) -> dict:
        return {
            "type": "hiring",
            "title": f"event {i}",
            "description": "words " * 30,
            "impact": "low",
            "metrics": [],
            "severity": severity,
            "first_seen": f"2026-11-{i + 10:02d}",
        }

    events = [event(i, 5 if i == 3 else 1) for i in range(6)]
    assert render_events(events, 100_000).count("\n- ") == 5  # all six, oldest first
    short = render_events(events, 80)
    assert "event 3" in short and "less severe events omitted" in short
    text = render_followup(
        "Update for {company}:\n{events}\nBye", Item("c1", {"company": "X"}, "E")
    )
    assert text == "Update for X:\nE\nBye"
    assert render_followup("Update", Item("c1", {}, "E")).endswith("Events:\nE")


# --- score threshold gating -----------------------------------------------------------------


def _scored(key: str, score: int | None) -> Outcome:
    if score is None:
        return Outcome(key, reason="llm answer invalid after one repair: x")
    answer = {
        "score": score,
        "signals_positive": ["salaried", "asked amount"],
        "signals_negative": [],
        "rationale": "r",
    }
    return Outcome(key, answer=answer)


def test_only_leads_at_or_above_the_threshold_get_an_outreach_call() -> None:
    assert is_eligible(70, 70) and not is_eligible(69, 70) and not is_eligible(None, 0)
    items = [Item(k, {"name": k}, f"digest {k}") for k in ("a", "b", "c", "d")]
    scored = [_scored("a", 69), _scored("b", 70), _scored("c", 100), _scored("d", None)]
    due = outreach_items(items, scored, threshold=70)
    assert [i.lead_key for i in due] == ["b", "c"]
    assert due[0].fields["score"] == 70 and due[0].fields["signals_positive"] == (
        "salaried; asked amount"
    )
    assert due[0].digest == "digest b" and due[0].fields["name"] == "b"


def test_score_rows_mark_ineligible_leads_and_failed_messages() -> None:
    scored = [_scored("a", 10), _scored("b", 80), _scored("c", 90), _scored("d", None)]
    written = {
        "b": Outcome("b", answer={"subject": "Hola", "message": "¿Seguimos?"}),
        "c": Outcome("c", reason="llm call failed after retries: timeout"),
    }
    rows = {r["lead_key"]: r for r in score_frame(scored, written, 70).iter_rows(named=True)}
    assert rows["a"]["outreach_eligible"] is False and rows["a"]["outreach_message"] is None
    assert rows["a"]["ignore_reason"] is None and rows["a"]["lead_score"] == 10
    assert rows["b"]["outreach_subject"] == "Hola" and rows["b"]["ignore_reason"] is None
    assert rows["b"]["score_signals_positive"] == "salaried; asked amount"
    assert rows["c"]["outreach_eligible"] is True and rows["c"]["outreach_message"] is None
    assert rows["c"]["ignore_reason"].startswith("outreach message failed: llm call failed")
    assert rows["d"]["lead_score"] is None and rows["d"]["ignore_reason"].startswith("llm answer")
    assert set(COLUMNS) <= set(next(iter(rows.values())))


def test_score_answers_are_bounded() -> None:
    model = score_model(max_signals=2)
    ok = {"score": 55, "signals_positive": ["a"], "signals_negative": ["b"], "rationale": "r"}
    assert model.model_validate(ok).model_dump() == ok
    for bad in ({**ok, "score": 101}, {**ok, "signals_positive": ["a", "b", "c"]}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_batch_label_names_group_and_position() -> None:
    batch = Batch("c0001", 1, 3, ("m1",), (T0,), "")
    assert batch.label == "c0001#2/3"


# --- load-time checks -------------------------------------------------------------------------


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    """A private copy of the repository's recipes (tests break them)."""
    target = tmp_path / "recipes"
    shutil.copytree(Path(__file__).resolve().parents[3] / "recipes", target)
    return target


def test_demo_recipes_of_both_modes_load(recipes: Path) -> None:
    from common.recipe import load_recipe

    scoring = load_recipe("lead_scoring", recipes)
    assert scoring.llm is not None and scoring.llm.mode == "score"
    assert {"lead_score", "outreach_message"} <= set(scoring.produced_columns())
    update = load_recipe("investor_update", recipes)
    assert update.llm is not None and update.llm.extraction is not None
    assert update.llm.extraction.batch_size == 200


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("recipe", "change", "message"),
    [
        (
            "lead_scoring",
            lambda r: (r / "lead_scoring/scoring_criteria.md").unlink(),
            "lead_scoring/meta.yml: llm.scoring.criteria_file: file `scoring_criteria.md` "
            "not found",
        ),
        (
            "lead_scoring",
            lambda r: (r / "lead_scoring/scoring_criteria.md").write_text("  \n"),
            "llm.scoring.criteria_file: file `scoring_criteria.md` is empty",
        ),
        (
            "lead_scoring",
            lambda r: (r / "lead_scoring/message_prompt.txt").unlink(),
            "llm.scoring.message_prompt_file: file `message_prompt.txt` not found",
        ),
        (
            "lead_scoring",
            lambda r: _edit(r / "lead_scoring/message_prompt.txt", "{score}", "{scor}"),
            "message_prompt.txt: placeholder `{scor}`: no lead column or processor column "
            "has this name; did you mean `{score}`?",
        ),
        (
            "investor_update",
            lambda r: _edit(
                r / "investor_update/meta.yml", "group_by: lead_key", "group_by: sectr"
            ),
            "investor_update/meta.yml: llm.extraction.group_by: `sectr`: the leads have no "
            "such column; did you mean `sector`?",
        ),
        (
            "investor_update",
            lambda r: (r / "investor_update/followup_prompt.txt").unlink(),
            "llm.extraction.followup_prompt_file: file `followup_prompt.txt` not found",
        ),
        (
            "investor_update",
            lambda r: _edit(
                r / "investor_update/followup_prompt.txt", "{events}", "{conversation}"
            ),
            "followup_prompt.txt: placeholder `{conversation}`: this prompt is not given a "
            "conversation",
        ),
        (
            "investor_update",
            lambda r: _edit(r / "investor_update/meta.yml", "  extraction:", "  extraction_:"),
            "llm.extraction: Value error, mode `extract` needs this section",
        ),
    ],
)
def test_mode_files_and_settings_are_checked_at_load_time(
    recipes: Path, recipe: str, change: Callable[[Path], object], message: str
) -> None:
    from common.errors import RecipeError
    from common.recipe import load_recipe

    change(recipes)
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, recipes)
    assert message in str(caught.value)


def test_grouping_by_a_column_the_leads_lack_is_a_data_error() -> None:
    from common.errors import DataError
    from common.llm.modes.extract import group_leads

    kept = pl.DataFrame({"lead_key": ["a", "b"], "company": ["X", None]})
    assert group_leads(kept, "company").rows() == [("a", "X"), ("b", None)]
    with pytest.raises(DataError, match="no `sector` column"):
        group_leads(kept, "sector")
