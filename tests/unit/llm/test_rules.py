"""`llm.rules`: conditions, first-match order, load-time checks with file and rule index."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from pydantic import ValidationError

from common.errors import RecipeError, TerminalError
from common.llm.config import AnswerRule, LLMConfig
from common.llm.rules import covers_all, match_rules, rule_answer
from common.recipe import load_recipe

REPO = Path(__file__).resolve().parents[3]
SCHEMA = {
    "reason": {"type": "category", "values": ["NO_REPLY", "PRICE", "OTHER"]},
    "score": {"type": "integer", "minimum": 0, "maximum": 100},
    "summary": {"type": "string"},
}


def _rule(when, answer=None, rest="empty") -> AnswerRule:
    return AnswerRule.model_validate(
        {"when": when, "answer": answer or {"reason": "OTHER"}, "rest": rest}
    )


FEATURES = pl.DataFrame(
    {
        "lead_key": ["a", "b", "c", "d"],
        "state": ["no_user_reply", "active", None, "handoff_declined"],
        "silent": [True, False, None, False],
        "messages": [0, 3, 1, 7],
    }
)


@pytest.mark.parametrize(
    ("when", "matched"),
    [
        ({"state": "no_user_reply"}, ["a"]),
        ({"state": ["active", "handoff_declined"]}, ["b", "d"]),
        ({"state": None}, ["c"]),
        ({"state": {"is_null": False}}, ["a", "b", "d"]),
        ({"state": {"not": "active"}}, ["a", "c", "d"]),
        ({"state": {"not_in": ["active", "no_user_reply"]}}, ["c", "d"]),
        ({"silent": True}, ["a"]),
        ({"messages": 7}, ["d"]),
        ({"silent": False, "messages": [3, 7]}, ["b", "d"]),  # every condition must hold
    ],
)
def test_conditions(when, matched) -> None:
    index = match_rules([_rule(when)], FEATURES)
    assert FEATURES.filter(index.is_not_null())["lead_key"].to_list() == matched


def test_first_matching_rule_wins_and_unmatched_rows_are_null() -> None:
    rules = [_rule({"messages": [0, 7]}), _rule({"state": ["no_user_reply", "active"]})]
    assert match_rules(rules, FEATURES).to_list() == [0, 1, None, 0]


def test_a_value_of_the_wrong_type_fails_at_run_time_too() -> None:
    with pytest.raises(TerminalError, match="`silent` is Boolean"):
        match_rules([_rule({"silent": "yes"})], FEATURES)
    with pytest.raises(TerminalError, match="no column `stat`"):
        match_rules([_rule({"stat": "active"})], FEATURES)


def test_rest_empty_answers_with_nulls_and_rest_ask_needs_a_call() -> None:
    config = LLMConfig.model_validate({"output_schema": SCHEMA})
    empty = _rule({"state": "x"}, {"reason": "NO_REPLY"})
    ask = _rule({"state": "x"}, {"reason": "NO_REPLY"}, rest="ask")
    every = _rule({"state": "x"}, {"reason": "NO_REPLY", "score": 5, "summary": "s"}, "ask")
    assert covers_all(config, empty) and not covers_all(config, ask) and covers_all(config, every)
    assert rule_answer(config, empty) == {"reason": "NO_REPLY", "score": None, "summary": None}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"when": {"x": {"between": [1, 2]}}, "answer": {"reason": "OTHER"}, "rest": "empty"},
            "exactly one of",
        ),
        ({"when": {"x": []}, "answer": {"reason": "OTHER"}, "rest": "empty"}, "at least one value"),
        ({"when": {}, "answer": {"reason": "OTHER"}, "rest": "empty"}, "at least 1"),
        ({"when": {"x": 1}, "answer": {"reason": "OTHER"}}, "Field required"),
        ({"when": {"x": 1}, "answer": {"reason": "OTHER"}, "rest": "later"}, "'empty' or 'ask'"),
    ],
)
def test_rule_shape_errors(rule, message) -> None:
    with pytest.raises(ValidationError, match=message):
        LLMConfig.model_validate({"output_schema": SCHEMA, "rules": [rule]})


def test_rules_belong_to_mode_analyze() -> None:
    rule = {"when": {"x": 1}, "answer": {"score": 1}, "rest": "empty"}
    with pytest.raises(ValidationError, match="only mode `analyze` takes rules"):
        LLMConfig.model_validate({"mode": "score", "scoring": {}, "rules": [rule]})


# --- loading a recipe -------------------------------------------------------------------


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    return tmp_path / "recipes"


def _with_rules(recipes: Path, rules: list[dict]) -> None:
    path = recipes / "stall_reasons/meta.yml"
    meta = yaml.safe_load(path.read_text())
    meta["llm"]["rules"] = rules
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


def test_sample_recipe_rules_load(recipes: Path) -> None:
    recipe = load_recipe("stall_reasons", recipes)
    assert recipe.llm is not None and recipe.llm.rules
    first = recipe.llm.rules[0]
    assert first.when == {"conversation_state": "no_user_reply"} and first.rest == "empty"


@pytest.mark.parametrize(
    ("rule", "field", "text"),
    [
        (
            {"answer": {"primary_stall_reason_code": "NO_REPLIED"}},
            "llm.rules[1].answer.primary_stall_reason_code",
            "'NO_REPLIED' is not a valid `primary_stall_reason_code`",
        ),
        (
            {"answer": {"recovery_score": 140}},
            "llm.rules[1].answer.recovery_score",
            "less than or equal to 100",
        ),
        (
            {"answer": {"recovery_scor": 40}},
            "llm.rules[1].answer.recovery_scor",
            "did you mean `recovery_score`?",
        ),
        (
            {"when": {"conversation_stat": "active"}},
            "llm.rules[1].when.conversation_stat",
            "did you mean `conversation_state`?",
        ),
        (
            {"when": {"NO_USER_MESSAGES_EXIST": "yes"}},
            "llm.rules[1].when.NO_USER_MESSAGES_EXIST",
            "`NO_USER_MESSAGES_EXIST` is Boolean",
        ),
    ],
)
def test_rule_errors_name_the_file_and_the_rule(recipes: Path, rule, field, text) -> None:
    good = {"when": {"NO_USER_MESSAGES_EXIST": True}, "answer": {"next_action": "SEND_REMINDER"}}
    bad = {
        "name": "broken",
        "when": {"conversation_state": "active"},
        "answer": {"next_action": "CLOSE"},
        "rest": "ask",
    }
    bad.update(rule)
    _with_rules(recipes, [{**good, "rest": "empty"}, bad])
    with pytest.raises(RecipeError) as caught:
        load_recipe("stall_reasons", recipes)
    message = str(caught.value)
    assert "stall_reasons/meta.yml" in message and field in message and text in message
    assert "(rule `broken`)" in message


def test_lead_columns_may_be_used(recipes: Path) -> None:
    _with_rules(
        recipes,
        [{"when": {"country": ["MX", "CO"]}, "answer": {"next_action": "CLOSE"}, "rest": "ask"}],
    )
    assert load_recipe("stall_reasons", recipes).llm.rules[0].when == {"country": ["MX", "CO"]}
