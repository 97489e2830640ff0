"""Tests of the synthetic sample data generator (scripts/generate_sample_data.py)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
ANCHOR = datetime(2026, 11, 20, 18, tzinfo=UTC)
PARQUETS = ("demo/leads.parquet", "demo/messages.parquet", "demo/ground_truth.parquet")


def _load_generator() -> ModuleType:
    path = ROOT / "scripts" / "generate_sample_data.py"
    spec = importlib.util.spec_from_file_location("generate_sample_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing it
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
st = importlib.import_module("common.sample_templates")


class Data:
    """One generated data set, read back with Polars."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        self.leads = pl.read_parquet(out / "demo/leads.parquet")
        self.messages = pl.read_parquet(out / "demo/messages.parquet")
        self.truth = pl.read_parquet(out / "demo/ground_truth.parquet")

    def unique_messages(self) -> pl.DataFrame:
        """Messages without the exported duplicate rows, in file order."""
        return self.messages.unique(maintain_order=True)

    def per_lead(self) -> dict[str, list[tuple[datetime, str, str | None]]]:
        """lead_key -> [(sent_at, sender, text)] in time order, without duplicates."""
        conversations: dict[str, list[tuple[datetime, str, str | None]]] = {}
        for key, sent_at, sender, text in (
            self.unique_messages().select("lead_key", "sent_at", "sender", "text").iter_rows()
        ):
            conversations.setdefault(key, []).append((sent_at, sender, text))
        return conversations

    def keys(self, scenario: str) -> list[str]:
        """Lead keys of one scenario."""
        return self.truth.filter(pl.col("scenario") == scenario)["lead_key"].to_list()


@pytest.fixture(scope="module")
def default_data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """The data set at its default size, with a fixed anchor (window spans both DST switches)."""
    out = tmp_path_factory.mktemp("sample_default")
    gen.generate(out, anchor=ANCHOR)
    return Data(out)


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", kept).split())


def _local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


# --- size, schema, determinism -------------------------------------------------------------


def test_default_size_meets_minimums(default_data: Data) -> None:
    counts = default_data.manifest["counts"]
    assert default_data.leads.height == counts["leads"] >= 2000
    assert default_data.messages.height == counts["messages"] >= 40_000
    assert default_data.leads["lead_key"].n_unique() == default_data.leads.height
    with_messages = default_data.messages["lead_key"].n_unique()
    assert with_messages == counts["leads_with_messages"]
    assert 0.03 <= 1 - with_messages / default_data.leads.height <= 0.08
    assert set(default_data.messages["lead_key"]) <= set(default_data.leads["lead_key"])


def test_schemas_are_exact(default_data: Data) -> None:
    utc = pa.timestamp("us", tz="UTC")
    expected = {
        "demo/leads.parquet": [
            ("lead_key", pa.string()),
            ("name", pa.string()),
            ("email", pa.string()),
            ("country", pa.string()),
            ("timezone", pa.string()),
            ("language", pa.string()),
            ("product", pa.string()),
            ("preapproved_amount", pa.float64()),
            ("campaign", pa.string()),
            ("lead_created_at", utc),
        ],
        "demo/messages.parquet": [
            ("message_id", pa.string()),
            ("lead_key", pa.string()),
            ("sent_at", utc),
            ("sender", pa.string()),
            ("text", pa.string()),
        ],
        "demo/ground_truth.parquet": [
            ("lead_key", pa.string()),
            ("scenario", pa.string()),
            ("expected_state", pa.string()),
        ],
    }
    for path, fields in expected.items():
        schema = pq.read_schema(default_data.out / path)
        assert [(f.name, f.type) for f in schema] == fields, path
    leads = default_data.leads
    assert set(leads["language"]) == {"es", "en"}
    assert set(leads["product"]) == {"personal_loan", "top_up", "credit_card"}
    assert set(default_data.messages["sender"]) == {"user", "bot", "agent"}
    assert leads["email"].null_count() > 0 and leads["preapproved_amount"].null_count() > 0
    assert leads["lead_key"].str.contains(r"^\+[1-9]\d{9,13}$").all()
    header = (default_data.out / "leads.csv").read_text(encoding="utf-8").splitlines()
    assert header[0] == "lead_key,name,country,timezone,language,product"
    assert len(header) == 51


