"""Function zips: deterministic, named by content, pinned; each serves its handlers alone.

The quick tests build the zips and read them. The ``packaging`` ones install
each function's pinned requirements, and nothing else, into one clean virtual
environment made for the session (no system site-packages; packages from the
local pip index or PyPI), resynchronised before each function (missing
packages installed, others removed), unpack the zip and post real requests to
its handlers there, chaining the messages the functions publish:
fetch_leads (an uploaded leads CSV) → fetch_conversations → process → report,
which writes the CSVs. The two functions that use BigQuery reach the project's
BigQuery double (`tests.support.fake_bigquery`, executing on DuckDB in this
process, and its Storage Read API over gRPC) through their own pinned clients:
fetch_leads stages the run's one conversations scan there, fetch_conversations
reads its shard of it. Every function also builds its Google adapters and
clients there (no call is made).

By default only fetch_leads (HTTP) and process (CloudEvent) are served, to keep
the suite fast on two cores; ``PACKAGING_ALL=1`` serves all five.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.infra.clean_venv import CleanVenv, prepared_venv
from tests.infra.infra_support import REPO
from tests.support.fake_bigquery import FakeBigQuery, serve
from tests.support.fake_bigquery_storage import (
    CREATE_READ_SESSION,
    FakeBigQueryStorage,
    serve_storage,
)

sys.path.insert(0, str(REPO / "scripts"))
import package_functions as pf  # noqa: E402

AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
RUN_ID = "packaging-run"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pf.Package]:
    """Every function packaged once for the session."""
    out = tmp_path_factory.mktemp("dist")
    packages = {name: pf.build(name, out) for name in pf.function_names()}
    pf.write_manifest(list(packages.values()), out)
    return packages


# ---- the zips ------------------------------------------------------------------------


def test_zips_are_deterministic_and_named_by_their_hash(
    built: dict[str, pf.Package], tmp_path: Path
) -> None:
    first, again = pf.build("process", tmp_path / "a"), pf.build("process", tmp_path / "b")
    assert again.zip_name == first.zip_name
    assert again.zip_path.read_bytes() == first.zip_path.read_bytes()
    for name, package in built.items():
        digest = hashlib.sha256(package.zip_path.read_bytes()).hexdigest()
        assert package.sha256 == digest
        assert package.zip_name == f"{name}-{digest[:12]}.zip"
    assert len({p.sha256 for p in built.values()}) == len(built), "two functions, one zip"


def test_a_source_change_renames_the_zip(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for part in ("functions/process", "common", "recipes", "pyproject.toml", "requirements.lock"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / part)
    first = pf.build("process", tmp_path / "a", root=root)
    with (root / "common" / "layout.py").open("a") as handle:
        handle.write("\n# a change\n")
    second = pf.build("process", tmp_path / "b", root=root)
    assert first.zip_name != second.zip_name


def test_zip_layout_is_what_cloud_functions_runs(built: dict[str, pf.Package]) -> None:
    for name, package in built.items():
        with zipfile.ZipFile(package.zip_path) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            assert names == sorted(names), f"{name}: entries not sorted"
            assert {i.date_time for i in infos} == {pf.ZIP_DATE}
            assert {i.external_attr >> 16 for i in infos} == {0o100644}
            for wanted in (
                "main.py",
                "requirements.txt",
                "common/__init__.py",
                "common/entrypoints.py",
                "recipes/demo/meta.yml",
            ):
                assert wanted in names, f"{name}: {wanted} missing"
            assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
            main = archive.read("main.py")
        assert main == (REPO / "functions" / name / "main.py").read_bytes()


def test_requirements_are_pinned_and_only_what_each_function_needs(
    built: dict[str, pf.Package],
) -> None:
    from importlib import metadata

    for name, package in built.items():
        pins = dict(line.split("==") for line in package.requirements)
        assert all(v for v in pins.values()), f"{name}: unpinned requirement"
        lowered = {k.lower() for k in pins}
        for needed in ("functions-framework", "pydantic-settings", "polars", "pyarrow"):
            assert needed in lowered, f"{name}: {needed} missing"
        assert "google-cloud-firestore" in lowered and "google-cloud-pubsub" in lowered
        assert not lowered & {"duckdb", "pytest", "pandas"}, f"{name}: local/test deps"
        # tqdm is ours only for the CLI's bars, but huggingface-hub (the cluster
        # step's tokenizers) needs it too.
        assert ("tqdm" in lowered) == (name == "cluster"), f"{name}: tqdm"
        queries = name in ("fetch_leads", "fetch_conversations", "report")  # report drops
        assert ("google-cloud-bigquery" in lowered) == queries, name
        reads_shards = name == "fetch_conversations"  # the Storage Read API
        assert ("google-cloud-bigquery-storage" in lowered) == reads_shards, name
        for dist, version in pins.items():
            assert metadata.version(dist) == version, f"{name}: {dist} pinned off the tests' env"


def test_manifest_and_tfvars(built: dict[str, pf.Package]) -> None:
    out = next(iter(built.values())).zip_path.parent
    sources = json.loads((out / "function_sources.tfvars.json").read_text())["function_sources"]
    assert sources == {name: p.zip_name for name, p in built.items()}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["fetch_leads"]["entry_points"]["fetch_leads"] == "http"
    assert manifest["process"]["entry_points"] == {"process": "cloudevent"}


# ---- serving in a clean environment --------------------------------------------------


@pytest.fixture(scope="session")
def venv() -> CleanVenv:
    """The session's clean environment (conftest starts filling it right after collection)."""
    return prepared_venv()


