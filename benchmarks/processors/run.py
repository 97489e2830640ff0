"""Benchmark: the seven processors on a generated shard, against a per-conversation reference.

    python benchmarks/processors/run.py [--messages 1000000] [--conversations 50000]
        [--reference-sample 5000]

Generates the messages (not timed), normalises them (timed apart), runs the
seven processors and prints their wall time and messages/s; then runs the
pandas reference of `reference.py` on the first 5,000 conversations
(``--reference-sample``; 0 runs it on all of them), extrapolates its time by
message count and says so, prints the speed ratio, and checks that every
processor's output is identical to the reference's on the conversations the
reference ran on. Exits 1 if any output differs.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from polars.testing import assert_frame_equal

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.processors.reference import run_reference  # noqa: E402
from common.processors import Processor, ProcessorContext, build  # noqa: E402
from common.processors.base import normalize_messages  # noqa: E402

AS_OF = datetime(2024, 11, 4, 18, 0, tzinfo=UTC)
CONTEXT = ProcessorContext(as_of=AS_OF, timezone="America/Mexico_City")

TEMPLATES = {
    "preapproved_offer": {
        "pattern": r"(?i)(tienes una oferta preaprobada|you have a pre-approved)",
        "type": "offer",
    },
    "recovery_nudge": {
        "pattern": r"(?i)(no terminaste tu solicitud|didn't finish your .{1,40}? application)",
        "type": "recovery",
    },
    "reminder": {"pattern": r"(?i)(^recordatorio:|^reminder:)", "type": "recovery"},
}
PARAMS: dict[str, dict] = {
    "TemporalProcessor": {"business_hours_start": 9, "business_hours_end": 19},
    "MessageMetadataProcessor": {"max_message_length": 60},
    "HandoffProcessor": {},
    "TemplateDetectionProcessor": {"templates": TEMPLATES},
    "ValidationProcessor": {},
    "ConversationStateProcessor": {},
    "HumanTransferProcessor": {},
}
"""A recipe's `python_processors`: generic default patterns, recipe-specific templates."""

BOT: dict[str, tuple[float, list[str]]] = {
    "template": (
        0.15,
        [
            "¡Hola Ana! 🎉 Tienes una oferta preaprobada de préstamo personal por $45,000 MXN.",
            "Hi Tom! 🎉 You have a pre-approved personal loan offer for $12,000 with Finvera.",
            "Hola Luis, vimos que no terminaste tu solicitud de tarjeta de crédito 💰 ¿Te ayudo?",
            "Hi Kim, we noticed you didn't finish your top-up loan application. Still there?",
            "Recordatorio: tu oferta vence en 48 horas ⏳",
            "Reminder: your offer expires soon ⏰",
        ],
    ),
    "chatter": (
        0.575,
        [
            "¡Hola! 👋 Soy Vale, la asistente virtual de Finvera.",
            "Hello, I'm Vale 🤖, your Finvera assistant.",
            "Gracias 🙌",
            "Got it ✅",
            "¿Sigues ahí? 👀",
            "Are you still there? 👀",
            "Tu préstamo tiene tasa fija, sin aval y el depósito llega en 24 h ✅",
        ],
    ),
    "profiling": (
        0.20,
        [
            "¿Cuál es tu situación laboral actual? (empleado, independiente o pensionado)",
            "¿Cuál es tu ingreso mensual?",
            "What is your monthly income?",
            "¿Cuál es tu código postal?",
            "Could you share your ID number? (last 4 digits of your SSN)",
        ],
    ),
    "invitation": (
        0.05,
        ["¿Te gustaría que un asesor te contacte?", "Would you like an advisor to call you?"],
    ),
    "confirmation": (
        0.015,
        [
            "Listo, un asesor te contactará en las próximas horas 📞",
            "Done, an advisor will contact you shortly 📞",
        ],
    ),
    "transfer": (
        0.01,
        [
            "Te transfiero con un agente, en un momento te atiende 🙋",
            "Transferring you to an agent, one moment please 🙋",
        ],
    ),
}
"""Bot phrases by kind: (probability that a bot message is of this kind, texts)."""
AGENT = [
    "Hola, soy Mariana de Finvera, ¿en qué te ayudo?",
    "Hi, this is Jake from Finvera. How can I help?",
    "¿Te gustaría que un asesor te contacte?",
    "Listo, un asesor te contactará a este número en breve.",
    "¿Me compartes tu RFC con homoclave?",
    "Perfecto, ya quedó registrada tu solicitud 👍",
]
USER = [
    "hola",
    "Hola 👋",
    "sí, por favor",
    "SÍ",
    "si porfa 🙏",
    "claro",
    "ok sí",
    "yes please",
    "sure",
    "no gracias",
    "No, gracias 😅",
    "ahorita no",
    "not now",
    "maybe later",
    "ya no me interesa",
    "¿cuánto es la tasa de interés?",
    "what's the interest rate?",
    "25 mil al mes",
    "$3,000",
    "empleado",
    "06700",
    "👍",
    "😀😀😀",
    "ñandú, árbol, corazón ❤️ — ¿qué tal?",
    "Me interesa pero después",
]


