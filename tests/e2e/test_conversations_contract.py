"""Issue 18: the conversations contract (README) is enforced where messages are fetched.

Senders outside user/bot/agent fail the shard (or map through `sender_map`);
zone-less `sent_at` fail (or read in `sent_at_timezone`); undated messages are
dropped and counted; when shards fail, the CLI and `runs show` lead with the
first shard failure, not the report's consequence.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from common.backends import build_backends
from common.cli import main
from common.observability.metrics import run_metrics
from common.settings import Settings
from tests.e2e.conftest import AS_OF

SQL = """SELECT message_id, lead_key, {sent_at} AS sent_at, {sender} AS sender, {text} AS text
FROM demo.messages
WHERE lead_key IN UNNEST(@lead_keys) AND sent_at <= @as_of
"""


def _recipe(
    recipes_dir: Path,
    *,
    sent_at: str = "sent_at",
    sender: str = "sender",
    text: str = "text",
    **meta,
):
    folder = recipes_dir / "demo"
    (folder / "conversations.sql").write_text(SQL.format(sent_at=sent_at, sender=sender, text=text))
    doc = yaml.safe_load((folder / "meta.yml").read_text())
    doc.update(meta)
    (folder / "meta.yml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _run() -> tuple[int, str, str | None]:
    result = CliRunner().invoke(
        main, ["run", "--recipe", "demo", "--as-of", AS_OF.isoformat(), "--no-progress"]
    )
    found = re.search(r"^run\s+(\S+)", result.stdout, re.M)
    return result.exit_code, result.stderr, found.group(1) if found else None


def _rows(run_id: str) -> list[dict[str, str]]:
    run = build_backends(Settings()).state.get_run(run_id) or {}
    with open(run["outputs"]["analysis"], encoding="utf-8") as handle:
        # Columns comparing with the previous run differ between two runs by design.
        return [
            {k: v for k, v in r.items() if k not in {"previous_state", "change"}}
            for r in csv.DictReader(handle)
        ]


def _baseline(recipes_dir: Path) -> list[dict[str, str]]:
    code, err, run_id = _run()
    assert code == 0 and run_id, err
    return _rows(run_id)


def test_unknown_senders_fail_the_shard_and_lead_the_cli_error(
    local_env: Path, recipes_dir: Path
) -> None:
    _recipe(recipes_dir, sender="CASE sender WHEN 'user' THEN 'customer' ELSE sender END")
    code, err, _ = _run()
    assert code != 0
    last = [line for line in err.splitlines() if line.startswith("error:")][-1]
    assert "`sender` values outside the contract: 'customer' x" in last, err
    assert "sender_map" in last


def test_sender_map_reads_them_as_user(local_env: Path, recipes_dir: Path) -> None:
    expected = _baseline(recipes_dir)
    _recipe(
        recipes_dir,
        sender="CASE sender WHEN 'user' THEN ' Customer' ELSE sender END",
        sender_map={"customer": "user"},
    )
    code, err, run_id = _run()
    assert code == 0 and run_id, err
    assert _rows(run_id) == expected


def test_zone_less_timestamps_fail_unless_the_recipe_names_their_zone(
    local_env: Path, recipes_dir: Path
) -> None:
    expected = _baseline(recipes_dir)
    wall_clock = "timezone('America/Mexico_City', sent_at)"  # a DATETIME in local time
    _recipe(recipes_dir, sent_at=wall_clock)
    code, err, _ = _run()
    assert code != 0 and "`sent_at` has no time zone" in err.splitlines()[-1], err
    _recipe(recipes_dir, sent_at=wall_clock, sent_at_timezone="America/Mexico_City")
    code, err, run_id = _run()
    assert code == 0 and run_id, err
    assert _rows(run_id) == expected


def test_undated_messages_are_dropped_and_counted(local_env: Path, recipes_dir: Path) -> None:
    _recipe(recipes_dir, sent_at="CASE WHEN sender = 'agent' THEN NULL ELSE sent_at END")
    code, err, run_id = _run()
    assert code == 0 and run_id, err
    state = build_backends(Settings()).state
    steps = state.list_steps(run_id)
    dropped = run_metrics(state.get_run(run_id) or {}, steps, {})["messages_dropped"]
    assert dropped["total"] > 0 and dropped["by_reason"] == {"sent_at is NULL": dropped["total"]}


def test_string_timestamps_lead_the_cli_error_and_runs_show(
    local_env: Path, recipes_dir: Path
) -> None:
    _recipe(recipes_dir, sent_at="CAST(sent_at AS VARCHAR)")
    code, err, _ = _run()
    assert code != 0
    last = [line for line in err.splitlines() if line.startswith("error:")][-1]
    assert re.match(r"error: .*shard \d+:? fetch_conversations: .*`sent_at` is String", last), err
    [run] = build_backends(Settings()).state.list_runs("demo")
    shown = CliRunner().invoke(main, ["runs", "show", run["run_id"]])
    doc = yaml.safe_load(shown.stdout)
    assert list(doc)[0] == "first_failure", shown.stdout[:300]
    assert (
        doc["first_failure"].startswith("shard ") and "`sent_at` is String" in doc["first_failure"]
    )