def test_same_seed_and_anchor_give_identical_bytes(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    gen.generate(first, seed=3, n_leads=150, anchor=ANCHOR)
    gen.generate(second, seed=3, n_leads=150, anchor=ANCHOR)
    gen.generate(other, seed=4, n_leads=150, anchor=ANCHOR)
    for path in (*PARQUETS, "leads.csv", "manifest.json"):
        assert (first / path).read_bytes() == (second / path).read_bytes(), path
    assert (first / PARQUETS[1]).read_bytes() != (other / PARQUETS[1]).read_bytes()


def test_manifest_is_complete_and_relative(default_data: Data) -> None:
    manifest = default_data.manifest
    assert manifest["seed"] == 7 and manifest["n_leads"] == 2400
    assert manifest["anchor"] == "2026-11-20T18:00:00Z"
    assert sum(manifest["scenario_counts"].values()) == manifest["counts"]["leads"]
    for path in manifest["files"].values():
        assert not Path(path).is_absolute() and (default_data.out / path).is_file()
    assert not list(default_data.out.glob("*.tmp"))


def test_default_anchor_is_the_current_hour(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    manifest = gen.generate(tmp_path, n_leads=12)
    anchor = datetime.fromisoformat(manifest["anchor"])
    assert anchor.minute == anchor.second == anchor.microsecond == 0
    assert before - timedelta(hours=1) < anchor <= before
    messages = pl.read_parquet(tmp_path / "demo/messages.parquet")
    assert messages["sent_at"].max() <= anchor


def test_rejects_non_positive_lead_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_leads"):
        gen.generate(tmp_path, n_leads=0)


# --- scenarios -----------------------------------------------------------------------------


def test_every_scenario_has_a_meaningful_share(default_data: Data) -> None:
    shares = default_data.truth["scenario"].value_counts(normalize=True)
    share = dict(zip(shares["scenario"], shares["proportion"], strict=True))
    assert set(share) == set(st.SCENARIOS)
    for scenario in st.SCENARIOS:
        assert share[scenario] >= (0.01 if scenario == "user_only" else 0.04), scenario
    states = default_data.truth.select("scenario", "expected_state").unique().iter_rows()
    assert all(st.EXPECTED_STATES[scenario] == state for scenario, state in states)
    assert default_data.manifest["scenario_counts"] == {
        name: int((default_data.truth["scenario"] == name).sum()) for name in st.SCENARIOS
    }


def test_small_data_sets_still_cover_every_scenario(tmp_path: Path) -> None:
    manifest = gen.generate(tmp_path, n_leads=40, anchor=ANCHOR)
    assert all(count >= 1 for count in manifest["scenario_counts"].values())


def test_conversations_follow_their_scenario(default_data: Data) -> None:
    conversations = default_data.per_lead()
    templates = [re.compile(pattern) for pattern in st.TEMPLATE_PATTERNS.values()]
    questions = {q for lang in st.LANGUAGES for q in st.PROFILING_QUESTIONS[lang]}
    invitations = {q for lang in st.LANGUAGES for q in st.HANDOFF_INVITATIONS[lang]}
    confirmations = {q for lang in st.LANGUAGES for q in st.HANDOFF_CONFIRMATIONS[lang]}
    transfers = {q for lang in st.LANGUAGES for q in st.HUMAN_TRANSFER[lang]}
    declines = {_normalize(q) for lang in st.LANGUAGES for q in st.HANDOFF_DECLINE[lang]}
    accepts = {_normalize(q) for lang in st.LANGUAGES for q in st.HANDOFF_ACCEPT[lang]}

    def is_template(text: str | None) -> bool:
        return text is not None and any(p.search(text) for p in templates)

    def hours_idle(chat: list[tuple[datetime, str, str | None]]) -> float:
        return (ANCHOR - chat[-1][0]).total_seconds() / 3600

    assert not set(default_data.keys("no_messages")) & set(conversations)

    for key in default_data.keys("never_replied"):
        chat = conversations[key]
        assert 1 <= len(chat) <= 3 and all(s == "bot" and is_template(t) for _, s, t in chat)

    for key in default_data.keys("stalled_after_template"):
        chat = conversations[key]
        senders = [s for _, s, _ in chat]
        assert is_template(chat[0][2]) and chat[-1][1] == "bot" and "agent" not in senders
        assert 1 <= senders.count("user") <= 4
        assert not any(t in questions for _, _, t in chat)

    for key in default_data.keys("stalled_in_profiling"):
        texts = [t for _, _, t in conversations[key]]
        assert any(t in questions for t in texts) and not any(t in invitations for t in texts)
        assert hours_idle(conversations[key]) >= gen.STALE_AFTER_HOURS

    for key in default_data.keys("handoff_no_answer"):
        chat = conversations[key]
        first = next(i for i, (_, _, t) in enumerate(chat) if t in invitations)
        assert all(s == "bot" for _, s, _ in chat[first:]) and chat[-1][2] in invitations

    declined = 0
    for key in default_data.keys("handoff_declined"):
        chat = conversations[key]
        first = next(i for i, (_, _, t) in enumerate(chat) if t in invitations)
        reply = next(t for _, s, t in chat[first:] if s == "user")
        declined += reply is not None and _normalize(reply) in declines
    assert declined >= 0.75 * len(default_data.keys("handoff_declined"))

    accepted = 0
    for key in default_data.keys("handoff_accepted"):
        chat = conversations[key]
        assert any(t in confirmations for _, _, t in chat) and "agent" not in {
            s for _, s, _ in chat
        }
        first = next(i for i, (_, _, t) in enumerate(chat) if t in invitations)
        reply = next(t for _, s, t in chat[first:] if s == "user")
        accepted += reply is not None and _normalize(reply) in accepts
    assert accepted >= 0.75 * len(default_data.keys("handoff_accepted"))

    for key in default_data.keys("transferred_to_human"):
        chat = conversations[key]
        transfer = next(i for i, (_, _, t) in enumerate(chat) if t in transfers)
        assert "agent" not in {s for _, s, _ in chat[:transfer]}
        assert "agent" in {s for _, s, _ in chat[transfer:]}
        assert chat[-1][1] in ("agent", "user") and hours_idle(chat) >= gen.STALE_AFTER_HOURS

    for key in default_data.keys("active"):
        chat = conversations[key]
        assert chat[-1][1] in ("user", "agent") and hours_idle(chat) <= gen.ACTIVE_WITHIN_HOURS

    for key in default_data.keys("user_only"):
        assert {s for _, s, _ in conversations[key]} == {"user"}


# --- languages and texts ---------------------------------------------------------------------


def test_languages_follow_country(default_data: Data) -> None:
    leads = default_data.leads
    assert set(leads.filter(pl.col("country") == "US")["language"]) == {"en"}
    abroad = leads.filter(pl.col("country") != "US")
    english_abroad = (abroad["language"] == "en").mean()
    assert 0 < english_abroad < 0.1
    assert set(leads["country"]) == {"MX", "CO", "US", "ES"}


def test_bot_speaks_the_lead_language(default_data: Data) -> None:
    bot = (
        default_data.unique_messages()
        .filter(pl.col("sender") == "bot")
        .join(default_data.leads.select("lead_key", "language"), on="lead_key")
    )
    for lang, other in (("es", "en"), ("en", "es")):
        phrases = {
            other_phrase
            for table in (st.PROFILING_QUESTIONS, st.HANDOFF_INVITATIONS, st.HUMAN_TRANSFER)
            for other_phrase in table[other]
        }
        own = {p for t in (st.PROFILING_QUESTIONS, st.HANDOFF_INVITATIONS) for p in t[lang]}
        texts = set(bot.filter(pl.col("language") == lang)["text"].drop_nulls())
        assert texts & own and not texts & phrases, lang
    assert bot.filter(pl.col("language") == "en")["text"].str.contains("¿").sum() == 0


def test_texts_have_accents_emoji_and_some_nulls(default_data: Data) -> None:
    texts = default_data.messages["text"]
    assert texts.str.contains("[áéíóúñ]").sum() > 1000
    assert texts.str.contains("[\U0001f300-\U0001faff]").sum() > 1000
    assert 0.002 <= texts.null_count() / texts.len() <= 0.01
    user = default_data.messages.filter(pl.col("sender") == "user")["text"].drop_nulls()
    assert user.str.contains("[\U0001f300-\U0001faff]").sum() > 50


def test_export_quirks_duplicates_and_id_order(default_data: Data) -> None:
    messages = default_data.messages
    duplicates = messages.height - messages.unique().height
    assert duplicates == default_data.manifest["counts"]["duplicate_rows"]
    assert 0.001 <= duplicates / messages.height <= 0.006
    assert messages["message_id"].n_unique() == messages.unique().height
    assert messages.equals(messages.sort(["lead_key", "sent_at", "message_id"]))
    out_of_order = messages.unique(maintain_order=True).filter(
        pl.col("message_id") < pl.col("message_id").shift(1).over("lead_key")
    )
    assert 10 <= out_of_order.height <= 0.01 * messages.height


def test_template_messages_use_canonical_texts(default_data: Data) -> None:
    bot = default_data.messages.filter(pl.col("sender") == "bot")["text"].drop_nulls()
    others = default_data.messages.filter(pl.col("sender") != "bot")["text"].drop_nulls()
    for key, pattern in st.TEMPLATE_PATTERNS.items():
        assert bot.str.contains(pattern).sum() > 100, key
        assert others.str.contains(pattern).sum() == 0, key


# --- template module ---------------------------------------------------------------------------


def _filled_variants(key: str, lang: str) -> list[str]:
    values = [
        {"name": "María", "amount": "$45,000 MXN", "deadline": "28/11"},
        {"name": "José Luis", "amount": "$8.500.000 COP", "deadline": "01/12"},
        {"name": "O'Brien", "amount": "$12,500", "deadline": "Nov 28"},
        {"name": "ÁNGEL", "amount": "12.000 €", "deadline": "Dec 1"},
    ]
    return [
        variant.format(product=label, **fields)
        for variant in st.TEMPLATES[key][lang]
        for label in st.PRODUCT_LABELS[lang].values()
        for fields in values
    ]


def test_template_patterns_match_exactly_their_variants() -> None:
    other_bot_phrases = [
        phrase.format(name="Ana", product="credit card")
        for table in (
            st.GREETINGS,
            st.CONTINUE_PROMPTS,
            st.OFFER_DETAILS,
            st.PRIVACY_NOTICE,
            st.PROFILING_INTRO,
            st.PROFILING_QUESTIONS,
            st.PROFILING_ACKS,
            st.ID_VALIDATION,
            st.PREVALIDATION_PASSED,
            st.HANDOFF_INVITATIONS,
            st.HANDOFF_CONFIRMATIONS,
            st.HANDOFF_DECLINE_ACKS,
            st.HUMAN_TRANSFER,
            st.BOT_NUDGES,
        )
        for lang in st.LANGUAGES
        for phrase in table[lang]
    ]
    assert (
        set(st.TEMPLATE_PATTERNS)
        == set(st.TEMPLATES)
        >= {
            "preapproved_offer",
            "recovery_nudge",
            "reminder",
        }
    )
    for key, pattern in st.TEMPLATE_PATTERNS.items():
        compiled = re.compile(pattern)
        for other_key in st.TEMPLATES:
            texts = [t for lang in st.LANGUAGES for t in _filled_variants(other_key, lang)]
            matched = pl.Series(texts).str.contains(pattern)  # Rust regex, as Polars runs it
            assert [bool(compiled.search(t)) for t in texts] == matched.to_list()
            assert matched.all() if other_key == key else not matched.any(), (key, other_key)
        assert not any(compiled.search(text) for text in other_bot_phrases), key


def test_templates_module_is_data_only_and_bilingual() -> None:
    source = Path(st.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    per_language = (
        st.HANDOFF_INVITATIONS,
        st.HANDOFF_ACCEPT,
        st.HANDOFF_DECLINE,
        st.HANDOFF_CONFIRMATIONS,
        st.PROFILING_QUESTIONS,
        st.HUMAN_TRANSFER,
        *st.TEMPLATES.values(),
    )
    for table in per_language:
        assert set(table) == {"es", "en"} and all(table[lang] for lang in st.LANGUAGES)
    assert "¿Cuál es tu ingreso mensual?" in st.PROFILING_QUESTIONS["es"]
    assert "What is your monthly income?" in st.PROFILING_QUESTIONS["en"]
    assert set(st.EXPECTED_STATES) == set(st.SCENARIOS)


# --- time -----------------------------------------------------------------------------------


def test_timestamps_respect_anchor_and_window(default_data: Data) -> None:
    leads, messages = default_data.leads, default_data.messages
    window_start = ANCHOR - timedelta(days=gen.WINDOW_DAYS)
    assert messages["sent_at"].max() <= ANCHOR
    assert leads["lead_created_at"].min() >= window_start
    assert leads["lead_created_at"].max() <= ANCHOR
    first = messages.group_by("lead_key").agg(
        pl.col("sent_at").min().alias("first"), pl.col("sent_at").max().alias("last")
    )
    joined = first.join(leads, on="lead_key")
    assert (joined["lead_created_at"] <= joined["first"]).all()
    idle_hours = joined.select((pl.lit(ANCHOR) - pl.col("last")).dt.total_minutes() / 60)
    assert idle_hours.min().item() < 1
    assert idle_hours.max().item() > 20 * 24
    assert idle_hours.filter(pl.all().is_between(24, 24 * 7)).height > 200


def test_time_zones_match_countries(default_data: Data) -> None:
    allowed = {country: {zone for zone, _, _ in zones} for country, zones in gen.TIMEZONES.items()}
    for country, zone in default_data.leads.select("country", "timezone").unique().iter_rows():
        assert zone in allowed[country], (country, zone)
    zones = set(default_data.leads["timezone"])
    assert {
        "America/Mexico_City",
        "America/Bogota",
        "America/New_York",
        "America/Los_Angeles",
        "Europe/Madrid",
    } <= zones


def test_messages_happen_in_local_daytime_across_dst(default_data: Data) -> None:
    stalled = default_data.truth.filter(pl.col("scenario") != "active").select("lead_key")
    messages = (
        default_data.unique_messages()
        .join(stalled, on="lead_key")
        .join(default_data.leads.select("lead_key", "timezone"), on="lead_key")
    )
    hours, weekdays = [], set()
    by_zone: dict[str, list[datetime]] = {}
    for sent_at, zone in messages.select("sent_at", "timezone").iter_rows():
        local = _local(sent_at, zone)
        hours.append(local.hour)
        weekdays.add(local.weekday())
        by_zone.setdefault(zone, []).append(sent_at)
    assert sum(7 <= h < 23 for h in hours) / len(hours) >= 0.95
    assert weekdays == set(range(7))
    switches = {  # inside the 30 days before ANCHOR
        "Europe/Madrid": datetime(2026, 10, 25, 1, tzinfo=UTC),
        "America/New_York": datetime(2026, 11, 1, 6, tzinfo=UTC),
    }
    for zone, switch in switches.items():
        for side in (
            [t for t in by_zone[zone] if t < switch],
            [t for t in by_zone[zone] if t >= switch],
        ):
            assert len(side) > 100, zone
            daytime = sum(8 <= _local(t, zone).hour < 23 for t in side) / len(side)
            assert daytime >= 0.9, zone
    # stored in UTC, so the local offset changes across the switch
    offsets = {_local(t, "Europe/Madrid").utcoffset() for t in by_zone["Europe/Madrid"]}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}


# --- CLI ------------------------------------------------------------------------------------


def test_cli_skips_existing_data_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--out", str(tmp_path), "--leads", "30", "--seed", "5"]
    assert gen.main([*args, "--anchor", "2026-11-20T18:00:00Z"]) == 0
    assert "Generated 30 leads" in capsys.readouterr().out
    manifest = tmp_path / "manifest.json"
    stamp = manifest.stat().st_mtime_ns

    assert gen.main(args) == 0
    assert "already exists" in capsys.readouterr().out
    assert manifest.stat().st_mtime_ns == stamp

    assert gen.main([*args, "--anchor", "2026-11-19T18:00:00Z"]) == 0
    assert "Generated" in capsys.readouterr().out
    assert json.loads(manifest.read_text())["anchor"] == "2026-11-19T18:00:00Z"

    assert gen.main([*args, "--anchor", "2026-11-19T18:00:00Z", "--force"]) == 0
    assert "Generated" in capsys.readouterr().out


def test_cli_help_and_bad_anchor(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as help_exit:
        gen.main(["--help"])
    assert help_exit.value.code == 0
    assert "--anchor" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad_exit:
        gen.main(["--anchor", "yesterday"])
    assert bad_exit.value.code == 2
