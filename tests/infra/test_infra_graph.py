"""What a first ``terraform apply`` on a new project depends on, read from infra/'s graph.

``terraform plan`` needs the google provider, which cannot be downloaded here.
The dependency graph is what Terraform builds from references and
``depends_on``: the tests rebuild it from the parsed configuration and walk it,
and evaluate the scheduler jobs' ``for_each`` with the real terraform binary
(the expression and the variable's default and validation as written in infra/).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.infra.infra_support import INFRA, REPO, Config, _env

_REF = re.compile(r"\b(?:(data)\.)?(google_[a-z0-9_]+)\.([a-z0-9_-]+)\b|\blocal\.([a-z0-9_]+)\b")

SAMPLE_RECIPES = {"demo", "customer_themes", "stall_reasons"}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _edges(body: Any) -> set[str]:
    found = set()
    for text in _strings(body):
        for data, kind, name, local in _REF.findall(text):
            if local:
                found.add(f"local.{local}")
            else:
                found.add(f"{'data.' if data else ''}{kind}.{name}")
    return found


def dependency_graph(config: Config) -> dict[str, set[str]]:
    """node -> the nodes it refers to (references and depends_on), as Terraform sees them."""
    graph: dict[str, set[str]] = {}
    for (kind, name), body in config.resources.items():
        graph[f"{kind}.{name}"] = _edges(body)
    for (kind, name), body in config.data.items():
        graph[f"data.{kind}.{name}"] = _edges(body)
    for name, value in config.locals.items():
        graph[f"local.{name}"] = _edges(value)
    return graph


def reaches(graph: dict[str, set[str]], start: str, target: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False


@pytest.fixture(scope="module")
def graph(infra: Config) -> dict[str, set[str]]:
    return dependency_graph(infra)


def test_every_service_account_waits_for_the_iam_api(infra: Config, graph) -> None:
    assert "iam.googleapis.com" in infra.locals["services"]
    accounts = infra.of_type("google_service_account")
    assert accounts
    late = [
        name
        for name in accounts
        if not reaches(graph, f"google_service_account.{name}", "google_project_service.enabled")
    ]
    assert not late, f"service accounts made before their API is enabled: {late}"


def test_pubsub_service_agent_is_a_service_identity(infra: Config, graph) -> None:
    identity = infra.resource("google_project_service_identity", "agent")
    assert identity["provider"] in ("${google-beta}", "google-beta")
    assert "pubsub.googleapis.com" in identity["for_each"]
    assert reaches(graph, "google_project_service_identity.agent", "google_project_service.enabled")
    assert (
        'google_project_service_identity.agent["pubsub.googleapis.com"]'
        in (infra.locals["pubsub_agent"])
    )
    assert "gcp-sa-pubsub" not in infra.text, "the agent's address is spelt out somewhere"
    grants = [
        f"{kind}.{name}"
        for (kind, name), body in infra.resources.items()
        if body.get("member") == "${local.pubsub_agent}"
    ]
    assert grants, "nothing is granted to the Pub/Sub service agent"
    for grant in grants:
        assert reaches(graph, grant, "google_project_service_identity.agent"), grant


def _render_scheduled(infra: Config, workdir: Path, tfvars: dict[str, Any]) -> str:
    """A provider-free root: module.recipes, var.scheduled_recipes as written, the job's for_each."""
    text = (INFRA / "variables.tf").read_text()
    variable = re.search(r'^variable "scheduled_recipes" \{.*?^\}\n', text, re.M | re.S)
    assert variable, 'infra/variables.tf has no variable "scheduled_recipes"'
    source = (INFRA / "scheduler.tf").read_text()
    for_each = re.search(
        r'resource "google_cloud_scheduler_job" "recipe" \{\n\s*for_each = (.*)\n', source
    )
    assert for_each
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text(
        f'module "recipes" {{\n  source = {json.dumps(str(INFRA / "modules" / "recipes"))}\n'
        f"  recipes_dir = {json.dumps(str(REPO / 'recipes'))}\n}}\n"
        f'{variable.group(0)}\noutput "jobs" {{\n  value = keys({for_each.group(1)})\n}}\n'
    )
    (workdir / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    return str(workdir)


def _apply(terraform: str, workdir: str) -> subprocess.CompletedProcess[str]:
    env = _env(Path(workdir))
    for args in (["init", "-no-color", "-input=false"], ["apply", "-no-color", "-auto-approve"]):
        done = subprocess.run(
            [terraform, *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            return done
    return subprocess.run(
        [terraform, "output", "-json", "jobs"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_no_recipe_is_scheduled_by_default(infra: Config, terraform: str, tmp_path: Path):
    done = _apply(terraform, _render_scheduled(infra, tmp_path / "default", {}))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_sample_recipes_are_never_scheduled(infra: Config, terraform: str, tmp_path: Path):
    for sample in sorted(SAMPLE_RECIPES):
        workdir = _render_scheduled(infra, tmp_path / sample, {"scheduled_recipes": [sample]})
        done = _apply(terraform, workdir)
        assert done.returncode != 0, f"{sample} got a scheduler job"
        assert "sample recipes" in done.stderr, done.stderr


def test_alert_policies_exist_and_notify(infra: Config, graph) -> None:
    policies = infra.of_type("google_monitoring_alert_policy")
    assert {"dead_letter_backlog", "run_not_succeeded", "run_stuck", "llm_cost_per_day"} <= set(
        policies
    ), sorted(policies)
    for name, body in policies.items():
        assert body["notification_channels"] == "${local.alert_channels}", name
        assert reaches(graph, f"google_monitoring_alert_policy.{name}", "local.alert_channels")
    assert "var.alert_notification_channels" in infra.locals["alert_channels"]
    assert "monitoring.googleapis.com" in infra.locals["services"]
    # The log lines the policies match are the ones the code writes.
    report = (REPO / "common" / "steps" / "report.py").read_text()
    assert '"event": "run_finished"' in report and '"llm_cost_usd"' in report
    sweep = (REPO / "common" / "steps" / "sweep.py").read_text()
    assert 'log.warning("sweep: %s"' in sweep
