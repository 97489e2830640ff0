"""Eval sets: the repository's sets are valid; invalid sets fail with where and why."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.evals.fields import load_eval_sets, output_fields
from common.evals.sets import EvalSetError, case_as_of, read_eval_set
from common.recipe import load_recipe

REPO = Path(__file__).resolve().parents[3]
MESSAGES = [
    {"sent_at": "2026-11-19T10:00:00Z", "sender": "bot", "text": "Hola"},
    {"sent_at": "2026-11-19T10:05:00Z", "sender": "user", "text": "ya lo pagué"},
]


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    """A copy of stall_reasons without its eval sets."""
    target = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes/stall_reasons", target / "stall_reasons")
    shutil.rmtree(target / "stall_reasons/evals")
    (target / "stall_reasons/evals").mkdir()
    return target


def _write(recipes: Path, name: str, text: str) -> Path:
    path = recipes / "stall_reasons/evals" / name
    path.write_text(text, encoding="utf-8")
    return path


def _load(recipes: Path):
    return load_eval_sets(load_recipe("stall_reasons", recipes))


def _yaml_case(**overrides) -> str:
    case = {"id": "c1", "messages": MESSAGES, "expected": {"primary_stall_reason_code": "OTHER"}}
    case.update(overrides)
    return json.dumps({"cases": [case]})  # JSON is YAML


def test_the_repository_sets_are_valid() -> None:
    sets = {s.name: s for s in load_eval_sets(load_recipe("stall_reasons", REPO / "recipes"))}
    assert set(sets) == {"generated", "hard_cases"}
    assert len(sets["generated"].cases) >= 20
    assert 8 <= len(sets["hard_cases"].cases) <= 12
    hard = sets["hard_cases"]
    assert hard.header.eval_thresholds["recovery_score"] == {"mae": 25}
    assert all(hard.judges_of(c) for c in hard.cases)
    languages = {t for c in hard.cases for t in c.tags} & {"es", "en", "code-switching"}
    assert languages == {"es", "en", "code-switching"}


def test_yaml_and_jsonl_read_the_same_case(recipe_dir: Path) -> None:
    yaml_path = _write(recipe_dir, "a.yaml", _yaml_case())
    header = {"header": {"as_of": "2026-11-20T18:00:00Z"}}
    case = json.loads(_yaml_case())["cases"][0]
    jsonl_path = _write(recipe_dir, "b.jsonl", f"{json.dumps(header)}\n\n{json.dumps(case)}\n")
    one, two = read_eval_set(yaml_path), read_eval_set(jsonl_path)
    assert one.cases == two.cases
    assert two.header.as_of == datetime(2026, 11, 20, 18, tzinfo=UTC)
    assert case_as_of(two, two.cases[0]) == two.header.as_of
    assert case_as_of(one, one.cases[0]) == datetime(2026, 11, 19, 11, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_yaml_case(extra=1), "`cases[0].extra`: Extra inputs are not permitted"),
        (_yaml_case(messages=None), "give `messages` or a `lead_key`"),
        (
            _yaml_case(expected={"primary_stall_reason": "OTHER"}),
            "did you mean `primary_stall_reason_code`?",
        ),
        (
            _yaml_case(expected={"primary_stall_reason_code": "PRICE"}),
            "'PRICE' is not a value of this field",
        ),
        (_yaml_case(expected={"recovery_score": 130}), "outside the field's range"),
        (
            _yaml_case(expected={"primary_stall_reason_code": {"contains": "x"}}),
            "`contains` does not apply to a categorical field",
        ),
        (
            _yaml_case(expected={"recovery_score": {"tolerance": 5}}),
            "`tolerance` applies to `equals`",
        ),
        (
            json.dumps(
                {
                    "eval_thresholds": {"primary_stall_reason_code": {"mae": 3}},
                    "cases": json.loads(_yaml_case())["cases"],
                }
            ),
            "`mae` needs a numeric field",
        ),
        (
            json.dumps(
                {
                    "eval_thresholds": {"primary_stall_reason_code": {"acuracy": 0.5}},
                    "cases": json.loads(_yaml_case())["cases"],
                }
            ),
            "unknown metric `acuracy`",
        ),
        (
            json.dumps(
                {
                    "eval_thresholds": {"primary_stall_reason_code": {"accuracy": 60}},
                    "cases": json.loads(_yaml_case())["cases"],
                }
            ),
            "60.0 is not a rate",
        ),
        (
            json.dumps(
                {
                    "eval_thresholds": {"suggested_message": {"judge_mean": 4}},
                    "cases": json.loads(_yaml_case())["cases"],
                }
            ),
            "no case of the set has a judge rubric for `suggested_message`",
        ),
    ],
)
def test_invalid_sets_say_where_and_why(recipe_dir: Path, text: str, message: str) -> None:
    _write(recipe_dir, "bad.yaml", text)
    with pytest.raises(EvalSetError) as caught:
        _load(recipe_dir)
    assert message in str(caught.value)
    assert "bad.yaml" in str(caught.value)


def test_jsonl_errors_name_the_line(recipe_dir: Path) -> None:
    case = json.loads(_yaml_case())["cases"][0]
    _write(recipe_dir, "x.jsonl", f"{json.dumps(case)}\n{json.dumps({'header': {}})}\n")
    with pytest.raises(EvalSetError, match=r"x\.jsonl:2.*header must be the first line"):
        _load(recipe_dir)
    _write(recipe_dir, "x.jsonl", f"{json.dumps(case)}\n{json.dumps(case)}\n")
    with pytest.raises(EvalSetError, match="case ids used twice: c1"):
        _load(recipe_dir)
    _write(recipe_dir, "x.jsonl", "{not json\n")
    with pytest.raises(EvalSetError, match=r"x\.jsonl:1: not JSON"):
        _load(recipe_dir)


def test_no_sets_and_unknown_set_names(recipe_dir: Path) -> None:
    recipe = load_recipe("stall_reasons", recipe_dir)
    with pytest.raises(EvalSetError, match="the recipe has no eval sets"):
        load_eval_sets(recipe)
    _write(recipe_dir, "a.yaml", _yaml_case())
    with pytest.raises(EvalSetError, match="no eval set `b`.*one of a"):
        load_eval_sets(recipe, ("b",))


def test_output_field_kinds_follow_the_schema() -> None:
    fields = output_fields(load_recipe("stall_reasons", REPO / "recipes"))
    kinds = {name: spec.kind for name, spec in fields.items()}
    assert kinds == {
        "summary": "text",
        "primary_stall_reason_code": "categorical",
        "recovery_score": "numeric",
        "next_action": "categorical",
        "suggested_message": "text",
    }
