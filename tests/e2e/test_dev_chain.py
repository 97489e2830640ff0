"""`make dev`: the printed `gcloud` line runs the demo through the local chain; `dev-down` cleans up.

Drives scripts/dev_chain.py (what `make dev` and `make dev-down` call) as a
user would: start the stack, run the exact `gcloud pubsub topics publish` line
it prints with the real `gcloud` binary, follow the run with `lead-recovery
runs wait --latest`, then stop everything and check that no process of it is
left and no port it used still answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.dev.processes import group_members, port_open
from tests.e2e.conftest import AS_OF, REPO

pytestmark = pytest.mark.emulators

SHARD_SIZE = 75  # 300 leads in the sample window: 4 shards
SCRIPT = [sys.executable, str(REPO / "scripts/dev_chain.py")]


def _run(
    args: list[str] | str, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=REPO,
        env=env,
        shell=isinstance(args, str),
        executable="/bin/bash" if isinstance(args, str) else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the real gcloud binary")
def test_make_dev_runs_the_printed_gcloud_line_to_succeeded_and_dev_down_leaves_nothing(
    tmp_path: Path, sample_dir: Path, recipes_dir: Path
) -> None:
    meta_path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = SHARD_SIZE
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    state_dir = tmp_path / "dev"
    # What a user's shell holds: no emulator variables, no gcloud overrides.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LR_", "CLOUDSDK_")) and not k.endswith("_EMULATOR_HOST")
    }
    env |= {
        "LR_DEV_STATE_DIR": str(state_dir),
        "LR_DEV_AS_OF": AS_OF.isoformat().replace("+00:00", "Z"),
        "LR_WAREHOUSE_DIR": str(sample_dir),
        "LR_RECIPES_DIR": str(recipes_dir),
        "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",
    }
    processes: list[dict] = []
    try:
        up = _run([*SCRIPT, "up"], env, timeout=240)
        state_file = state_dir / "state.json"
        if state_file.exists():
            processes = json.loads(state_file.read_text())["processes"]
        assert up.returncode == 0, up.stdout + up.stderr
        names = {p["name"] for p in processes}
        assert {"firestore", "pubsub", "gcs", "fetch_leads", "process", "report"} <= names

        lines = up.stdout.splitlines()
        [publish] = [line for line in lines if "gcloud pubsub topics publish recipe-runs" in line]
        assert "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=" in publish
        sent = _run(publish, env, timeout=120)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "messageIds" in sent.stdout + sent.stderr

        [follow] = [line for line in lines if "runs wait --latest --recipe demo" in line]
        waited = _run(follow + " --timeout 240", env, timeout=300)
        logs = "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
            for p in sorted((state_dir / "logs").glob("*.log"))
        )
        assert waited.returncode == 0, waited.stdout + waited.stderr + logs
        assert waited.stdout.splitlines()[-1].endswith(" succeeded"), waited.stdout
        assert "fetch_conversations 4/4" in waited.stdout, waited.stdout
    finally:
        down = _run([*SCRIPT, "down"], env, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    for process in processes:
        assert not group_members(process["pid"]), process
        assert not port_open(process["port"]), process
    assert not (state_dir / "state.json").exists()
