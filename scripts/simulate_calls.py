"""Post simulated voice calls for leads of a report to a running call-webhook (demos).

    python scripts/simulate_calls.py --csv output_run/demo/latest.csv --url http://127.0.0.1:8081/ \\
        [--leads 6] [--outcomes recovered,not_interested,no_answer,callback_requested,voicemail]
        [--timezone America/Mexico_City] [--start 2026-11-20T16:00:00Z] [--seed 1]

For each of the first ``--leads`` rows of the CSV (or a random sample with
``--seed``) it sends what the voice-call provider would: status updates
(queued, ringing, in-progress, ended) and the end-of-call report, with the
lead key in ``call.metadata.lead_key`` and an outcome taken in turn from
``--outcomes``. Requests are authenticated as the webhook's ``LR_CALL_WEBHOOK_*``
settings say (same environment or ``.env``), so the webhook cannot tell them
from the provider's. The lead's time zone comes from the CSV's ``timezone``
column when it has one, else ``--timezone``.

Start the webhook first, e.g.::

    LR_CALL_WEBHOOK_SECRET=demo functions-framework --target=call_webhook \\
        --source=functions/call_webhook/main.py --port=8081
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from common.calls.simulate import OUTCOMES, auth_headers, call_sequence  # noqa: E402
from common.settings import get_settings  # noqa: E402

DEFAULT_OUTCOMES = "recovered,not_interested,no_answer,callback_requested,voicemail,recovered"


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """POST one message; the status and the JSON answer."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True, help="a report's analysis CSV")
    parser.add_argument("--url", default="http://127.0.0.1:8081/", help="the call-webhook URL")
    parser.add_argument("--leads", type=int, default=6, help="how many leads to call")
    parser.add_argument("--outcomes", default=DEFAULT_OUTCOMES, help="comma-separated, in turn")
    parser.add_argument("--timezone", default=None, help="zone of leads without a timezone column")
    parser.add_argument(
        "--start",
        default=None,
        help="when the first call starts (ISO 8601; default: now); each next one a minute later",
    )
    parser.add_argument("--seed", type=int, default=None, help="pick leads at random")
    args = parser.parse_args(argv)

    outcomes = [o.strip() for o in args.outcomes.split(",") if o.strip()]
    unknown = [o for o in outcomes if o not in OUTCOMES]
    if unknown or not outcomes:
        parser.error(f"--outcomes: unknown {unknown}; expected some of {', '.join(OUTCOMES)}")
    with args.csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "lead_key" not in rows[0]:
        parser.error(f"{args.csv}: expected a CSV with a lead_key column")
    if args.seed is not None:
        random.Random(args.seed).shuffle(rows)
    start = (
        datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        if args.start
        else datetime.now(UTC)
    )
    settings = get_settings()
    failures = 0
    for index, row in enumerate(rows[: args.leads]):
        outcome = outcomes[index % len(outcomes)]
        bodies = call_sequence(
            row["lead_key"],
            outcome,
            started_at=start + timedelta(minutes=index),
            timezone=row.get("timezone") or args.timezone,
            name=(row.get("name") or "there").split(" ")[0].title(),
        )
        answer: dict = {}
        for body in bodies:
            raw = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **auth_headers(settings, raw)}
            status, answer = post(args.url, raw, headers)
            if status != 200:
                failures += 1
                print(f"{row['lead_key']}: HTTP {status} {answer}", file=sys.stderr)
        if answer.get("status") == "duplicate":
            print(f"{row['lead_key']:<16} {outcome:<19} → already recorded (duplicate)")
            continue
        print(
            f"{row['lead_key']:<16} {outcome:<19} → {answer.get('disposition')}, "
            f"next attempt {answer.get('next_attempt_at') or '-'}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