@pytest.fixture(scope="session")
def chain_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Local backends shared by the functions' checks, and the messages they pass on."""
    import polars as pl

    from tests.e2e.conftest import _generator

    sample = tmp_path_factory.mktemp("pkg-sample")
    _generator().generate(sample, seed=5, n_leads=80, anchor=AS_OF)
    data = tmp_path_factory.mktemp("pkg-data")
    (data / "uploads" / "demo").mkdir(parents=True)
    # What the recipe's leads SQL would return, uploaded instead (the path
    # `--skip-leads-query` takes): the Warehouse cannot run in these checks.
    columns = ["lead_key", "name", "country", "timezone", "language", "product", "campaign"]
    leads = pl.read_parquet(sample / "demo" / "leads.parquet").head(40).select(columns)
    leads.write_csv(data / "uploads" / "demo" / "leads.csv")
    return {"sample": sample, "data": data, "state": data / "state.sqlite", "published": {}}


@pytest.fixture(scope="session")
def bigquery_double(chain_state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The BigQuery double over the sample data, and the settings that aim a function at it."""
    fake = FakeBigQuery(execute=True, data_dir=chain_state["sample"], project="packaging")
    storage = FakeBigQueryStorage(fake)
    with serve(fake) as url, serve_storage(storage) as endpoint:
        yield {
            "fake": fake,
            "storage": storage,
            "env": {
                "LR_WAREHOUSE": "bigquery",
                "LR_PROJECT": "packaging",
                "LR_BIGQUERY_API_ENDPOINT": url,
                "LR_BIGQUERY_STORAGE_ENDPOINT": endpoint,
            },
        }


def _serve(
    venv: CleanVenv,
    package: pf.Package,
    plan: dict,
    state: dict,
    tmp: Path,
    extra_env: dict[str, str] | None = None,
) -> dict:
    folder = tmp / package.function
    with zipfile.ZipFile(package.zip_path) as archive:
        archive.extractall(folder)
    env = {
        "PATH": f"{venv.path / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp),
        "PYTHONNOUSERSITE": "1",
        "LR_BACKEND": "local",
        "LR_DATA_DIR": str(state["data"]),
        "LR_STATE_DB": str(state["state"]),
        "LR_LOG_LEVEL": "WARNING",
        # Only for building the Google clients in-process; nothing is sent.
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
        **(extra_env or {}),
    }
    script = Path(__file__).with_name("serve_check.py")
    done = subprocess.run(
        [str(venv.python), str(script), json.dumps(plan)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{package.function} in a clean venv:\n{done.stderr[-4000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["python"] == str(venv.path)
    assert "google_error" not in report, report["google_error"]
    return report


def _published(report: dict, topic: str) -> list[dict]:
    return [p["body"] for p in report["published"] if p["topic"] == topic]


# The order chains the messages: each function consumes what the previous published.
CHAINED = ["fetch_leads", "fetch_conversations", "process", "report", "summarize"]
# Then every other folder, with a generic check of each of its handlers.
SERVED = CHAINED + [f for f in pf.function_names() if f not in CHAINED]
# Installing the first function's ~60 pinned packages takes most of a minute on
# two cores; each further function costs a few seconds. By default the two
# representative ones run (the HTTP start and a CloudEvent step); PACKAGING_ALL=1
# (Cloud Build sets it) serves all five.
REPRESENTATIVE = {"fetch_leads", "process"}
ALL = os.environ.get("PACKAGING_ALL", "") == "1"


@pytest.mark.packaging
@pytest.mark.parametrize("function", SERVED)
def test_zip_serves_its_handlers_in_a_clean_venv(
    function: str,
    built: dict[str, pf.Package],
    venv: CleanVenv,
    chain_state: dict[str, Any],
    bigquery_double: dict[str, Any],
    tmp_path: Path,
) -> None:
    if not ALL and function not in REPRESENTATIVE:
        pytest.skip("PACKAGING_ALL=1 serves every function; by default fetch_leads and process")
    package = built[function]
    venv.sync(package.requirements)
    assert venv.listed() == set(venv.installed), "the environment holds more than the zip needs"
    published = chain_state["published"]
    shard = {"run_id": "packaging-empty", "recipe": "demo", "shard_index": 0, "shard_count": 1}
    plans: dict[str, dict] = {
        "fetch_leads": {
            "warehouse": True,
            "publishes": True,
            "requests": [
                {
                    "target": "fetch_leads",
                    "signature": "http",
                    "body": {
                        "recipe": "demo",
                        "run_id": RUN_ID,
                        "options": {"skip_leads_query": True, "as_of": AS_OF.isoformat()},
                    },
                }
            ],
        },
        "fetch_conversations": {
            "warehouse": True,
            "publishes": True,
            "requests": [
                {
                    "target": "fetch_conversations",
                    "signature": "cloudevent",
                    # The shard fetch_leads published (it is served first).
                    "body": published.get("leads-fetched", [shard])[0],
                }
            ],
        },
        "process": {
            "publishes": True,
            "requests": [
                {
                    "target": "process",
                    "signature": "cloudevent",
                    "body": published.get("leads-fetched", [{}])[0],
                }
            ],
        },
        "report": {
            "warehouse": True,  # it drops the run's staged scan
            "requests": [
                {
                    "target": "report",
                    "signature": "cloudevent",
                    "body": published.get("clustered", [{}])[0],
                }
            ],
        },
        "sweep": {
            "publishes": True,
            "requests": [{"target": "sweep", "signature": "http", "body": {}}],
        },
        "poll_batches": {
            "publishes": True,
            "requests": [{"target": "poll_batches", "signature": "http", "body": {}}],
        },
        "summarize": {
            "publishes": True,
            "requests": [
                {"target": "summarize", "signature": "cloudevent", "body": {"run_id": "x"}},
                {"target": "summarize_http", "signature": "http", "body": {"recipe": "demo"}},
            ],
        },
    }
    if function == "process":
        _write_conversations(chain_state)
    plan = plans.get(function) or _generic_plan(package)
    extra_env = bigquery_double["env"] if plan.get("warehouse") else None
    report = _serve(venv, package, plan, chain_state, tmp_path, extra_env)
    answers = {a["target"]: a for a in report["answers"]}
    for topic in {p["topic"] for p in report["published"]}:
        published[topic] = _published(report, topic)

    assert "duckdb" not in report["modules"] and "pandas" not in report["modules"]
    if function == "fetch_leads":
        assert answers["fetch_leads"]["status"] == 200, answers
        assert json.loads(answers["fetch_leads"]["body"]) == {"run_id": RUN_ID}
        [message] = _published(report, "leads-fetched")
        assert (message["run_id"], message["shard_count"]) == (RUN_ID, 1)
        assert set(report["google"]) == {"state", "blobs", "cache", "bus", "warehouse"}
        assert report["google"]["warehouse"] == "BigQueryWarehouse"
        # The run's one conversations scan ran on the double, through the zip's client.
        scans = [
            j
            for j in bigquery_double["fake"].query_jobs()
            if "destinationTable" in j["configuration"]["query"]
        ]
        assert len(scans) == 1
    elif function == "fetch_conversations":
        # Its shard of the staged scan, read with the zip's Storage Read API client.
        assert answers["fetch_conversations"]["status"] == 200, answers
        [message] = _published(report, "conversations-fetched")
        assert (message["run_id"], message["shard_index"]) == (RUN_ID, 0)
        assert bigquery_double["storage"].calls(CREATE_READ_SESSION)
        assert report["google"]["warehouse"] == "BigQueryWarehouse"
    elif function == "process":
        assert answers["process"]["status"] == 200, answers
        [run] = _published(report, "clustered")  # the only shard completes the fan-in
        assert run["run_id"] == RUN_ID
    elif function == "report":
        assert answers["report"]["status"] == 200, answers
        assert report["google"]["warehouse"] == "BigQueryWarehouse"
        staged = [k for k in bigquery_double["fake"].tables if k[1] == "lead_recovery_staging"]
        assert not staged, staged  # the run's staged tables were dropped
        analysis = list((chain_state["data"] / "output_run" / "demo").glob("*/demo_analysis.csv"))
        assert len(analysis) == 1, json.dumps(report["published"])[:3000]
        with analysis[0].open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        ignored = list((chain_state["data"] / "output_run" / "demo").glob("*/ignored.csv"))
        with ignored[0].open(encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
        with (chain_state["data"] / "uploads/demo/leads.csv").open(encoding="utf-8") as handle:
            assert len(rows) == len(list(csv.DictReader(handle)))
    elif function == "sweep":
        # Authenticated by IAM (the Scheduler's OIDC token), not by the body: a POST sweeps.
        assert answers["sweep"]["status"] == 200, answers
        assert "actions" in json.loads(answers["sweep"]["body"])
        assert set(report["google"]) == {"state", "blobs", "cache", "bus"}
    elif function == "poll_batches":
        # Authenticated by IAM (the Scheduler's OIDC token): a POST polls (nothing waits here).
        assert answers["poll_batches"]["status"] == 200, answers
        assert json.loads(answers["poll_batches"]["body"]) == {"actions": []}
        assert set(report["google"]) == {"state", "blobs", "cache", "bus"}
    elif function == "summarize":
        assert answers["summarize"]["status"] == 200, answers  # bad body: acknowledged
        assert _published(report, "processed-dead-letter")
        assert answers["summarize_http"]["status"] in (401, 403), answers  # no token
    else:
        # Served: a message it cannot use is acknowledged, an HTTP call without
        # credentials or body is refused with a 4xx; nothing crashes (5xx).
        for name, kind in package.entry_points.items():
            status = answers[name]["status"]
            assert (status == 200) if kind == "cloudevent" else (400 <= status < 500), answers


def _generic_plan(package: pf.Package) -> dict:
    """One request per handler: an unusable Pub/Sub message, or an empty HTTP POST."""
    return {
        "requests": [
            {
                "target": name,
                "signature": kind,
                "body": {"not": "a message"} if kind == "cloudevent" else {},
            }
            for name, kind in sorted(package.entry_points.items())
        ]
    }


def _write_conversations(state: dict[str, Any]) -> None:
    """The conversations shard fetch_conversations would have written (it needs BigQuery)."""
    import polars as pl

    from common import layout
    from common.processors.base import MESSAGE_SCHEMA

    data: Path = state["data"]
    leads = pl.read_parquet(data / layout.shard_key(RUN_ID, "leads", 0))
    messages = pl.read_parquet(state["sample"] / "demo" / "messages.parquet")
    shard = messages.filter(pl.col("lead_key").is_in(leads["lead_key"].implode()))
    shard = shard.filter(pl.col("sent_at") <= AS_OF + timedelta(0)).select(list(MESSAGE_SCHEMA))
    target = data / layout.shard_key(RUN_ID, "conversations", 0)
    target.parent.mkdir(parents=True, exist_ok=True)
    shard.cast(MESSAGE_SCHEMA).write_parquet(target)  # type: ignore[arg-type]
