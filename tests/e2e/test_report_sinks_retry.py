"""Issue 18: a retried report does not deliver its sinks again (webhooks, the Google Sheet)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import local_runner
from common.errors import TransientError
from common.messages import RunOptions
from common.reporting import latest
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.e2e.test_report_destinations import configured, fake, receiver  # noqa: F401
from tests.support.fake_sheets import FakeSheets
from tests.support.webhook_receiver import Receiver


def test_a_report_retried_after_its_sinks_ran_skips_what_was_delivered(
    configured: Path,  # noqa: F811
    fake: FakeSheets,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_runner, "BACKOFF_S", 0.0)
    real, failures = latest.promote, []

    def promote_fails_once(*args, **kwargs):
        # After the sinks ran: the report's own storage hiccups and it is redelivered.
        if not failures:
            failures.append(1)
            raise TransientError("latest.json busy", where="test")
        return real(*args, **kwargs)

    monkeypatch.setattr(latest, "promote", promote_fails_once)
    ctx = StepContext.from_settings(Settings())
    summary = local_runner.run_recipe(
        ctx, "demo", RunOptions(as_of=AS_OF, limit=60), progress=False
    )
    assert summary.status == "succeeded" and failures == [1]
    assert len(receiver.received) == 1  # the live webhook got the run once
    run = ctx.backends.state.get_run(summary.run_id)
    sinks = run["sinks"]
    # The sheet was written by the first attempt only: the retry made no request.
    assert sinks["gsheets"]["status"] == "ok" and sinks["gsheets"].get("reused") is True
    assert len([c for c in fake.calls if c.kind != "token"]) == sinks["gsheets"]["requests"]
    dead, alive = sinks["webhooks"]["deliveries"]
    assert alive.get("reused") is True and dead["status"] == "failed"  # the dead one retried
    assert dead.get("reused") is None
    assert run["sink_deliveries"]["html"]["status"] == "ok"
    assert set(summary.outputs) >= {"html", "sheet"}
