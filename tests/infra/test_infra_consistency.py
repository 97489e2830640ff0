"""The Terraform in infra/ declares what the code needs, and nothing the code does not.

Functions (folders of functions/), topics and dead-letter topics (common/chain.py),
secrets (the settings' secret fields), recipe schedules (meta.yml), the
Firestore TTL and index the adapters rely on, the settings passed as
environment variables, and the IAM grants that let each function publish
where its code publishes.
"""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from pydantic import SecretStr

from common import chain
from common.recipe import list_recipes, load_recipe
from common.retention import KINDS
from common.settings import Settings
from tests.infra.infra_support import INFRA, REPO, Config, blocks, fmt_check, resource_comments

sys.path.insert(0, str(REPO / "scripts"))
from package_functions import entry_points, function_names  # noqa: E402

# Secret settings with two forms, of which Terraform provisions the other: the
# Sheets key is mounted as a file (secret volume) rather than passed as JSON.
ALTERNATIVE_FORMS = {"LR_GSHEETS_CREDENTIALS_JSON": "LR_GSHEETS_CREDENTIALS_FILE"}

# Variables that need no validation block: booleans, and free-form locations
# that Google validates with a better message than a regex could.
UNVALIDATED_OK = {
    "bucket_location",
    "firestore_location",
    "bigquery_location",
    "bigquery_data_project",
    "gemini_location",
    "recipes_dir",
    "create_firestore_database",
    "schedules_paused",
    "analysis_allow_unauthenticated",
    "call_webhook_allow_unauthenticated",
}

# Handlers of functions/*/main.py that are deliberately not deployed.
UNDEPLOYED_HANDLERS = {
    "fetch_leads_event": "the Eventarc twin of fetch_leads; the recipe-runs push "
    "subscription feeds the HTTP target instead, with Terraform-managed dead-lettering",
}


def _env_name(field: str) -> str:
    return f"LR_{field.upper()}"


def _settings_env() -> set[str]:
    # LR_RETENTION_<KIND>_DAYS are RetentionSettings' (common/retention.py).
    return {_env_name(name) for name in Settings.model_fields} | {k.env for k in KINDS}


def _secret_settings() -> set[str]:
    """Env names of the settings that hold secrets (SecretStr, alone or in a container)."""
    found = set()
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        stack = [annotation]
        while stack:
            current = stack.pop()
            if current is SecretStr:
                found.add(_env_name(name))
            stack.extend(typing.get_args(current))
    return found


def _stub(llm: bool, clustering: bool) -> Any:
    return SimpleNamespace(
        meta=SimpleNamespace(llm={} if llm else None, clustering={} if clustering else None)
    )


def code_publishes(step: str) -> set[str]:
    """Every topic ``step`` may publish to (besides dead letters), for any recipe.

    Mirrors the steps: a per-shard step hands the shard to the next stage, or,
    as the last per-shard stage, completes the fan-in; any per-shard step that
    fails for good counts its shard in the fan-in (steps/fanin.shard_failed),
    which may start the run-level stage; fetch_leads hands an empty run
    straight to the report.
    """
    topics: set[str] = set()
    recipes = [_stub(llm, clustering) for llm in (True, False) for clustering in (True, False)]
    if step == "poll_batches":
        # common/steps/batches.py: a shard whose provider batches ended gets its
        # message again on the summarize step's topic.
        return {chain.BY_NAME["summarize"].topic}
    if step == "sweep":
        # common/steps/sweep.py: counting a stuck shard may complete the fan-in
        # (publishing the run-level stage after it), and a run whose run-level
        # stage never started gets its message again: cluster or report.
        for recipe in recipes:
            stages = chain.enabled(recipe)
            last = [s for s in stages if s.per_shard][-1]
            topics.update(s.topic for s in stages[stages.index(last) + 1 :])
        return topics
    for recipe in recipes:
        names = [s.name for s in chain.enabled(recipe)]
        if step not in names or step == names[-1]:
            continue
        topics.add(chain.next_stage(recipe, step).topic)
        stage = chain.BY_NAME[step]
        if stage.per_shard:
            last = [s for s in chain.enabled(recipe) if s.per_shard][-1]
            topics.add(chain.next_stage(recipe, last.name).topic)
        if step == "fetch_leads":
            topics.add(chain.BY_NAME["report"].topic)
    return topics


