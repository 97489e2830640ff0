"""Cloud Build applies a versioned tfvars file, and docs/deploy.md says what pages whom.

- cloudbuild.yaml passes no ``-var`` flag (a per-variable flag silently undoes a
  value set in a manual apply); its plan reads ``environments/${_ENV}.tfvars``
  and the release's function zips, and the default ``_ENV`` has its file;
- every ``infra/environments/*.tfvars`` sets only declared variables, every
  required one (but the zips'), and never schedules a sample recipe;
- the build's check-env step (run here with ``sh``, as Cloud Build would after
  substituting) accepts its own project and refuses another's;
- docs/deploy.md "What you get paged for" names every alert policy of
  infra/monitoring.tf, and documents ``scheduled_recipes`` and ``schedules_paused``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.infra_support import INFRA, REPO, load_config, parse_hcl

CLOUDBUILD = REPO / "cloudbuild.yaml"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
ENVIRONMENTS = sorted((INFRA / "environments").glob("*.tfvars"))
SAMPLE_RECIPES = {"demo", "customer_themes", "stall_reasons"}


def _build() -> dict:
    return yaml.safe_load(CLOUDBUILD.read_text())


def _step(build: dict, step_id: str) -> dict:
    steps = {s.get("id"): s for s in build["steps"]}
    assert step_id in steps, f"cloudbuild.yaml has no step {step_id}"
    return steps[step_id]


def test_cloud_build_sets_no_variable_by_flag_and_applies_the_environment_file() -> None:
    build = _build()
    for step in build["steps"]:
        script = "\n".join(str(a) for a in step.get("args", []))
        assert not re.search(r"(^|\s)-var[= ]", script), f"step {step.get('id')}: a -var flag"
    plan = "\n".join(_step(build, "plan")["args"])
    assert "-var-file=environments/${_ENV}.tfvars" in plan
    assert "-var-file=../dist/functions/function_sources.tfvars.json" in plan
    env = build["substitutions"]["_ENV"]
    assert (INFRA / "environments" / f"{env}.tfvars").is_file(), f"no environments/{env}.tfvars"


@pytest.mark.parametrize("path", ENVIRONMENTS, ids=[p.name for p in ENVIRONMENTS])
def test_environment_files_set_declared_variables_and_every_required_one(path: Path) -> None:
    config = load_config()
    values = parse_hcl(path)
    values = {k: v for k, v in values.items() if not k.startswith("__")}  # python-hcl2 comments
    unknown = sorted(set(values) - set(config.variables))
    assert not unknown, f"{path.name}: not variables of infra/: {unknown}"
    required = {n for n, body in config.variables.items() if "default" not in body}
    missing = sorted(required - set(values) - {"function_sources"})
    assert not missing, f"{path.name}: required variables unset: {missing}"
    assert not SAMPLE_RECIPES & set(values.get("scheduled_recipes", []))


def _check_env_script(project: str, bucket: str, env: str = "prod") -> str:
    script = _step(_build(), "check-env")["args"][-1]
    for name, value in {
        "${_ENV}": env,
        "${PROJECT_ID}": project,
        "${_STATE_BUCKET}": bucket,
    }.items():
        script = script.replace(name, value)
    return script.replace("$$", "$")


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
def test_check_env_step_accepts_its_project_and_refuses_another() -> None:
    values = parse_hcl(INFRA / "environments" / "prod.tfvars")
    project, bucket = values["project_id"], values["source_bucket"]

    def run(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-ceu", script], cwd=INFRA, capture_output=True, text=True)

    assert run(_check_env_script(project, bucket)).returncode == 0
    wrong = run(_check_env_script("someone-elses-project", bucket))
    assert wrong.returncode != 0 and "project_id is not someone-elses-project" in wrong.stderr
    assert run(_check_env_script(project, "other-bucket")).returncode != 0
    assert run(_check_env_script(project, bucket, env="nope")).returncode != 0


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f'docs/deploy.md has no "## {title}" section'
    return match.group(1)


def test_deploy_doc_says_what_pages_and_how_recipes_are_scheduled() -> None:
    text = DEPLOY_DOC.read_text()
    paged = _section(text, "What you get paged for")
    policies = load_config().of_type("google_monitoring_alert_policy")
    assert policies
    for name in policies:
        assert f"`{name}`" in paged, f"alert policy {name} is not in 'What you get paged for'"
    for variable in ("alert_email", "alert_notification_channels", "llm_daily_cost_alert_usd"):
        assert f"`{variable}`" in paged, variable
    assert "`scheduled_recipes`" in text and "`schedules_paused`" in text
    assert "environments/prod.tfvars" in text
    assert "_DATA_BUCKET" not in text and "-var=project_id" not in text
