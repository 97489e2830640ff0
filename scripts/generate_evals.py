"""Generate the `stall_reasons` eval set from the sample data's known scenarios.

Every sample lead follows one scenario (``demo/ground_truth.parquet``). Where a
scenario fixes the answer of an output field without doubt, the lead becomes a
case with that expectation; other fields (and ambiguous scenarios) are left out:

======================  ==========================================================
scenario                expected
======================  ==========================================================
never_replied           primary_stall_reason_code NO_REPLY
stalled_in_profiling    PROFILING_OR_DOCUMENTS (only when the bot spoke last)
handoff_accepted        WAITING_FOR_ADVISOR; next_action CALL_NOW or HUMAN_FOLLOW_UP
transferred_to_human    next_action HUMAN_FOLLOW_UP (a live agent owns the chat)
handoff_declined        by the reason the customer wrote: "the rate is too high" →
                        PRICE_OR_TERMS; "I already got a loan elsewhere" →
                        NOT_INTERESTED and next_action CLOSE
======================  ==========================================================

Cases embed their messages and lead fields (the set does not depend on the
sample being present) and the sample's anchor as ``as_of``. Same sample, same
``--seed`` and ``--per-scenario``: the same file.

Usage::

    python scripts/generate_evals.py [--sample data/sample] [--per-scenario 6] [--seed 7]
                                     [--out recipes/stall_reasons/evals/generated.jsonl]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

DEFAULT_SAMPLE = Path("data/sample")
DEFAULT_OUT = Path("recipes/stall_reasons/evals/generated.jsonl")
LEAD_FIELDS = ("name", "country", "language", "product", "preapproved_amount")

THRESHOLDS = {
    "primary_stall_reason_code": {"accuracy": 0.7, "answered_rate": 0.95},
    "next_action": {"accuracy": 0.6},
}
"""The gate of this set: a model worth using gets these unambiguous cases right."""

PRICE = ("la tasa esta muy alta", "the rate is too high")
ELSEWHERE = ("ya consegui con otro banco", "i already got a loan elsewhere")
"""The sample generator's decline reasons (scripts/generate_sample_data.py), normalized."""


def _plain(text: str | None) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def expectation(scenario: str, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The unambiguous expectations of one lead, or None (see the module docstring)."""
    if not messages:
        return None
    last = messages[-1]["sender"]
    user_text = " ".join(_plain(m["text"]) for m in messages if m["sender"] == "user")
    if scenario == "never_replied":
        return {"primary_stall_reason_code": "NO_REPLY"}
    if scenario == "stalled_in_profiling" and last == "bot":
        return {"primary_stall_reason_code": "PROFILING_OR_DOCUMENTS"}
    if scenario == "handoff_accepted":
        return {
            "primary_stall_reason_code": "WAITING_FOR_ADVISOR",
            "next_action": ["CALL_NOW", "HUMAN_FOLLOW_UP"],
        }
    if scenario == "transferred_to_human":
        return {"next_action": "HUMAN_FOLLOW_UP"}
    if scenario == "handoff_declined":
        if any(p in user_text for p in PRICE):
            return {"primary_stall_reason_code": "PRICE_OR_TERMS"}
        if any(p in user_text for p in ELSEWHERE):
            return {"primary_stall_reason_code": "NOT_INTERESTED", "next_action": "CLOSE"}
    return None


def _bucket(scenario: str, expected: dict[str, Any]) -> str:
    # handoff_declined has two kinds of case; pick from each separately.
    return f"{scenario}:{expected.get('primary_stall_reason_code', '')}"


def build_cases(sample: Path, *, per_scenario: int, seed: int) -> tuple[str, list[dict]]:
    """The anchor (as_of) and the cases, ``per_scenario`` per kind, in a stable order."""
    manifest = json.loads((sample / "manifest.json").read_text(encoding="utf-8"))
    anchor = str(manifest["anchor"])
    truth = pl.read_parquet(sample / "demo/ground_truth.parquet")
    leads = pl.read_parquet(sample / "demo/leads.parquet")
    messages = (
        pl.read_parquet(sample / "demo/messages.parquet")
        .unique(subset=["message_id"], keep="first")
        .sort("lead_key", "sent_at", "message_id")
    )
    by_lead = {
        key[0]: frame.drop("lead_key").to_dicts()
        for key, frame in messages.group_by("lead_key", maintain_order=True)
    }
    lead_rows = {row["lead_key"]: row for row in leads.iter_rows(named=True)}
    chosen: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(truth.iter_rows(named=True), key=lambda r: _rank(seed, r["lead_key"])):
        convo = by_lead.get(row["lead_key"], [])
        expected = expectation(row["scenario"], convo)
        if expected is None:
            continue
        bucket = chosen.setdefault(_bucket(row["scenario"], expected), [])
        if len(bucket) >= per_scenario:
            continue
        lead = lead_rows[row["lead_key"]]
        bucket.append(
            {
                "id": f"{row['scenario']}-{len(bucket) + 1:02d}",
                "lead": {k: lead[k] for k in LEAD_FIELDS if lead.get(k) is not None},
                "messages": [
                    {
                        "sent_at": m["sent_at"].isoformat().replace("+00:00", "Z"),
                        "sender": m["sender"],
                        "text": m["text"],
                        "message_id": m["message_id"],
                    }
                    for m in convo
                ],
                "expected": expected,
                "tags": ["generated", row["scenario"], str(lead.get("language") or "")],
                "notes": f"sample lead {row['lead_key']} (seed {manifest['seed']})",
            }
        )
    cases = [case for name in sorted(chosen) for case in chosen[name]]
    for name, bucket in chosen.items():  # ids are unique per scenario, also across buckets
        if name.startswith("handoff_declined"):
            kind = name.split(":", 1)[1].lower()
            for i, case in enumerate(bucket, start=1):
                case["id"] = f"handoff_declined-{kind}-{i:02d}"
    return anchor, cases


def write_set(out: Path, anchor: str, cases: Sequence[dict[str, Any]]) -> None:
    """The JSONL file: a header line, then one case per line."""
    header = {
        "header": {
            "description": "Generated from the sample data's ground truth "
            "(scripts/generate_evals.py): only fields a scenario fixes without doubt.",
            "as_of": anchor,
            "eval_thresholds": THRESHOLDS,
        }
    }
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps(case, ensure_ascii=False) for case in cases]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE, help="Sample data folder.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="The JSONL file to write.")
    parser.add_argument("--per-scenario", type=int, default=6, help="Cases per kind of case.")
    parser.add_argument("--seed", type=int, default=7, help="Which leads are picked.")
    args = parser.parse_args(argv)
    if not (args.sample / "manifest.json").is_file():
        print(
            f"no sample data in {args.sample}: run `python scripts/generate_sample_data.py` first",
            file=sys.stderr,
        )
        return 2
    anchor, cases = build_cases(args.sample, per_scenario=args.per_scenario, seed=args.seed)
    write_set(args.out, anchor, cases)
    print(f"wrote {len(cases)} cases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