# ---- format and shape ----------------------------------------------------------------


def test_terraform_fmt_is_clean(terraform: str) -> None:
    done = fmt_check(terraform)
    assert done.returncode == 0, f"terraform fmt -check -recursive infra:\n{done.stdout}"


def test_provider_is_pinned_exactly(infra: Config) -> None:
    providers = infra.files["versions.tf"]["terraform"][0]["required_providers"][0]
    google = providers["google"]
    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"\d+\.\d+\.\d+", google["version"]), google["version"]


def test_every_variable_is_described_and_validated(infra: Config) -> None:
    assert infra.variables
    undocumented = [n for n, v in infra.variables.items() if not v.get("description")]
    assert not undocumented, f"variables without description: {undocumented}"
    unvalidated = [
        n for n, v in infra.variables.items() if "validation" not in v and n not in UNVALIDATED_OK
    ]
    assert not unvalidated, f"variables without validation: {unvalidated}"


def test_every_output_is_described(infra: Config) -> None:
    assert {"function_urls", "function_sources", "dead_letter_subscriptions"} <= set(infra.outputs)
    assert all(o.get("description") for o in infra.outputs.values())


# ---- functions -----------------------------------------------------------------------


def test_every_function_folder_is_deployed_and_nothing_else(chain_module: dict) -> None:
    functions = chain_module["functions"]
    assert {spec["source"] for spec in functions.values()} == set(function_names())
    for name, spec in functions.items():
        handlers = entry_points(REPO / "functions" / spec["source"] / "main.py")
        assert name in handlers, f"functions/{spec['source']}/main.py has no handler `{name}`"
    for folder in function_names():
        for handler in entry_points(REPO / "functions" / folder / "main.py"):
            assert handler in functions or handler in UNDEPLOYED_HANDLERS, (
                f"functions/{folder}/main.py: handler `{handler}` is not deployed"
            )


def test_each_stage_has_one_subscriber_on_its_topic(chain_module: dict) -> None:
    subscribers = chain_module["subscribers"]
    for name in subscribers:
        assert chain_module["functions"][name]["consumes"] == chain.BY_NAME[name].topic, name
    # Every stage of this release has its function; unavailable ones (cluster) none.
    assert sorted(subscribers) == sorted(s.name for s in chain.STAGES if s.available)
    # HTTP-only functions are handlers answering HTTP, not CloudEvents.
    for name, spec in chain_module["functions"].items():
        if spec["consumes"] is None:
            handlers = entry_points(REPO / "functions" / spec["source"] / "main.py")
            assert handlers[name] == "http", name


def test_function_resource_runs_each_folders_handler(infra: Config) -> None:
    fn = infra.resource("google_cloudfunctions2_function", "fn")
    assert fn["for_each"] == "${module.chain.functions}"
    build = blocks(fn, "build_config")[0]
    assert build["entry_point"] == "${each.key}"
    source = blocks(blocks(build, "source")[0], "storage_source")[0]["object"]
    assert "var.function_sources, each.value.source" in source
    assert not blocks(fn, "event_trigger"), "functions are fed by push subscriptions"
    # fetch-leads is the HTTP start (gcloud functions call); the others take CloudEvents.
    assert entry_points(REPO / "functions/fetch_leads/main.py")["fetch_leads"] == "http"


