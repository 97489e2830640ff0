"""Generate seeded, deterministic portfolio-company messages for the ``investor_update`` recipe.

Each company is a "lead" whose founder keeps an investor posted over chat and
email for the last 90 days: monthly update emails with MRR, customers, burn
and runway; chat about hires, churned customers, funding rounds, product
launches, incidents, partnerships and enterprise deals; automated bot
notifications (Stripe, PagerDuty, HubSpot, Greenhouse); the investor's
replies; and plenty of routine chatter that is not an event. Figures follow
one trajectory per company (MRR grows or shrinks month over month), so the
events of different batches agree with each other.

Layout written under ``out_dir`` (``companies/manifest.json`` last, atomically)::

    companies/leads.parquet     one row per company: lead_key (company id), company,
                                sector, contact_name, country, lead_created_at
    companies/messages.parquet  message_id, lead_key, sent_at (UTC), sender
                                (user = founder, agent = investor, bot), text;
                                sorted by lead_key, sent_at, message_id
    companies/manifest.json     seed, anchor, counts, relative file paths

Same ``seed`` + ``anchor`` + ``n_companies`` gives byte-identical files. It does
not touch ``demo/`` (see ``scripts/generate_sample_data.py``).

Usage::

    python scripts/generate_company_data.py [--out data/sample] [--seed 7] [--companies 40]
                                            [--anchor 2026-11-20T18:00:00Z] [--force]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

try:
    from common import sample_io
except ImportError:  # run as a plain script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from common import sample_io

DEFAULT_OUT = Path("data/sample")
DEFAULT_SEED = 7
DEFAULT_COMPANIES = 40
WINDOW_DAYS = 90
"""Messages are sent within this many days before the anchor."""
MIN_MESSAGES, MAX_MESSAGES = 60, 400
"""Messages per company (uniform), so some companies need several batches of 200."""

LEADS_SCHEMA = pa.schema(
    [
        ("lead_key", pa.string()),
        ("company", pa.string()),
        ("sector", pa.string()),
        ("contact_name", pa.string()),
        ("country", pa.string()),
        ("lead_created_at", pa.timestamp("us", tz="UTC")),
    ]
)
MESSAGES_SCHEMA = pa.schema(
    [
        ("message_id", pa.string()),
        ("lead_key", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("sender", pa.string()),
        ("text", pa.string()),
    ]
)

_SECOND = 1_000_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# fmt: off
PREFIXES = ("Lum", "Quant", "Nova", "Ver", "Brio", "Kal", "Tessa", "Orbi", "Zen", "Flux",
            "Mira", "Vela", "Arbo", "Pola", "Cora", "Hexa", "Juno", "Sola", "Tera", "Ombra")
SUFFIXES = ("ora", "ix", "ly", "io", "ent", "aro", "ify", "era", "um", "ex")
TAILS = ("", "", " Labs", " AI", " Health", " Pay", " Cloud", " Logistics", " Systems")
SECTORS = ("fintech", "healthtech", "devtools", "logistics", "edtech", "climate",
           "marketplace", "cybersecurity", "hr_tech", "insurtech")
FOUNDERS = ("Ana Ruiz", "Ben Carter", "Carla Mendes", "Diego Salas", "Elena Park", "Femi Adeyemi",
            "Grace Liu", "Hugo Martin", "Isabel Torres", "Jonas Berg", "Kiara Shah", "Leo Rossi",
            "Maya Cohen", "Nico Alvarez", "Olga Novak", "Pablo Ortega", "Quinn Avery", "Rosa Ibarra",
            "Sam Okafor", "Tara Singh")
INVESTORS = ("Laura", "Marc", "Priya", "Tom")
COUNTRIES = ("US", "US", "US", "MX", "CO", "ES", "UK", "DE", "BR")
CUSTOMERS = ("Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Logistics", "Wayne Retail",
             "Hooli", "Vandelay Imports", "Soylent Foods", "Tyrell Systems", "Cyberdyne", "Wonka Co",
             "Pied Piper", "Gringotts Bank", "Oceanic Air", "Monarch Energy")
ROLES = ("VP of Engineering", "Head of Sales", "senior backend engineer", "product designer",
         "CFO", "two account executives", "Head of Customer Success", "data scientist",
         "Head of Marketing", "three support engineers")
FUNDS = ("Northstar Ventures", "Blue Lake Capital", "Kaszek", "Seedcamp", "Atomico",
         "Redpoint", "Foundry Partners", "Harbor VC")
FEATURES = ("self-serve onboarding", "the public API", "SSO and audit logs", "the mobile app",
            "usage-based billing", "the AI assistant", "the analytics dashboard",
            "the Salesforce integration", "multi-currency payouts", "the partner portal")
PARTNERS = ("Stripe", "Shopify", "AWS Marketplace", "HubSpot", "Mercado Libre", "SAP", "Deel",
            "Twilio")
FILLER_USER = (
    "Sure, Thursday 3pm works for me", "Sending the deck in a bit", "thanks!", "Will do 👍",
    "Can we push our call to next week?", "Quick q: do you know anyone at {customer}?",
    "Just shared the data room link", "On a plane today, back tomorrow",
    "Board deck draft is in the folder", "Happy to jump on a call", "Got it, thanks {investor}",
    "Here is the intro request I mentioned", "Heads down on the release this week",
    "ok", "Will update the model and send it over", "Agreed, let's discuss at the board meeting",
)
FILLER_AGENT = (
    "Thanks {founder}, talk Thursday", "Can you share the updated deck before Thursday?",
    "How is runway looking?", "Congrats to the team!", "Happy to make that intro",
    "Let's sync on hiring plans next week", "Received, will review tonight",
    "Great progress, keep it up", "Any update on {customer}?", "Can you send the cap table?",
)
# fmt: on


@dataclass
class _Company:
    key: str
    name: str
    sector: str
    founder: str
    investor: str
    country: str
    created_us: int
    mrr_k: float
    growth: float
    customers: int
    headcount: int
    burn_k: float
    messages: list[tuple[int, str, str]] = field(default_factory=list)


def _to_us(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _SECOND + delta.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(thousands: float) -> str:
    if thousands >= 1000:
        return f"${thousands / 1000:.2f}M"
    return f"${thousands:.0f}k"


def _make_company(rng: random.Random, index: int, anchor_us: int, used: set[str]) -> _Company:
    while True:
        name = rng.choice(PREFIXES) + rng.choice(SUFFIXES) + rng.choice(TAILS)
        if name not in used:
            used.add(name)
            break
    mrr = round(rng.uniform(15, 450), 1)
    return _Company(
        key=f"c{index + 1:04d}",
        name=name,
        sector=rng.choice(SECTORS),
        founder=rng.choice(FOUNDERS),
        investor=rng.choice(INVESTORS),
        country=rng.choice(COUNTRIES),
        created_us=anchor_us - rng.randint(120, 900) * _DAY - rng.randint(0, _DAY - 1),
        mrr_k=mrr,
        growth=round(rng.uniform(-0.06, 0.16), 3),
        customers=max(5, int(mrr * rng.uniform(0.3, 1.2))),
        headcount=rng.randint(6, 60),
        burn_k=round(rng.uniform(60, 600), 0),
    )


def _work_time(rng: random.Random, day_start_us: int) -> int:
    """A moment in working hours (13:00-23:00 UTC covers the Americas' and Europe's days)."""
    return day_start_us + 13 * _HOUR + rng.randint(0, 10 * _HOUR - 1)


def _monthly_update(c: _Company, rng: random.Random, month: str) -> str:
    new = rng.randint(1, 9)
    lost = rng.randint(0, 4)
    previous = c.mrr_k
    c.mrr_k = round(c.mrr_k * (1 + c.growth + rng.uniform(-0.02, 0.02)), 1)
    c.customers = max(1, c.customers + new - lost)
    change = (c.mrr_k / previous - 1) * 100
    runway = max(3, int(rng.uniform(6, 30)))
    highlight = rng.choice(
        [
            f"signed {rng.choice(CUSTOMERS)} on an annual plan",
            f"launched {rng.choice(FEATURES)}",
            "net revenue retention reached 118%",
            f"pipeline grew to {_money(c.mrr_k * rng.uniform(2, 6))} in qualified ARR",
        ]
    )
    lowlight = rng.choice(
        [
            f"lost {rng.choice(CUSTOMERS)} to a cheaper competitor",
            "sales cycle for enterprise deals is stretching to 5 months",
            "one senior engineer resigned",
            "cloud costs up 22% after the migration",
        ]
    )
    return (
        f"Subject: {c.name} — {month} update\n\n"
        f"Hi {c.investor},\n\nQuick update on {month}:\n"
        f"- MRR: {_money(c.mrr_k)} ({change:+.1f}% MoM)\n"
        f"- Customers: {c.customers} ({new} new, {lost} churned)\n"
        f"- Burn: {_money(c.burn_k)}/month, runway {runway} months\n"
        f"- Team: {c.headcount} people\n\n"
        f"Highlight: {highlight}.\nLowlight: {lowlight}.\n\nBest,\n{c.founder.split()[0]}"
    )


def _event(c: _Company, rng: random.Random) -> list[tuple[str, str]]:
    """One business event as (sender, text) messages, in order."""
    kind = rng.choices(
        ("hire", "churn", "funding", "launch", "incident", "partnership", "deal", "growth"),
        weights=(4, 3, 1, 3, 2, 2, 3, 2),
    )[0]
    customer = rng.choice(CUSTOMERS)
    if kind == "hire":
        role = rng.choice(ROLES)
        c.headcount += 3 if role.startswith(("two", "three")) else 1
        return [
            ("bot", f"[Greenhouse] Offer accepted: {role} starts in {rng.randint(1, 4)} weeks"),
            ("user", f"Big one: we hired our {role}. Team is now {c.headcount} people."),
        ]
    if kind == "churn":
        lost = round(rng.uniform(1.5, 25), 1)
        return [
            (
                "user",
                f"Bad news: {customer} is churning at the end of the month "
                f"({_money(lost)} ARR). Reason: budget cuts on their side.",
            ),
            ("agent", "Sorry to hear. Is anyone else at risk?"),
            (
                "user",
                f"Logo churn this quarter is {rng.uniform(1, 6):.1f}%; two accounts on watch.",
            ),
        ]
    if kind == "funding":
        amount = rng.choice((1.5, 3, 4, 6, 8, 12, 20))
        fund = rng.choice(FUNDS)
        stage = "seed" if amount < 5 else "Series A"
        return [
            ("user", f"We have a term sheet from {fund} for a ${amount}M {stage}!"),
            ("agent", "Fantastic news, congrats. Happy to help with diligence."),
            (
                "user",
                f"Closed the ${amount}M {stage} led by {fund}; wires landed today. "
                f"Runway is now {rng.randint(20, 36)} months.",
            ),
        ]
    if kind == "launch":
        feature = rng.choice(FEATURES)
        return [
            (
                "user",
                f"We launched {feature} today. {rng.randint(20, 300)} customers "
                "in the beta, waitlist doubled.",
            )
        ]
    if kind == "incident":
        hours = rng.choice((0.5, 1, 2, 3, 6))
        number = rng.randint(100, 999)
        return [
            (
                "bot",
                f"[PagerDuty] INCIDENT #{number} triggered: API error rate above 5% (production)",
            ),
            (
                "user",
                f"Heads up: {hours}h outage yesterday (incident #{number}), database failover "
                f"failed. {rng.randint(3, 40)} customers affected; postmortem shared.",
            ),
        ]
    if kind == "partnership":
        partner = rng.choice(PARTNERS)
        return [
            (
                "user",
                f"Signed a partnership with {partner}: we are listed in their marketplace "
                "from next month.",
            )
        ]
    if kind == "deal":
        arr = round(rng.uniform(20, 300), 0)
        return [
            ("bot", f"[HubSpot] Deal '{customer}' moved to Closed Won ({_money(arr)} ARR)"),
            (
                "user",
                f"Closed {customer}, our largest contract so far: {_money(arr)} ARR, 2 years.",
            ),
        ]
    users = rng.randint(2, 90) * 1000
    return [
        (
            "user",
            f"Weekly actives crossed {users:,} (+{rng.randint(5, 40)}% in a month), "
            "mostly organic.",
        )
    ]


def _filler(c: _Company, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.12:
        return "bot", f"[Stripe] Payout of ${rng.uniform(2_000, 90_000):,.2f} scheduled"
    pool = FILLER_USER if rng.random() < 0.6 else FILLER_AGENT
    sender = "user" if pool is FILLER_USER else "agent"
    text = rng.choice(pool).format(
        customer=rng.choice(CUSTOMERS), investor=c.investor, founder=c.founder.split()[0]
    )
    return sender, text


def _build_messages(c: _Company, rng: random.Random, anchor: datetime) -> None:
    anchor_us = _to_us(anchor)
    window_start = anchor_us - WINDOW_DAYS * _DAY
    first_day = window_start - window_start % _DAY
    target = rng.randint(MIN_MESSAGES, MAX_MESSAGES)
    timed: list[tuple[int, str, str]] = []

    # Monthly updates: early each month within the window, for the month before.
    month_start = datetime(anchor.year, anchor.month, 1, tzinfo=UTC)
    for back in (2, 1, 0):
        year, month = month_start.year, month_start.month - back
        while month < 1:
            year, month = year - 1, month + 12
        sent = _to_us(datetime(year, month, 1, tzinfo=UTC)) + rng.randint(1, 4) * _DAY
        sent = _work_time(rng, sent - sent % _DAY)
        if window_start <= sent <= anchor_us:
            previous = MONTHS[(month - 2) % 12]
            timed.append((sent, "user", _monthly_update(c, rng, previous)))
            timed.append((sent + rng.randint(2, 30) * _HOUR, "agent", "Thanks, great update!"))

    # Events, each a short exchange on one day; then routine chatter up to the target.
    for _ in range(max(4, target // 14)):
        day = first_day + rng.randint(0, WINDOW_DAYS - 1) * _DAY
        at = _work_time(rng, day)
        for sender, text in _event(c, rng):
            timed.append((at, sender, text))
            at += rng.randint(1, 90) * _MINUTE
    timed = [m for m in timed if window_start <= m[0] <= anchor_us]
    while len(timed) < target:
        day = first_day + rng.randint(0, WINDOW_DAYS - 1) * _DAY
        sender, text = _filler(c, rng)
        at = _work_time(rng, day)
        if window_start <= at <= anchor_us:
            timed.append((at, sender, text))
    c.messages = sorted(timed)


def generate(
    out_dir: Path | str,
    *,
    seed: int = DEFAULT_SEED,
    n_companies: int = DEFAULT_COMPANIES,
    anchor: datetime | None = None,
) -> dict:
    """Generate the company data set under ``out_dir/companies`` and return its manifest.

    Args:
        out_dir: Folder holding ``companies/`` (created if needed); its files are overwritten.
        seed: Random seed; with the same ``anchor`` and ``n_companies`` output is byte-identical.
        n_companies: Number of companies (at least 1).
        anchor: The data set's "now" (every message is at or before it). Naive values are
            taken as UTC. Defaults to the current UTC time floored to the hour.

    Returns:
        The manifest dict that is also written to ``out_dir/companies/manifest.json``.

    Raises:
        ValueError: If ``n_companies`` is smaller than 1.
    """
    if n_companies < 1:
        raise ValueError(f"n_companies must be at least 1, got {n_companies}")
    folder = Path(out_dir) / "companies"
    anchor = sample_io.normalize_anchor(anchor)
    anchor_us = _to_us(anchor)
    manifest_path = folder / "manifest.json"
    sample_io.start(manifest_path)

    used: set[str] = set()
    companies = []
    for index in range(n_companies):
        rng = random.Random(f"{seed}:company:{index}")
        company = _make_company(rng, index, anchor_us, used)
        _build_messages(company, rng, anchor)
        companies.append(company)

    sample_io.write_parquet(
        folder / "leads.parquet",
        {
            "lead_key": [c.key for c in companies],
            "company": [c.name for c in companies],
            "sector": [c.sector for c in companies],
            "contact_name": [c.founder for c in companies],
            "country": [c.country for c in companies],
            "lead_created_at": [c.created_us for c in companies],
        },
        LEADS_SCHEMA,
    )
    rows = [
        (f"{c.key}-m{i + 1:04d}", c.key, at, sender, text)
        for c in companies
        for i, (at, sender, text) in enumerate(c.messages)
    ]
    sample_io.write_parquet(
        folder / "messages.parquet",
        {name: [row[i] for row in rows] for i, name in enumerate(MESSAGES_SCHEMA.names)},
        MESSAGES_SCHEMA,
    )
    per_company = [len(c.messages) for c in companies]
    manifest = {
        "generator": "scripts/generate_company_data.py",
        "seed": seed,
        "n_companies": n_companies,
        "anchor": _iso_z(anchor),
        "window_days": WINDOW_DAYS,
        "counts": {
            "companies": len(companies),
            "messages": len(rows),
            "min_messages_per_company": min(per_company),
            "max_messages_per_company": max(per_company),
        },
        "files": {
            "leads": "companies/leads.parquet",
            "messages": "companies/messages.parquet",
        },
    }
    sample_io.write_manifest(manifest_path, manifest)
    return manifest


# --- CLI -----------------------------------------------------------------------------------


def _up_to_date(path: Path, seed: int, n_companies: int, anchor: datetime | None) -> bool:
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if existing.get("seed") != seed or existing.get("n_companies") != n_companies:
        return False
    return anchor is None or existing.get("anchor") == _iso_z(anchor)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        The process exit status (0 on success).
    """
    parser = argparse.ArgumentParser(
        description=(
            "Generate portfolio-company chat/email updates to an investor (for the\n"
            "investor_update recipe): OUT/companies/leads.parquet, messages.parquet and,\n"
            "last, manifest.json. Same --seed, --anchor and --companies give identical files."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default: %(default)s")
    parser.add_argument(
        "--companies", type=int, default=DEFAULT_COMPANIES, help="default: %(default)s"
    )
    parser.add_argument(
        "--anchor",
        type=sample_io.parse_anchor,
        default=None,
        help="the data set's 'now', ISO-8601 (default: current UTC hour)",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    manifest_path = args.out / "companies" / "manifest.json"
    if not args.force and _up_to_date(manifest_path, args.seed, args.companies, args.anchor):
        print(f"Company data already exists at {manifest_path.parent}; use --force to regenerate.")
        return 0
    started = time.perf_counter()
    manifest = generate(args.out, seed=args.seed, n_companies=args.companies, anchor=args.anchor)
    counts = manifest["counts"]
    print(
        f"Generated {counts['companies']} companies and {counts['messages']} messages "
        f"(seed={manifest['seed']}, anchor={manifest['anchor']}) in "
        f"{time.perf_counter() - started:.1f}s under {manifest_path.parent}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
