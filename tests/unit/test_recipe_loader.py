"""Invalid recipes fail before any work, with one message naming file and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from common.cli import main
from common.errors import RecipeError
from common.recipe import load_recipe
from common.recipe.model import RecipeMeta

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    return tmp_path / "recipes"


def _edit_meta(recipes: Path, change) -> None:
    path = recipes / "demo/meta.yml"
    meta = yaml.safe_load(path.read_text())
    change(meta)
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


def test_demo_recipe_is_valid(recipes: Path) -> None:
    recipe = load_recipe("demo", recipes)
    assert recipe.lead_columns and "lead_key" in recipe.lead_columns
    assert set(recipe.meta.output_columns) <= set(recipe.produced_columns())


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        (
            lambda m: m.update(shard_sise=10),
            "shard_sise",
            "unknown key; did you mean `shard_size`?",
        ),
        (lambda m: m.update(shard_size="many"), "shard_size", "valid integer"),
        (
            lambda m: m["python_processors"][0].update(modul="x"),
            "python_processors[0].modul",
            "unknown key",
        ),
        (lambda m: m.update(timezone="Mars/Olympus"), "timezone", "unknown IANA time zone"),
        (lambda m: m.update(schedule={"cron": "every hour"}), "schedule.cron", "five cron fields"),
        (lambda m: m.update(schedule={"cron": "99 25 * * 9"}), "schedule.cron", "hour `25`"),
        (lambda m: m.update(recipe_schema_version=1), "recipe_schema_version", "2"),
    ],
)
def test_meta_errors_name_file_and_field(recipes: Path, change, field: str, text: str) -> None:
    _edit_meta(recipes, change)
    with pytest.raises(RecipeError) as info:
        load_recipe("demo", recipes)
    message = str(info.value)
    assert "recipes/demo/meta.yml" in message.replace("\\", "/")
    assert field in message and text in message


def test_unknown_processor_lists_valid_names(recipes: Path) -> None:
    _edit_meta(recipes, lambda m: m["python_processors"].append({"module": "TemporalProcesor"}))
    with pytest.raises(RecipeError) as info:
        load_recipe("demo", recipes)
    message = str(info.value)
    assert "python_processors[" in message
    assert "did you mean `TemporalProcessor`" in message
    assert "MessageMetadataProcessor" in message  # the valid names are listed


def test_bad_processor_param(recipes: Path) -> None:
    _edit_meta(recipes, lambda m: m["python_processors"][1]["params"].update(max_message_length=-3))
    with pytest.raises(RecipeError, match=r"python_processors\[1\].*max_message_length"):
        load_recipe("demo", recipes)


def test_output_column_nobody_produces(recipes: Path) -> None:
    _edit_meta(recipes, lambda m: m["output_columns"].insert(3, "hours_since_last_mesage"))
    with pytest.raises(RecipeError) as info:
        load_recipe("demo", recipes)
    message = str(info.value)
    assert "output_columns[3]" in message
    assert "did you mean `HOURS_SINCE_LAST_MESSAGE`" in message


def test_missing_sql_file(recipes: Path) -> None:
    (recipes / "demo/conversations.sql").unlink()
    with pytest.raises(RecipeError, match="conversations_sql: file `conversations.sql` not found"):
        load_recipe("demo", recipes)


def test_explicit_leads_sql_missing(recipes: Path) -> None:
    _edit_meta(recipes, lambda m: m.update(leads_sql="target_leads.sql"))
    with pytest.raises(RecipeError, match="leads_sql: file `target_leads.sql` not found"):
        load_recipe("demo", recipes)


def test_conversations_sql_must_use_lead_keys(recipes: Path) -> None:
    (recipes / "demo/conversations.sql").write_text("SELECT * FROM demo.messages")
    with pytest.raises(RecipeError, match="@lead_keys"):
        load_recipe("demo", recipes)


def test_sql_with_unknown_parameter(recipes: Path) -> None:
    (recipes / "demo/leads.sql").write_text("SELECT lead_key FROM demo.leads WHERE x = @country")
    with pytest.raises(Exception, match=r"leads.sql.*@country"):
        load_recipe("demo", recipes)


def test_unknown_recipe_suggests(recipes: Path) -> None:
    with pytest.raises(RecipeError, match="did you mean `demo`"):
        load_recipe("dmeo", recipes)


def test_cli_validate_exit_codes(recipes: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["recipes", "validate", "demo", "--recipes-dir", str(recipes)])
    assert ok.exit_code == 0, ok.output
    _edit_meta(recipes, lambda m: m.update(typo_key=1))
    bad = runner.invoke(main, ["recipes", "validate", "demo", "--recipes-dir", str(recipes)])
    assert bad.exit_code == 2
    assert "typo_key" in bad.output and "meta.yml" in bad.output
    run = runner.invoke(main, ["run", "--recipe", "demo", "--recipes-dir", str(recipes)])
    assert run.exit_code == 2 and "typo_key" in run.output


def test_schema_is_valid_json_schema_and_accepts_demo(recipes: Path) -> None:
    result = CliRunner().invoke(main, ["recipes", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    meta = yaml.safe_load((recipes / "demo/meta.yml").read_text())
    jsonschema.validate(meta, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**meta, "shard_sise": 3}, schema)
    assert schema == {
        **RecipeMeta.model_json_schema(),
        "$schema": schema["$schema"],
        "title": schema["title"],
    }


def test_new_recipe_scaffold_is_valid(recipes: Path) -> None:
    result = CliRunner().invoke(main, ["recipes", "new", "top_up", "--recipes-dir", str(recipes)])
    assert result.exit_code == 0, result.output
    assert load_recipe("top_up", recipes).meta.recipe_schema_version == 2
    again = CliRunner().invoke(main, ["recipes", "new", "top_up", "--recipes-dir", str(recipes)])
    assert again.exit_code == 2 and "exists" in again.output
    listed = CliRunner().invoke(main, ["recipes", "list", "--recipes-dir", str(recipes)])
    assert "top_up" in listed.output and "demo" in listed.output


def test_sync_columns_adds_and_removes_processor_columns(recipes: Path) -> None:
    path = recipes / "demo/meta.yml"
    original = path.read_text()
    _edit_meta(
        recipes,
        lambda m: m.update(
            python_processors=[
                p for p in m["python_processors"] if "human_transfer" not in p["module"]
            ]
            + [{"module": "HumanTransferProcessor"}],
            output_columns=[
                c for c in m["output_columns"] if c not in ("human_transfer", "handoff_response")
            ],
        ),
    )
    runner = CliRunner()
    dry = runner.invoke(
        main, ["recipes", "sync-columns", "demo", "--dry-run", "--recipes-dir", str(recipes)]
    )
    assert dry.exit_code == 0, dry.output
    assert "+handoff_response" in dry.output and "+human_transfer" in dry.output
    assert "handoff_response" not in yaml.safe_load(path.read_text())["output_columns"]
    done = runner.invoke(main, ["recipes", "sync-columns", "demo", "--recipes-dir", str(recipes)])
    assert done.exit_code == 0, done.output
    columns = yaml.safe_load(path.read_text())["output_columns"]
    assert columns[-2:] == ["handoff_response", "human_transfer"] or {
        "handoff_response",
        "human_transfer",
    } <= set(columns)
    # Dropping a processor removes its columns and keeps the lead columns.
    _edit_meta(
        recipes,
        lambda m: m.update(
            python_processors=[p for p in m["python_processors"] if "Handoff" not in p["module"]]
        ),
    )
    again = runner.invoke(
        main, ["recipes", "sync-columns", "update-all", "--recipes-dir", str(recipes)]
    )
    assert again.exit_code == 0, again.output
    columns = yaml.safe_load(path.read_text())["output_columns"]
    assert "handoff_response" not in columns and "name" in columns and "lead_key" in columns
    assert load_recipe("demo", recipes)
    assert "stall_reasons: +" in again.output  # update-all visits every recipe
    assert original  # the untouched copy in the repo is not modified by this test


def test_prompt_placeholder_typo_fails_at_load(recipes: Path) -> None:
    prompt = recipes / "stall_reasons/prompt.txt"
    prompt.write_text(prompt.read_text().replace("{conversation_state}", "{conversation_stat}"))
    with pytest.raises(RecipeError) as info:
        load_recipe("stall_reasons", recipes)
    assert "prompt.txt" in str(info.value) and "did you mean `{conversation_state}`" in str(
        info.value
    )