def test_function_sizes_are_set_and_overridable(infra: Config, evaluate) -> None:
    service = blocks(infra.resource("google_cloudfunctions2_function", "fn"), "service_config")[0]
    for attribute, size in {
        "available_memory": "memory",
        "timeout_seconds": "timeout",
        "max_instance_request_concurrency": "concurrency",
        "max_instance_count": "max_instances",
        "min_instance_count": "min_instances",
    }.items():
        assert service[attribute] == f"${{each.value.sizes.{size}}}", attribute
    tuned = evaluate("chain", function_overrides={"process": {"memory": "8Gi", "timeout": 300}})
    process = tuned["functions"]["process"]["sizes"]
    assert process["memory"] == "8Gi" and process["timeout"] == 300
    assert process["max_instances"] >= 1  # the rest keeps its default
    assert tuned["functions"]["report"]["sizes"]["memory"] != "8Gi"


def test_function_timeouts_fit_in_the_push_ack_deadline(infra: Config, chain_module: dict):
    push = infra.resource("google_pubsub_subscription", "push")
    for name, spec in chain_module["functions"].items():
        assert spec["sizes"]["timeout"] <= push["ack_deadline_seconds"] <= 600, name


def test_function_overrides_validation_names_every_function(
    infra: Config, chain_module: dict
) -> None:
    validations = infra.variables["function_overrides"]["validation"]
    listed = re.findall(r'"([a-z_]+)"', validations[0]["condition"])
    assert set(listed) == set(chain_module["functions"])


def test_function_env_vars_are_settings() -> None:
    known = _settings_env()
    text = "\n".join(p.read_text() for p in INFRA.rglob("*.tf"))
    used = set(re.findall(r"\bLR_[A-Z0-9_]+\b", text))
    assert used, "infra/ sets no LR_* variable"
    assert used <= known, f"not settings (typo?): {sorted(used - known)}"
    for required in ("LR_BACKEND", "LR_PROJECT", "LR_BUCKET", "LR_TOPIC_PREFIX"):
        assert required in used


# ---- topics, subscriptions, dead letters ---------------------------------------------


def test_topics_are_the_chains(infra: Config, chain_module: dict) -> None:
    assert chain_module["topics"] == list(chain.TOPICS)
    assert chain_module["dead_letter_suffix"] == chain.DEAD_LETTER_SUFFIX
    for name in ("chain", "dead_letter"):
        topic = infra.resource("google_pubsub_topic", name)
        assert topic["for_each"] == "${toset(module.chain.topics)}"
    assert infra.resource("google_pubsub_topic", "chain")["name"].endswith("${each.key}")
    assert infra.resource("google_pubsub_topic", "dead_letter")["name"].endswith(
        "${each.key}${module.chain.dead_letter_suffix}"
    )
    # A dead letter is kept: a topic without subscription would drop it.
    inspect = infra.resource("google_pubsub_subscription", "dead_letter_inspect")
    assert inspect["for_each"] == "${toset(module.chain.topics)}"
    assert "google_pubsub_topic.dead_letter[each.key]" in inspect["topic"]