def generate(n_messages: int, n_conversations: int, seed: int = 0) -> pl.DataFrame:
    """Raw messages: shuffled rows, ~1% duplicated, ~3% null texts, es + en, emoji.

    Conversation lengths vary (mean ``n_messages / n_conversations``); 75% are
    bot + customer, 10% also have an agent, 12% are bot-only, 3% customer-only.
    Every conversation lies in the 30 days before `AS_OF`.
    """
    rng = np.random.default_rng(seed)
    sizes = 1 + rng.multinomial(
        n_messages - n_conversations, np.ones(n_conversations) / n_conversations
    )
    conversation = np.repeat(np.arange(n_conversations), sizes)
    kind = rng.choice(4, size=n_conversations, p=[0.75, 0.10, 0.12, 0.03])[conversation]
    # Sender per message (0 bot, 1 agent, 2 user) by kind of conversation.
    probabilities = np.array([[0.5, 0.0, 0.5], [0.4, 0.2, 0.4], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    cumulative = probabilities.cumsum(axis=1)[kind]
    sender = (rng.random(n_messages)[:, None] > cumulative).sum(axis=1).clip(0, 2)
    bot_texts = [t for _, texts in BOT.values() for t in texts]
    bot_weights = [w / len(texts) for w, texts in BOT.values() for _ in texts]
    pools = [(bot_texts, bot_weights), (AGENT, None), (USER, None)]
    text = np.empty(n_messages, dtype=object)
    for code, (pool, weights) in enumerate(pools):
        rows = np.flatnonzero(sender == code)
        text[rows] = rng.choice(np.array(pool, dtype=object), size=rows.size, p=weights)
    text[rng.random(n_messages) < 0.03] = None

    start_us = rng.integers(0, 29 * 24 * 3600 * 10**6, n_conversations)
    gaps = rng.exponential(20 * 60 * 10**6, n_messages).astype(np.int64) + 1
    total = np.cumsum(gaps)
    first = np.cumsum(sizes) - sizes  # row of each conversation's first message
    within = total - np.repeat(total[first] - gaps[first], sizes)
    base = int((AS_OF - timedelta(days=31)).timestamp() * 10**6)
    sent_at = base + start_us[conversation] + within

    frame = pl.DataFrame(
        {
            "lead_key": pl.Series(conversation).cast(pl.String).str.zfill(7).str.pad_start(8, "L"),
            "message_id": pl.Series(np.arange(n_messages))
            .cast(pl.String)
            .str.zfill(8)
            .str.pad_start(9, "m"),
            "sent_at": pl.Series(sent_at).cast(pl.Datetime("us", "UTC")),
            "sender": pl.Series(np.array(["bot", "agent", "user"])[sender]),
            "text": pl.Series(text.tolist(), dtype=pl.String),
        }
    )
    duplicates = frame.sample(fraction=0.01, seed=seed)
    return pl.concat([frame, duplicates]).sample(fraction=1.0, shuffle=True, seed=seed)


def _seconds(start: float) -> float:
    return time.perf_counter() - start


def run_processors(processors: list[Processor], messages: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Run each processor, printing its wall time; outputs by processor name."""
    outputs = {}
    for processor in processors:
        start = time.perf_counter()
        outputs[processor.name] = processor.run(messages)
        print(f"  {processor.name:<28} {_seconds(start):7.3f} s")
    return outputs


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every output equals the reference's, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument(
        "--reference-sample",
        type=int,
        default=5_000,
        help="run the reference on this many conversations and extrapolate by message count "
        "(0: on all of them; the full reference takes ~8 min for 1M messages on 2 cores)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    raw = generate(args.messages, args.conversations, args.seed)
    print(
        f"generated {raw.height:,} rows ({args.messages:,} distinct messages, "
        f"{args.conversations:,} conversations) in {_seconds(start):.1f} s (not timed)"
    )
    start = time.perf_counter()
    messages = normalize_messages(raw)
    print(
        f"normalize_messages (dedupe + sort, not part of the processors): {_seconds(start):.3f} s"
    )
    assert messages.height == args.messages

    processors = [
        build(name, params, CONTEXT, where="benchmark") for name, params in PARAMS.items()
    ]
    print(f"\nseven processors, polars {pl.__version__}, {pl.thread_pool_size()} threads:")
    start = time.perf_counter()
    outputs = run_processors(processors, messages)
    wall = _seconds(start)
    print(
        f"processors wall time: {wall:.3f} s for {messages.height:,} messages "
        f"= {messages.height / wall:,.0f} messages/s"
    )
    states = outputs["ConversationStateProcessor"]["conversation_state"].value_counts(sort=True)
    print("conversation states:", ", ".join(f"{s} {n:,}" for s, n in states.iter_rows()))

    sample = messages
    if args.reference_sample:
        leads = messages["lead_key"].unique(maintain_order=True).head(args.reference_sample)
        sample = messages.filter(pl.col("lead_key").is_in(leads.implode()))
    pandas_messages = sample.to_pandas()
    print(
        f"\nreference (pandas {pd.__version__}, one conversation at a time)"
        f" on {sample['lead_key'].n_unique():,} conversations, {sample.height:,} messages:"
    )
    start = time.perf_counter()
    references = {}
    for processor in processors:
        one = time.perf_counter()
        references[processor.name] = run_reference(processor, pandas_messages)
        print(f"  {processor.name:<28} {_seconds(one):7.3f} s")
    reference_wall = _seconds(start)
    if sample.height < messages.height:
        extrapolated = reference_wall * messages.height / sample.height
        print(
            f"reference wall time: {reference_wall:.1f} s on the sample; EXTRAPOLATED to "
            f"{messages.height:,} messages: {extrapolated:.1f} s"
        )
        reference_wall = extrapolated
    else:
        print(f"reference wall time: {reference_wall:.1f} s")
    print(f"speed ratio (reference / processors): {reference_wall / wall:.1f}x")

    identical = True
    for name, expected in references.items():
        got = outputs[name].filter(pl.col("lead_key").is_in(expected["lead_key"].implode()))
        try:
            assert_frame_equal(got.sort("lead_key"), expected.sort("lead_key"))
        except AssertionError as err:
            identical = False
            print(f"  {name}: DIFFERS from the reference: {err}")
    compared = "all" if sample is messages else f"the {sample['lead_key'].n_unique():,} sampled"
    print(
        f"outputs identical: {'yes' if identical else 'NO'} ({compared} conversations, "
        f"{len(references)} processors)"
    )
    print(
        f"targets: <= 10 s wall: {'met' if wall <= 10 else 'MISSED'}; "
        f">= 20x the reference: {'met' if reference_wall / wall >= 20 else 'MISSED'}"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