def test_push_subscriptions_retry_then_dead_letter(infra: Config) -> None:
    push = infra.resource("google_pubsub_subscription", "push")
    assert push["for_each"] == "${local.push_functions}"
    assert "spec.consumes != null" in infra.locals["push_functions"]
    assert push["topic"] == "${google_pubsub_topic.chain[each.value.consumes].id}"
    config = blocks(push, "push_config")[0]
    assert "google_cloudfunctions2_function.fn[each.key]" in config["push_endpoint"]
    assert blocks(config, "oidc_token"), "push must authenticate (functions require run.invoker)"
    assert blocks(push, "retry_policy"), "retry on failure needs an explicit retry policy"
    dead = blocks(push, "dead_letter_policy")[0]
    assert dead["dead_letter_topic"] == "${google_pubsub_topic.dead_letter[each.value.consumes].id}"
    assert dead["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    condition = infra.variables["max_delivery_attempts"]["validation"][0]["condition"]
    assert ">= 5" in condition and "<= 100" in condition


def test_publish_grants_match_what_the_code_publishes(chain_module: dict) -> None:
    for name, spec in chain_module["functions"].items():
        scheduled = name in ("sweep", "poll_batches")
        expected = code_publishes(name) if spec["consumes"] or scheduled else set()
        granted = set(spec["publishes"])
        assert expected <= granted, f"{name} publishes to {sorted(expected - granted)} ungranted"
        assert granted <= expected, f"{name} is granted {sorted(granted - expected)} it never uses"


def test_dead_letter_grants(infra: Config) -> None:
    own = infra.resource("google_pubsub_topic_iam_member", "own_dead_letter")
    assert own["for_each"] == "${local.push_functions}"
    assert "google_pubsub_topic.dead_letter[each.value.consumes]" in own["topic"]
    forwarder = infra.resource("google_pubsub_topic_iam_member", "dead_letter_forwarder")
    assert forwarder["member"] == "${local.pubsub_agent}"
    subscriber = infra.resource("google_pubsub_subscription_iam_member", "dead_letter_forwarder")
    assert subscriber["role"] == "roles/pubsub.subscriber"


# ---- secrets -------------------------------------------------------------------------


def test_every_secret_setting_has_a_secret(chain_module: dict) -> None:
    declared = {spec["env"] for spec in chain_module["secrets"].values()}
    secret_settings = _secret_settings()
    assert {"LR_OPENAI_API_KEYS", "LR_GEMINI_API_KEYS"} <= secret_settings
    missing = {
        env for env in secret_settings - declared if ALTERNATIVE_FORMS.get(env) not in declared
    }
    assert not missing, f"no secret for {sorted(missing)}"


def test_no_secret_is_orphaned(chain_module: dict) -> None:
    deployed = set(chain_module["functions"])
    readable = _secret_settings() | set(ALTERNATIVE_FORMS.values())
    for name, spec in chain_module["secrets"].items():
        assert spec["env"] in readable, f"secret {name} ({spec['env']}) is read by no setting"
        assert spec["functions"], f"secret {name} reaches no function"
        assert set(spec["functions"]) <= deployed, spec["functions"]
    for env in ALTERNATIVE_FORMS.values():
        assert env in _settings_env(), f"{env} is not a setting"


def test_secrets_are_mounted_and_granted(infra: Config) -> None:
    secret = infra.resource("google_secret_manager_secret", "secret")
    assert secret["for_each"] == "${module.chain.secrets}"
    service = blocks(infra.resource("google_cloudfunctions2_function", "fn"), "service_config")[0]
    dynamic = {next(iter(d)) for d in service.get("dynamic", [])}
    assert {"secret_environment_variables", "secret_volumes"} <= dynamic
    accessor = infra.resource("google_secret_manager_secret_iam_member", "accessor")
    assert accessor["role"] == "roles/secretmanager.secretAccessor"
    assert accessor["for_each"] == "${local.secret_grants}"


# ---- schedules -----------------------------------------------------------------------


def test_every_recipe_schedule_has_a_job(recipes_module: dict, infra: Config) -> None:
    recipes_dir = REPO / "recipes"
    expected = {}
    for name in list_recipes(recipes_dir):
        schedule = load_recipe(name, recipes_dir).meta.schedule  # validated cron and zone
        if schedule is not None:
            expected[name] = {"cron": schedule.cron, "time_zone": schedule.timezone}
    assert expected, "no recipe has a schedule: the test would prove nothing"
    assert recipes_module["schedules"] == expected
    assert recipes_module["recipes"] == list_recipes(recipes_dir)
    job = infra.resource("google_cloud_scheduler_job", "recipe")
    # Only the recipes a deployment names (test_infra_graph: none by default).
    assert "module.recipes.schedules" in job["for_each"]
    assert "var.scheduled_recipes" in job["for_each"]
    target = blocks(job, "pubsub_target")[0]
    assert target["topic_name"] == '${google_pubsub_topic.chain["recipe-runs"].id}'
    assert target["data"] == "${base64encode(jsonencode({recipe = each.key}))}"
    assert infra.modules["recipes"]["source"] == "./modules/recipes"


def test_schedule_module_follows_the_recipes(evaluate, tmp_path: Path) -> None:
    """Adding a schedule to a meta.yml is all it takes; the zone defaults to UTC as in the model."""
    for name, schedule in {
        "nightly": {"cron": "0 2 * * *"},
        "morning": {"cron": "30 8 * * 1-5", "timezone": "Europe/Madrid"},
        "manual": None,
    }.items():
        folder = tmp_path / "recipes" / name
        folder.mkdir(parents=True)
        meta: dict[str, Any] = {"recipe_schema_version": 2, "description": name}
        if schedule:
            meta["schedule"] = schedule
        (folder / "meta.yml").write_text(yaml.safe_dump(meta))
    out = evaluate("recipes", recipes_dir=str(tmp_path / "recipes"))
    assert out["schedules"] == {
        "nightly": {"cron": "0 2 * * *", "time_zone": "UTC"},
        "morning": {"cron": "30 8 * * 1-5", "time_zone": "Europe/Madrid"},
    }
    assert out["recipes"] == ["manual", "morning", "nightly"]


# ---- storage and Firestore -----------------------------------------------------------


def test_intermediates_expire_by_lifecycle_rule(infra: Config) -> None:
    bucket = infra.resource("google_storage_bucket", "data")
    rules = blocks(bucket, "lifecycle_rule")
    runs = [r for r in rules if blocks(r, "condition")[0].get("matches_prefix") == ["runs/"]]
    assert runs, "no lifecycle rule on runs/"
    assert blocks(runs[0], "action")[0]["type"] == "Delete"
    assert blocks(runs[0], "condition")[0]["age"] == "${var.intermediate_retention_days}"
    assert bucket["uniform_bucket_level_access"] is True


def test_summary_cache_ttl_matches_the_adapter(infra: Config) -> None:
    from common.adapters.gcp import firestore_cache

    source = Path(firestore_cache.__file__).read_text()
    assert 'f"{self.prefix}summary_cache"' in source and '"expires_at"' in source
    ttl = infra.resource("google_firestore_field", "summary_cache_ttl")
    assert ttl["collection"] == "${var.firestore_collection_prefix}summary_cache"
    assert ttl["field"] == "expires_at"
    assert "ttl_config" in ttl


def test_runs_index_matches_the_state_store_query(infra: Config) -> None:
    from common.adapters.gcp import firestore_state

    for name, field in (("runs_by_recipe", "recipe"), ("runs_by_status", "status")):
        index = infra.resource("google_firestore_index", name)
        assert index["collection"] == "${var.firestore_collection_prefix}runs"
        fields = [(f["field_path"], f["order"]) for f in blocks(index, "fields")]
        assert fields == [(field, "ASCENDING"), (firestore_state.CREATED_AT, "DESCENDING")]


def test_sweep_job_calls_the_sweep_function(infra: Config, chain_module: dict) -> None:
    """The sweeper runs in the cloud: a Scheduler job POSTs to the sweep function, authenticated."""
    sweep = chain_module["functions"]["sweep"]
    assert sweep["consumes"] is None
    assert entry_points(REPO / "functions/sweep/main.py")["sweep"] == "http"
    job = infra.resource("google_cloud_scheduler_job", "sweep")
    assert job["schedule"] == "${var.sweep_schedule}"
    target = blocks(job, "http_target")[0]
    assert target["http_method"] == "POST"
    assert 'google_cloudfunctions2_function.fn["sweep"]' in target["uri"]
    oidc = blocks(target, "oidc_token")[0]
    assert oidc["service_account_email"] == "${google_service_account.scheduler.email}"
    invoker = infra.resource("google_cloud_run_service_iam_member", "sweep_invoker")
    assert invoker["member"] == "${google_service_account.scheduler.member}"
    assert 'google_cloudfunctions2_function.fn["sweep"]' in invoker["service"]
    # The functions know the subscriptions' delivery limit and the sweeper's grace.
    env = infra.locals["common_env"]
    assert env["LR_MAX_DELIVERY_ATTEMPTS"] == "${tostring(var.max_delivery_attempts)}"
    assert env["LR_SWEEP_GRACE_SECONDS"] == "${tostring(var.sweep_grace_seconds)}"


def test_batches_poll_job_calls_the_poll_batches_function(
    infra: Config, chain_module: dict
) -> None:
    """The batch poller runs in the cloud: a Scheduler job POSTs to poll_batches, authenticated."""
    poller = chain_module["functions"]["poll_batches"]
    assert poller["consumes"] is None and poller["ingress"] == "ALLOW_INTERNAL_ONLY"
    assert entry_points(REPO / "functions/poll_batches/main.py")["poll_batches"] == "http"
    job = infra.resource("google_cloud_scheduler_job", "batches_poll")
    assert job["schedule"] == "${var.batch_poll_schedule}"
    target = blocks(job, "http_target")[0]
    assert target["http_method"] == "POST"
    assert 'google_cloudfunctions2_function.fn["poll_batches"]' in target["uri"]
    oidc = blocks(target, "oidc_token")[0]
    assert oidc["service_account_email"] == "${google_service_account.scheduler.email}"
    invoker = infra.resource("google_cloud_run_service_iam_member", "poll_batches_invoker")
    assert invoker["member"] == "${google_service_account.scheduler.member}"
    assert 'google_cloudfunctions2_function.fn["poll_batches"]' in invoker["service"]
    # What the poller reads with: the bucket (batch state, Gemini's output), Vertex AI
    # (batchPredictionJobs.get), the OpenAI keys (a batch is read with the key that made it).
    assert poller["storage"] and poller["vertex"]
    assert "poll_batches" in chain_module["secrets"]["openai-api-keys"]["functions"]
    # Vertex AI's service agent reads the batch input from and writes the output to the
    # data bucket, and only that bucket.
    grant = infra.resource("google_storage_bucket_iam_member", "vertex_batch_objects")
    assert grant["bucket"] == "${google_storage_bucket.data.name}"
    assert grant["member"] == "${local.vertex_agent}"
    assert (
        'google_project_service_identity.agent["aiplatform.googleapis.com"]'
        in (infra.locals["vertex_agent"])
    )


# ---- identities ----------------------------------------------------------------------


def test_one_service_account_per_function(infra: Config) -> None:
    account = infra.resource("google_service_account", "fn")
    assert account["for_each"] == "${module.chain.functions}"
    fn = infra.resource("google_cloudfunctions2_function", "fn")
    assert blocks(fn, "service_config")[0]["service_account_email"] == (
        "${google_service_account.fn[each.key].email}"
    )


def test_every_grant_is_commented(infra: Config) -> None:
    uncommented = [
        f"{kind}.{name}"
        for kind, name, commented in resource_comments((INFRA / "iam.tf").read_text())
        if kind.endswith("_iam_member") and not commented
    ]
    assert not uncommented, f"IAM grants without a comment saying why: {uncommented}"
    roles = {
        body["role"] for (kind, _), body in infra.resources.items() if kind.endswith("_iam_member")
    }
    assert not roles & {"roles/owner", "roles/editor", "roles/storage.admin"}, roles


def test_required_apis_are_enabled(infra: Config) -> None:
    services = set(infra.locals["services"])
    for api in (
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "pubsub.googleapis.com",
        "cloudscheduler.googleapis.com",
        "firestore.googleapis.com",
        "secretmanager.googleapis.com",
        "bigquery.googleapis.com",
    ):
        assert api in services, api


# ---- Cloud Build ---------------------------------------------------------------------


def test_cloudbuild_tests_packages_plans_and_applies() -> None:
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    ids = [step["id"] for step in build["steps"]]
    for wanted in ("test", "package", "plan", "apply"):
        assert wanted in ids, ids
    assert ids.index("test") < ids.index("package") < ids.index("plan") < ids.index("apply")
    assert "_STATE_BUCKET" in build["substitutions"]
    text = (REPO / "cloudbuild.yaml").read_text()
    assert "function_sources.tfvars.json" in text
    assert "make test" in text and "fmt -check" in text
