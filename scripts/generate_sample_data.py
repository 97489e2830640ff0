"""Generate a realistic, seeded, deterministic synthetic Lead Recovery data set.

The data imitates a lender's WhatsApp-style channel: leads from Mexico, Colombia,
the US and Spain receive outbound templates, chat with a bot (Spanish or English),
answer profiling questions, get handed off to advisors or live agents, or go quiet.
Every lead follows one known scenario, written to ``ground_truth.parquet`` for evals.

Layout written under ``out_dir`` (``manifest.json`` last, atomically)::

    demo/leads.parquet         one row per lead
    demo/messages.parquet      one row per chat message (sorted by lead_key, sent_at, message_id)
    demo/ground_truth.parquet  lead_key, scenario, expected_state
    leads.csv                  the first 50 leads, for the "uploaded leads.csv" path
    manifest.json              seed, anchor, counts, scenario counts, relative file paths

Same ``seed`` + ``anchor`` + ``n_leads`` gives byte-identical files.

Usage::

    python scripts/generate_sample_data.py [--out data/sample] [--seed 7] [--leads 2400]
                                           [--anchor 2026-11-20T18:00:00Z] [--force]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa

try:
    from common import sample_io
    from common import sample_templates as st
except ImportError:  # run as a plain script: the repository root is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from common import sample_io
    from common import sample_templates as st

DEFAULT_OUT = Path("data/sample")
DEFAULT_SEED = 7
DEFAULT_LEADS = 2400
CSV_LEADS = 50

WINDOW_DAYS = 30
"""Leads are created within this many days before the anchor."""

_SECOND = 1_000_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STALE_AFTER_HOURS = 4
"""Non-active conversations end at least this long before the anchor."""

ACTIVE_WITHIN_HOURS = 3
"""Active conversations end at most this long before the anchor."""

SCENARIO_SHARES: dict[str, float] = {
    "no_messages": 0.05,
    "never_replied": 0.16,
    "stalled_after_template": 0.14,
    "stalled_in_profiling": 0.16,
    "handoff_no_answer": 0.09,
    "handoff_declined": 0.07,
    "handoff_accepted": 0.09,
    "transferred_to_human": 0.10,
    "active": 0.11,
    "user_only": 0.03,
}

EXTRA_DAYS = (0, 0, 0, 1, 1, 2, 3, 4, 5, 6)
"""Extra whole days a conversation that would end too late is moved back (spreads the ends)."""

DUPLICATE_RATE = 0.003
"""Share of messages exported twice (same message_id), as real exports do."""

ID_SWAP_RATE = 0.002
"""Share of messages whose message_id is swapped with the next one of the same lead."""

MEDIA_RATE = 0.004
"""Chance that a user turn carries an extra media message (text is null)."""

LEADS_SCHEMA = pa.schema(
    [
        ("lead_key", pa.string()),
        ("name", pa.string()),
        ("email", pa.string()),
        ("country", pa.string()),
        ("timezone", pa.string()),
        ("language", pa.string()),
        ("product", pa.string()),
        ("preapproved_amount", pa.float64()),
        ("campaign", pa.string()),
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
GROUND_TRUTH_SCHEMA = pa.schema(
    [("lead_key", pa.string()), ("scenario", pa.string()), ("expected_state", pa.string())]
)
CSV_COLUMNS = ("lead_key", "name", "country", "timezone", "language", "product")

# --- lead profiles -----------------------------------------------------------------------

COUNTRY_WEIGHTS: dict[str, float] = {"MX": 0.45, "CO": 0.20, "US": 0.20, "ES": 0.15}

TIMEZONES: dict[str, list[tuple[str, float, tuple[str, ...]]]] = {
    "MX": [
        ("America/Mexico_City", 0.72, ("55", "56", "33")),
        ("America/Monterrey", 0.12, ("81",)),
        ("America/Tijuana", 0.10, ("664",)),
        ("America/Cancun", 0.06, ("998",)),
    ],
    "CO": [("America/Bogota", 1.0, ("300", "310", "311", "315", "320"))],
    "US": [
        ("America/New_York", 0.44, ("212", "646", "305", "404", "617")),
        ("America/Chicago", 0.24, ("312", "713", "214")),
        ("America/Denver", 0.08, ("303", "720")),
        ("America/Los_Angeles", 0.24, ("213", "310", "415", "206")),
    ],
    "ES": [("Europe/Madrid", 0.95, ("6", "7")), ("Atlantic/Canary", 0.05, ("6",))],
}
"""Country -> (IANA zone, weight, phone prefixes that go with it)."""

NATIONAL_DIGITS = {"MX": 10, "CO": 10, "US": 10, "ES": 9}
DIAL_PREFIX = {"MX": "+521", "CO": "+57", "US": "+1", "ES": "+34"}
ENGLISH_ABROAD_RATE = 0.04

# fmt: off
FIRST_NAMES = {
    "es": (
        "José", "María", "Juan", "Guadalupe", "Luis", "Ana", "Carlos", "Sofía", "Jesús",
        "Lucía", "Miguel", "Valentina", "Andrés", "Camila", "Alejandro", "Daniela", "Fernando",
        "Mariana", "Jorge", "Paola", "Ricardo", "Ximena", "Sergio", "Verónica", "Raúl",
        "Mónica", "Héctor", "Adriana", "Iván", "Natalia", "Óscar", "Beatriz", "Ángel", "Rocío",
        "Martín", "Inés", "Javier", "Elena", "Pablo", "Carmen"
    ),
    "en": (
        "James", "Mary", "Michael", "Jennifer", "David", "Linda", "Chris", "Jessica", "Daniel",
        "Ashley", "Matthew", "Emily", "Anthony", "Sarah", "Kevin", "Amanda", "Brian", "Megan",
        "Tyler", "Nicole", "Jordan", "Taylor", "Robert", "Olivia"
    ),
}
SURNAMES = {
    "es": (
        "García", "Hernández", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
        "Ramírez", "Cruz", "Flores", "Gómez", "Díaz", "Reyes", "Morales", "Jiménez", "Ruiz",
        "Torres", "Vargas", "Castillo", "Muñoz", "Ortiz", "Núñez", "Peña", "Ibáñez", "Suárez",
        "Castaño", "Londoño", "Restrepo", "Fernández"
    ),
    "en": (
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
        "Anderson", "Thomas", "Moore", "Martin", "Thompson", "White", "Harris", "Clark",
        "Lewis", "Walker", "Young", "Allen", "Nguyen", "Patel", "O'Brien", "Rivera"
    ),
}
# fmt: on
EMAIL_DOMAINS = {
    "MX": ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com.mx", "icloud.com"),
    "CO": ("gmail.com", "hotmail.com", "outlook.com", "yahoo.es"),
    "US": ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"),
    "ES": ("gmail.com", "hotmail.es", "outlook.es", "yahoo.es", "telefonica.net"),
}
EMAIL_NULL_RATE = 0.2

PRODUCT_WEIGHTS = {"personal_loan": 0.5, "top_up": 0.25, "credit_card": 0.25}
AMOUNT_RANGES = {  # country -> (low, high, rounding step), local currency
    "MX": (5_000, 150_000, 500),
    "CO": (1_000_000, 40_000_000, 100_000),
    "US": (1_000, 25_000, 100),
    "ES": (1_000, 30_000, 100),
}
AMOUNT_NULL_RATE = {"personal_loan": 0.08, "top_up": 0.08, "credit_card": 0.4}
CAMPAIGN_WAVES = {"preapproved_q4": 0.45, "winback": 0.2, "recovery": 0.2, "always_on": 0.15}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# --- conversation phrases (the bot's scripted texts live in common.sample_templates) --------

OPENERS = {
    "es": [
        "Hola",
        "hola buenas tardes",
        "Buenas noches",
        "Sí",
        "SI",
        "Me interesa",
        "info",
        "Información por favor",
        "Sí me interesa 🙏",
        "qué es esto?",
        "Buen día",
    ],
    "en": ["Hi", "hello", "Yes", "YES", "I'm interested", "info", "info please", "tell me more"],
}
FAQ_QUESTIONS = {
    "amount": {
        "es": [
            "¿De cuánto es?",
            "de cuanto es el prestamo?",
            "¿Cuánto me prestan?",
            "cuanto es lo maximo q me prestan",
        ],
        "en": [
            "How much is it?",
            "how much can I get?",
            "what's the amount?",
            "info please, how much?",
        ],
    },
    "rate": {
        "es": ["¿Qué tasa manejan?", "cual es el interes?", "¿Cuánto pagaría al mes?"],
        "en": ["What's the interest rate?", "how much would I pay monthly?", "what's the APR?"],
    },
    "requirements": {
        "es": ["¿Qué requisitos piden?", "que necesito?", "requisitos?", "¿Piden aval?"],
        "en": ["What do I need?", "requirements?", "do I need a cosigner?"],
    },
    "legit": {
        "es": [
            "¿Es real?",
            "es confiable?",
            "no es fraude?",
            "¿Quién eres? ¿de dónde sacaron mi número?",
        ],
        "en": ["Is this legit?", "is this a scam?", "who is this? how did you get my number?"],
    },
    "timing": {
        "es": ["¿En cuánto tiempo me depositan?", "cuanto tardan en depositar"],
        "en": ["How fast do I get the money?", "how long does it take?"],
    },
    "term": {
        "es": ["¿A cuántos meses?", "plazos?"],
        "en": ["How many months to pay?", "what terms do you have?"],
    },
}
FAQ_ANSWERS = {
    "amount": {
        "es": ["Tu monto preaprobado es de {amount} 💰", "Puedes solicitar hasta {amount}."],
        "en": ["Your pre-approved amount is {amount} 💰", "You can request up to {amount}."],
    },
    "amount_unknown": {
        "es": [
            "El monto final depende de tu perfil; con unas preguntas rápidas te digo cuánto te podemos ofrecer."
        ],
        "en": [
            "The final amount depends on your profile; after a few quick questions I can tell you how much we can offer."
        ],
    },
    "rate": {
        "es": [
            "La tasa depende de tu perfil y la verás antes de firmar, sin letras chiquitas 📄",
            "Manejamos tasas fijas desde 2.5% mensual; la tuya la confirmas al terminar tu solicitud.",
        ],
        "en": [
            "Your rate depends on your profile and you'll see it before signing, no fine print 📄",
            "We offer fixed rates starting at 9.9% APR; you'll see yours at the end of the application.",
        ],
    },
    "requirements": {
        "es": [
            "Solo necesitas una identificación oficial, un comprobante de ingresos y una cuenta bancaria a tu nombre 📄",
            "No pedimos aval: solo tu identificación y una cuenta bancaria a tu nombre.",
        ],
        "en": [
            "You only need a valid ID, proof of income and a bank account in your name 📄",
            "No cosigner needed: just your ID and a bank account in your name.",
        ],
    },
    "legit": {
        "es": [
            "¡Sí! Somos Finvera, una institución financiera regulada. Nunca te pediremos pagos por adelantado 🔒",
            "Te escribimos porque dejaste tus datos en nuestra página. Nunca pedimos depósitos anticipados 🔒",
        ],
        "en": [
            "Yes! We're Finvera, a regulated lender. We will never ask you for upfront payments 🔒",
            "We're texting because you left your details on our website. We never ask for deposits 🔒",
        ],
    },
    "timing": {
        "es": ["Una vez aprobado, el depósito llega en menos de 24 horas ⚡"],
        "en": ["Once approved, the money arrives in less than 24 hours ⚡"],
    },
    "term": {
        "es": ["Puedes elegir plazos de 6 a 36 meses 🗓️"],
        "en": ["You can choose terms from 6 to 36 months 🗓️"],
    },
}
PRIVACY_ACCEPT = {
    "es": ["acepto", "sí acepto", "Sí", "ok", "de acuerdo"],
    "en": ["I accept", "yes", "ok", "agreed", "accept"],
}
CTA_YES = {
    "es": ["sí", "Sí, va", "ok", "claro", "va", "sí, continuemos", "dale"],
    "en": ["yes", "ok", "sure", "let's do it", "yes, continue", "go ahead"],
}
SMALL_TALK = {
    "es": [
        "perdón, andaba manejando",
        "disculpa la tardanza, estaba en el trabajo",
        "jaja ok",
        "un momento por favor",
    ],
    "en": [
        "sorry, I was driving",
        "sorry for the delay, I was at work",
        "haha ok",
        "one sec please",
    ],
}
SMALL_TALK_REPLIES = {
    "es": ["¡No te preocupes! 😊 Seguimos.", "¡Claro! Aquí te espero."],
    "en": ["No worries! 😊 Let's continue.", "Sure! I'll wait here."],
}
PROFILING_ANSWERS = {
    "employment": {
        "es": [
            "empleado",
            "Empleada",
            "soy empleado",
            "trabajo en una empresa",
            "independiente",
            "trabajo por mi cuenta",
            "soy pensionada",
            "asalariado",
            "comerciante",
        ],
        "en": [
            "employed",
            "Employed full time",
            "self-employed",
            "I work for a company",
            "retired",
            "part time",
            "freelancer",
        ],
    },
    "tenure": {
        "es": ["{n} años", "como {n} años", "{m} meses", "desde hace {n} años", "1 año y medio"],
        "en": ["{n} years", "about {n} years", "{m} months", "since 2019", "a year and a half"],
    },
    "loan_purpose": {
        "es": [
            "pagar deudas",
            "para pagar unas deudas",
            "remodelar mi casa",
            "comprar un carro",
            "gastos médicos",
            "para mi negocio",
            "la escuela de mis hijos",
            "unas vacaciones 😅",
        ],
        "en": [
            "pay off debt",
            "debt consolidation",
            "home repairs",
            "car repair",
            "medical bills",
            "my small business",
            "a trip 😅",
        ],
    },
}
ANSWER_TAILS = {
    "es": ["👍", "eso", "aprox", "más o menos", "creo"],
    "en": ["👍", "that's it", "approx", "more or less", "I think"],
}
ID_CLARIFY = {
    "es": ["¿para qué lo necesitan?", "¿es seguro darte eso?"],
    "en": ["why do you need that?", "is it safe to share that?"],
}
ID_CLARIFY_REPLIES = {
    "es": ["Es solo para validar tu identidad 🔒 Tus datos están protegidos."],
    "en": ["It's only to verify your identity 🔒 Your data is protected."],
}
MEDIA_FOLLOW_UPS = {
    "es": ["¡Gracias! ¿Me lo puedes escribir por favor? ✍️"],
    "en": ["Thanks! Could you type it for me please? ✍️"],
}
STALL_REPLIES = {
    "es": ["déjame buscarlo y te digo", "ahorita te lo paso", "luego te lo mando, estoy ocupado"],
    "en": ["let me look for it", "I'll send it later", "give me a minute, I'm busy"],
}
DECLINE_REASONS = {
    "es": [
        "ando ocupado",
        "ya conseguí con otro banco",
        "la tasa está muy alta",
        "luego les escribo",
    ],
    "en": [
        "I'm busy right now",
        "I already got a loan elsewhere",
        "the rate is too high",
        "I'll text you later",
    ],
}
CALL_TIME_QUESTIONS = {
    "es": ["¿En qué horario prefieres que te llamen? 🕐"],
    "en": ["What time works best for the call? 🕐"],
}
CALL_TIMES = {
    "es": ["en la tarde", "después de las 5", "mañana temprano", "cualquier hora", "de 10 a 2"],
    "en": ["afternoon", "after 5pm", "tomorrow morning", "anytime", "between 10 and 2"],
}
THANKS = {
    "es": ["gracias 🙏", "Gracias!", "👍", "ok gracias", "muchas gracias"],
    "en": ["thanks!", "thank you 🙏", "👍", "ok thanks", "great, thanks"],
}
HUMAN_REQUESTS = {
    "es": [
        "quiero hablar con una persona",
        "¿me puede atender un asesor?",
        "agente",
        "prefiero hablar con alguien",
        "no entiendo, ¿hay alguien real?",
        "tengo un problema con mi pago",
    ],
    "en": [
        "I want to talk to a person",
        "agent",
        "can I speak with someone?",
        "human please",
        "I have a problem with my payment",
    ],
}
BOT_TRANSFER_REASONS = {
    "es": ["Para tu caso necesito que te atienda una persona de nuestro equipo."],
    "en": ["For your case you need to talk to someone from our team."],
}
AGENT_NAMES = {
    "es": ("Carla", "Andrés", "Lucía", "Diego", "Fernanda", "Rodrigo"),
    "en": ("Sarah", "Mike", "Jessica", "Kevin"),
}
AGENT_OPENERS = {
    "es": [
        "Hola {name}, soy {agent} de Finvera 👋 ¿En qué te puedo ayudar?",
        "¡Hola {name}! Te saluda {agent}, de Finvera. Cuéntame, ¿cómo te ayudo?",
        "Buen día {name}, mi nombre es {agent}. Ya vi tu solicitud, ¿tienes alguna duda?",
    ],
    "en": [
        "Hi {name}, this is {agent} from Finvera 👋 How can I help you?",
        "Hello {name}! {agent} here, from Finvera. What can I do for you?",
        "Good day {name}, my name is {agent}. I see your application, any questions?",
    ],
}
AGENT_EXCHANGES = {
    "es": [
        (
            "quiero saber si me pueden prestar más",
            "Déjame revisar tu perfil... Por ahora el máximo es {amount}, pero después de 6 pagos puntuales puede aumentar.",
        ),
        (
            "cuánto pagaría al mes?",
            "Con un plazo de 24 meses serían aproximadamente {monthly} al mes.",
        ),
        ("no me llegó el código de verificación", "Ya te lo reenvié, ¿me confirmas si te llegó?"),
        (
            "qué documentos necesito?",
            "Solo tu identificación y un comprobante de domicilio reciente 📄",
        ),
        (
            "me cobran comisión?",
            "La comisión por apertura es del 2% y se descuenta del monto depositado.",
        ),
        (
            "ya subí mis documentos pero no avanza",
            "Lo reviso con el área de validación y te confirmo por aquí.",
        ),
    ],
    "en": [
        (
            "can I get a bigger amount?",
            "Let me check your profile... For now the maximum is {amount}, but it can grow after 6 on-time payments.",
        ),
        (
            "how much would I pay per month?",
            "With a 24-month term it would be about {monthly} per month.",
        ),
        ("I didn't get the verification code", "I just resent it, can you confirm you got it?"),
        ("what documents do you need?", "Just your ID and a recent proof of address 📄"),
        (
            "is there any fee?",
            "There's a 2% origination fee, deducted from the amount you receive.",
        ),
        (
            "I uploaded my documents but nothing happens",
            "I'll check with the verification team and get back to you here.",
        ),
    ],
}
AGENT_NO_AMOUNT = {
    "es": "Depende del monto que elijas; te comparto una simulación por aquí.",
    "en": "It depends on the amount you choose; I'll share a simulation here.",
}
AGENT_FOLLOW_UPS = {
    "es": [
        "Te envié el enlace para firmar tu contrato 📝",
        "Quedo pendiente de tus documentos.",
        "¿Pudiste revisar la información que te envié?",
        "Cualquier duda aquí estoy 🙂",
    ],
    "en": [
        "I sent you the link to sign your contract 📝",
        "I'll wait for your documents.",
        "Did you get a chance to review what I sent?",
        "Any questions, I'm here 🙂",
    ],
}
USER_ACKS = {
    "es": ["ok", "ok gracias", "va, lo reviso", "sí ya me llegó", "déjame ver", "perfecto"],
    "en": ["ok", "ok thanks", "sure, I'll check", "yes got it", "let me see", "perfect"],
}
ACTIVE_USER_ENDINGS = {
    "es": [
        "¿puedo pagar antes sin penalización?",
        "oye y a qué hora me depositan?",
        "ok ya lo tengo, te lo mando",
        "¿me repites el monto porfa?",
    ],
    "en": [
        "can I pay it off early without penalty?",
        "and when would I get the money?",
        "ok I have it, sending it now",
        "can you repeat the amount please?",
    ],
}
USER_ONLY_TEXTS = {
    "es": [
        "Hola",
        "Buenas tardes, quiero información del préstamo",
        "¿Hay alguien?",
        "???",
        "Me llegó un mensaje de un préstamo",
        "hola??",
    ],
    "en": ["Hi", "Hello, I got a message about a loan", "Is anyone there?", "???", "hello??"],
}
EMOJI = ("👍", "🙏", "😅", "😊", "🤔", "🙌", "😀")


@dataclass
class _Lead:
    """One synthetic lead: its profile plus the fields used to fill message texts."""

    key: str
    name: str
    first_name: str
    email: str | None
    country: str
    timezone: str
    tz: ZoneInfo
    language: str
    product: str
    amount: float | None
    campaign: str
    created_us: int = 0


@dataclass
class _Chat:
    """Builds one lead's conversation forward in time (epoch microseconds, UTC)."""

    lead: _Lead
    rng: random.Random
    now: int
    messages: list[tuple[int, str, str | None]] = field(default_factory=list)
    slow_ok: bool = True
    session_index: int | None = None

    @property
    def lang(self) -> str:
        """Language of the conversation ("es" | "en")."""
        return self.lead.language

    def pick(self, options: dict[str, list[str]]) -> str:
        """Choose one phrase of the conversation's language."""
        return self.rng.choice(options[self.lang])

    def fill(self, text: str, **extra: str) -> str:
        """Fill the ``{name}``, ``{amount}``, ``{product}`` ... placeholders of ``text``."""
        lead = self.lead
        amount = _money(lead.amount, lead.country) if lead.amount is not None else ""
        monthly = (
            _money(round(lead.amount * 0.055), lead.country) if lead.amount is not None else ""
        )
        return text.format(
            name=lead.first_name,
            amount=amount,
            monthly=monthly,
            product=st.PRODUCT_LABELS[self.lang][lead.product],
            **extra,
        )

    def _emit(self, sender: str, text: str | None) -> None:
        self.messages.append((self.now, sender, text))

    def last_sender(self) -> str | None:
        """Sender of the latest message so far, if any."""
        return self.messages[-1][1] if self.messages else None

    def bot(self, *texts: str) -> None:
        """Send bot bubbles a few seconds after the previous message."""
        for text in texts:
            if self.last_sender() == "bot":
                self.now += int(self.rng.uniform(0.7, 2.5) * _SECOND)
            else:
                self.now += int(self.rng.uniform(1.5, 8) * _SECOND)
            self._emit("bot", self.fill(text))

    def template(self, key: str, *, first: bool) -> None:
        """Send an outbound template in local business hours (9:00-20:00)."""
        if first:
            self.now += int(self.rng.uniform(2 * _MINUTE, 2 * _HOUR))
        else:
            self.now += int(self.rng.uniform(20 * _HOUR, 70 * _HOUR))
        self.now = _snap(self.now, self.lead.tz, self.rng, 9, 20)
        variants = [
            v
            for v in st.TEMPLATES[key][self.lang]
            if self.lead.amount is not None or "{amount}" not in v
        ]
        deadline = (_to_local(self.now, self.lead.tz) + timedelta(days=2)).date()
        self._emit(
            "bot", self.fill(self.rng.choice(variants), deadline=_format_date(deadline, self.lang))
        )

    def user(self, text: str, *, pace: str = "session", casual: bool = True) -> None:
        """Send a user message after a human-like delay.

        ``pace="reply"``: first answer to an outbound message (minutes to a day, mostly
        in local daytime). ``pace="session"``: answering inside a live chat (seconds to
        minutes, occasionally hours when ``slow_ok``). ``pace="burst"``: a follow-up bubble.
        """
        rng = self.rng
        if pace == "reply":
            minutes = min(rng.lognormvariate(math.log(20), 1.5), 2880.0)
            self.now += int(max(minutes, 0.3) * _MINUTE)
            if self.slow_ok and rng.random() < 0.9:
                self.now = _snap(self.now, self.lead.tz, rng, 7, 23)
        elif pace == "burst":
            self.now += int(rng.uniform(2, 25) * _SECOND)
        elif self.slow_ok and rng.random() < 0.05:
            self.now += int(min(rng.lognormvariate(math.log(3), 0.8), 20.0) * _HOUR)
            if rng.random() < 0.9:
                self.now = _snap(self.now, self.lead.tz, rng, 7, 23)
        else:
            self.now += int(min(max(rng.lognormvariate(math.log(40), 0.9), 4.0), 1800.0) * _SECOND)
        if rng.random() < MEDIA_RATE:
            self._emit("user", None)
            self.now += int(rng.uniform(3, 30) * _SECOND)
        self._emit("user", _casualize(text, rng) if casual else text)

    def media(self, sender: str = "user") -> None:
        """``sender`` sends a photo / audio / PDF: a message without text."""
        self.now += int(min(max(self.rng.lognormvariate(math.log(60), 0.8), 5.0), 1800.0) * _SECOND)
        self._emit(sender, None)

    def agent(self, text: str, *, first: bool = False, **extra: str) -> None:
        """Send a live-agent message (the first one minutes after the transfer)."""
        if first and self.slow_ok:
            self.now += int(self.rng.uniform(1, 90) * _MINUTE)
            self.now = _snap(self.now, self.lead.tz, self.rng, 8, 21)
        elif first:
            self.now += int(self.rng.uniform(1, 12) * _MINUTE)
        else:
            self.now += int(
                min(max(self.rng.lognormvariate(math.log(60), 0.8), 8.0), 900.0) * _SECOND
            )
        self._emit("agent", self.fill(text, **extra))

    def later(self, low_hours: float, high_hours: float) -> None:
        """Let time pass before a bot follow-up (kept in local daytime)."""
        self.now += int(self.rng.uniform(low_hours, high_hours) * _HOUR)
        self.now = _snap(self.now, self.lead.tz, self.rng, 9, 21)

    def start_session(self) -> None:
        """Mark the start of the live part of an active conversation (no slow gaps after)."""
        self.session_index = len(self.messages)
        self.slow_ok = False


# --- time helpers ------------------------------------------------------------------------


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _to_local(us: int, tz: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _snap(us: int, tz: ZoneInfo, rng: random.Random, start_hour: int, end_hour: int) -> int:
    """Move ``us`` to the next local morning unless it falls within [start_hour, end_hour)."""
    local = _to_local(us, tz)
    if start_hour <= local.hour < end_hour:
        return us
    day = local.date() if local.hour < start_hour else local.date() + timedelta(days=1)
    morning = datetime(day.year, day.month, day.day, start_hour, tzinfo=tz)
    return _to_us(morning) + int(rng.uniform(0, 120) * _MINUTE)


def _format_date(day: date, lang: str) -> str:
    return (
        f"{day.day:02d}/{day.month:02d}"
        if lang == "es"
        else f"{MONTHS_EN[day.month - 1]} {day.day}"
    )


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- text helpers ------------------------------------------------------------------------


def _money(value: float, country: str) -> str:
    grouped = f"{value:,.0f}"
    if country == "ES":
        return grouped.replace(",", ".") + " €"
    if country == "CO":
        return "$" + grouped.replace(",", ".") + " COP"
    if country == "MX":
        return f"${grouped} MXN"
    return f"${grouped}"


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", kept).replace("¿", "").replace("¡", "")


_LONG_WORD = re.compile(r"[^\W\d_]{4,}")


def _casualize(text: str, rng: random.Random) -> str:
    """Make a user message look typed on a phone: case, accents, a typo, an emoji."""
    if rng.random() < 0.25:
        text = text.lower()
    if rng.random() < 0.3:
        text = _strip_accents(text)
    spots = [  # typos only inside words of 4+ letters, so "no" never turns into "on"
        word.start() + offset
        for word in _LONG_WORD.finditer(text)
        for offset in range(len(word.group()) - 1)
    ]
    if spots and rng.random() < 0.12:
        i = rng.choice(spots)
        kind = rng.randrange(3)
        if kind == 0:
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif kind == 1:
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + text[i] + text[i:]
    if rng.random() < 0.08:
        text = f"{text} {rng.choice(EMOJI)}"
    return text


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


# --- lead profiles -------------------------------------------------------------------------


def _phone(rng: random.Random, country: str, prefixes: Sequence[str]) -> str:
    prefix = rng.choice(prefixes)
    rest = NATIONAL_DIGITS[country] - len(prefix)
    first = rng.randint(2, 9) if country in ("US", "MX") else rng.randint(0, 9)
    tail = "".join(str(rng.randint(0, 9)) for _ in range(rest - 1))
    return f"{DIAL_PREFIX[country]}{prefix}{first}{tail}"


def _make_lead(rng: random.Random, used_keys: set[str]) -> _Lead:
    country = _weighted(rng, COUNTRY_WEIGHTS)
    zones = TIMEZONES[country]
    zone, _, prefixes = rng.choices(zones, weights=[w for _, w, _ in zones])[0]
    key = _phone(rng, country, prefixes)
    while key in used_keys:
        key = _phone(rng, country, prefixes)
    used_keys.add(key)

    if country == "US":
        language = "en"
    else:
        language = "en" if rng.random() < ENGLISH_ABROAD_RATE else "es"
    name_lang = "en" if country == "US" or (language == "en" and rng.random() < 0.5) else "es"
    first = rng.choice(FIRST_NAMES[name_lang])
    surnames = [rng.choice(SURNAMES[name_lang])]
    if name_lang == "es":
        surnames.append(rng.choice(SURNAMES["es"]))
    name = " ".join([first, *surnames])
    if rng.random() < 0.05:
        name = name.upper()  # CRM exports shout sometimes

    email = None
    if rng.random() >= EMAIL_NULL_RATE:
        local = _strip_accents(f"{first}.{surnames[0]}").lower().replace("'", "").replace(" ", "")
        if rng.random() < 0.5:
            local += str(rng.randint(1, 99))
        email = f"{local}@{rng.choice(EMAIL_DOMAINS[country])}"

    product = _weighted(rng, PRODUCT_WEIGHTS)
    amount = None
    if rng.random() >= AMOUNT_NULL_RATE[product]:
        low, high, step = AMOUNT_RANGES[country]
        raw = math.exp(rng.uniform(math.log(low), math.log(high)))
        amount = float(max(low, round(raw / step) * step))
    wave = _weighted(rng, CAMPAIGN_WAVES)
    return _Lead(
        key=key,
        name=name,
        first_name=first,
        email=email,
        country=country,
        timezone=zone,
        tz=ZoneInfo(zone),
        language=language,
        product=product,
        amount=amount,
        campaign=f"{country.lower()}_{product}_{wave}",
    )


def _pick_created(rng: random.Random, tz: ZoneInfo, anchor_us: int) -> int:
    """A creation time within the window, mostly during the lead's local day."""
    created = anchor_us - int(rng.uniform(10 * _MINUTE, WINDOW_DAYS * _DAY - _HOUR))
    local = _to_local(created, tz)
    if not 7 <= local.hour < 23 and rng.random() < 0.8:
        moved = datetime(
            local.year, local.month, local.day, rng.randint(8, 21), rng.randint(0, 59), tzinfo=tz
        )
        created = _to_us(moved)
        if created > anchor_us - 10 * _MINUTE:
            created -= _DAY
    created = max(created, anchor_us - WINDOW_DAYS * _DAY + _HOUR)
    return created - created % _SECOND


# --- conversation building blocks ------------------------------------------------------------


def _send_templates(chat: _Chat, count: int) -> None:
    first = "recovery_nudge" if chat.lead.campaign.endswith("_recovery") else "preapproved_offer"
    if first == "preapproved_offer":
        follow_ups = (
            ["recovery_nudge", "reminder"]
            if chat.rng.random() < 0.5
            else ["reminder", "recovery_nudge"]
        )
    else:
        follow_ups = ["reminder", "reminder"]
    for i, key in enumerate([first, *follow_ups][:count]):
        chat.template(key, first=i == 0)


def _faq(chat: _Chat, topic: str) -> str:
    """The bot's answer (unformatted) to an FAQ question about ``topic``."""
    answer_key = "amount_unknown" if topic == "amount" and chat.lead.amount is None else topic
    return chat.pick(FAQ_ANSWERS[answer_key])


def _engage(chat: _Chat, *, extra_questions: int) -> None:
    """User answers a template; the bot greets, answers questions and asks to continue."""
    rng = chat.rng
    answers: list[str] = []
    if rng.random() < 0.55:
        chat.user(chat.pick(OPENERS), pace="reply")
        if rng.random() < 0.25:
            topic = rng.choice(list(FAQ_QUESTIONS))
            chat.user(chat.pick(FAQ_QUESTIONS[topic]), pace="burst")
            answers.append(_faq(chat, topic))
    else:
        topic = rng.choice(list(FAQ_QUESTIONS))
        chat.user(chat.pick(FAQ_QUESTIONS[topic]), pace="reply")
        answers.append(_faq(chat, topic))
    if rng.random() < 0.6:
        answers.append(chat.pick(st.OFFER_DETAILS))
    chat.bot(chat.pick(st.GREETINGS), *answers, chat.pick(st.CONTINUE_PROMPTS))
    for _ in range(extra_questions):
        topic = rng.choice(list(FAQ_QUESTIONS))
        chat.user(chat.pick(FAQ_QUESTIONS[topic]))
        chat.bot(_faq(chat, topic))
        if rng.random() < 0.5:
            chat.bot(chat.pick(st.CONTINUE_PROMPTS))


def _start_profiling(chat: _Chat) -> None:
    chat.user(chat.pick(CTA_YES))
    chat.bot(chat.pick(st.PRIVACY_NOTICE))
    chat.user(chat.pick(PRIVACY_ACCEPT))
    chat.bot(chat.pick(st.PROFILING_INTRO))


def _question(chat: _Chat, topic: str) -> str:
    by_locale = st.PROFILING_QUESTIONS_BY_TOPIC[topic]
    return by_locale.get(f"{chat.lang}-{chat.lead.country}", by_locale[chat.lang])


def _profiling_answer(chat: _Chat, topic: str) -> str:
    rng, lead, lang = chat.rng, chat.lead, chat.lang
    if topic in PROFILING_ANSWERS:
        return chat.pick(PROFILING_ANSWERS[topic]).format(
            n=rng.randint(1, 12), m=rng.randint(3, 11)
        )
    if topic == "income":
        return _income_answer(rng, lead.country, lang)
    if topic == "postal_code":
        digits = {
            "MX": (1000, 99999, 5),
            "CO": (50001, 999999, 6),
            "ES": (1000, 52999, 5),
            "US": (10001, 99950, 5),
        }
        low, high, width = digits[lead.country]
        return f"{rng.randint(low, high):0{width}d}"
    return _id_answer(rng, lead)


def _income_answer(rng: random.Random, country: str, lang: str) -> str:
    scale = {
        "MX": (7_000, 60_000, 500),
        "CO": (1_300_000, 9_000_000, 50_000),
        "US": (1_800, 9_000, 100),
        "ES": (1_100, 4_500, 50),
    }
    low, high, step = scale[country]
    value = rng.randint(low // step, high // step) * step
    grouped = _money(value, country).replace(" MXN", "").replace(" COP", "")
    if country == "MX":
        approx = f"{round(value / 1000)} mil"
    elif country == "CO":
        approx = f"{value / 1e6:.1f} millones".replace(".", ",")
    elif country == "ES":
        approx = f"{value} euros"
    else:
        approx = f"{value / 1000:.1f}k"
    if lang == "en":
        options = [grouped, f"about {approx}", f"{value} monthly", f"around {grouped} a month"]
    else:
        options = [
            grouped,
            str(value),
            f"como {approx}",
            f"gano {approx} al mes",
            f"aprox {grouped}",
        ]
    return rng.choice(options)


def _id_answer(rng: random.Random, lead: _Lead) -> str:
    if lead.language == "en":
        if lead.country == "US":
            return rng.choice(["{0}", "last 4: {0}", "it's {0}"]).format(
                f"{rng.randint(0, 9999):04d}"
            )
        return f"{rng.choice('GMPX')}{rng.randint(10_000_000, 99_999_999)}"
    if lead.country == "MX":
        letters = _strip_accents(lead.name).upper().split()
        initials = (letters[1][:2] + letters[2][:1] + letters[0][:1]).ljust(4, "X")
        birth = f"{rng.randint(60, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        homoclave = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(3))
        return initials + birth + homoclave
    if lead.country == "CO":
        return str(rng.randint(10_000_000, 1_299_999_999))
    number = rng.randint(10_000_000, 99_999_999)
    return f"{number}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"


def _profile(chat: _Chat, answered: int, *, ask_next: bool) -> None:
    """Ask profiling questions; the user answers the first ``answered`` of them.

    With ``ask_next`` the bot also asks question number ``answered + 1``, left unanswered.
    """
    rng = chat.rng
    topics = st.PROFILING_TOPICS
    for index, topic in enumerate(topics[: answered + (1 if ask_next else 0)]):
        chat.bot(_question(chat, topic))
        if index == answered:
            return
        if topic == "id_number" and rng.random() < 0.15:
            chat.user(chat.pick(ID_CLARIFY))
            chat.bot(chat.pick(ID_CLARIFY_REPLIES))
        if topic == "id_number" and rng.random() < 0.1:
            chat.media()
            chat.bot(chat.pick(MEDIA_FOLLOW_UPS))
        if rng.random() < 0.04:
            chat.user(chat.pick(SMALL_TALK))
            chat.bot(chat.pick(SMALL_TALK_REPLIES))
        chat.user(
            _profiling_answer(chat, topic),
            casual=topic not in ("id_number", "postal_code"),
        )
        if rng.random() < 0.1:
            chat.user(chat.pick(ANSWER_TAILS), pace="burst")
        if topic == "id_number":
            chat.bot(*st.ID_VALIDATION[chat.lang])
        if index + 1 < len(topics) and rng.random() < 0.45:
            chat.bot(chat.pick(st.PROFILING_ACKS))


def _invite(chat: _Chat) -> None:
    chat.bot(chat.pick(st.PREVALIDATION_PASSED), chat.pick(st.HANDOFF_INVITATIONS))


def _to_agent(chat: _Chat, exchanges: int) -> None:
    """Bot transfers to a live agent; agent and user exchange a few messages."""
    rng = chat.rng
    if rng.random() < 0.7:
        chat.user(chat.pick(HUMAN_REQUESTS))
        chat.bot(chat.pick(st.HUMAN_TRANSFER))
    else:
        chat.bot(chat.pick(BOT_TRANSFER_REASONS), chat.pick(st.HUMAN_TRANSFER))
    agent_name = rng.choice(AGENT_NAMES[chat.lang])
    chat.agent(chat.pick(AGENT_OPENERS), first=True, agent=agent_name)
    pairs = rng.sample(
        AGENT_EXCHANGES[chat.lang], k=min(exchanges, len(AGENT_EXCHANGES[chat.lang]))
    )
    for question, answer in pairs:
        if chat.lead.amount is None and "{" in answer:
            answer = AGENT_NO_AMOUNT[chat.lang]
        chat.user(question)
        chat.agent(answer)
        if rng.random() < 0.4:
            chat.user(chat.pick(USER_ACKS))
        if rng.random() < 0.05:
            chat.media("agent")


# --- scenarios -----------------------------------------------------------------------------


def _never_replied(chat: _Chat) -> None:
    _send_templates(chat, chat.rng.choices([1, 2, 3], weights=[0.45, 0.35, 0.2])[0])


def _stalled_after_template(chat: _Chat) -> None:
    rng = chat.rng
    _send_templates(chat, rng.choices([1, 2], weights=[0.7, 0.3])[0])
    _engage(chat, extra_questions=rng.choices([0, 1], weights=[0.55, 0.45])[0])
    if rng.random() < 0.2:
        chat.template("reminder", first=False)


def _engaged_start(chat: _Chat) -> None:
    rng = chat.rng
    _send_templates(chat, rng.choices([1, 2, 3], weights=[0.7, 0.25, 0.05])[0])
    _engage(chat, extra_questions=rng.choices([0, 1, 2, 3], weights=[0.2, 0.35, 0.3, 0.15])[0])
    _start_profiling(chat)


def _stalled_in_profiling(chat: _Chat) -> None:
    rng = chat.rng
    _engaged_start(chat)
    _profile(chat, rng.randint(1, len(st.PROFILING_TOPICS) - 1), ask_next=True)
    roll = rng.random()
    if roll < 0.25:
        chat.later(2, 20)
        chat.bot(chat.pick(st.BOT_NUDGES))
    elif roll < 0.4:
        chat.user(chat.pick(STALL_REPLIES))


def _handoff_no_answer(chat: _Chat) -> None:
    _engaged_start(chat)
    _profile(chat, len(st.PROFILING_TOPICS), ask_next=False)
    _invite(chat)
    if chat.rng.random() < 0.35:
        chat.later(3, 26)
        chat.bot(chat.pick(st.HANDOFF_INVITATIONS))


def _handoff_declined(chat: _Chat) -> None:
    rng = chat.rng
    _engaged_start(chat)
    _profile(chat, len(st.PROFILING_TOPICS), ask_next=False)
    _invite(chat)
    chat.user(chat.pick(st.HANDOFF_DECLINE), pace="reply" if rng.random() < 0.3 else "session")
    if rng.random() < 0.4:
        chat.user(chat.pick(DECLINE_REASONS), pace="burst")
    if rng.random() < 0.85:
        chat.bot(chat.pick(st.HANDOFF_DECLINE_ACKS))


def _handoff_accepted(chat: _Chat) -> None:
    rng = chat.rng
    _engaged_start(chat)
    _profile(chat, len(st.PROFILING_TOPICS), ask_next=False)
    _invite(chat)
    chat.user(chat.pick(st.HANDOFF_ACCEPT))
    if rng.random() < 0.5:
        chat.bot(chat.pick(CALL_TIME_QUESTIONS))
        chat.user(chat.pick(CALL_TIMES))
    chat.bot(chat.pick(st.HANDOFF_CONFIRMATIONS))
    if rng.random() < 0.3:
        chat.user(chat.pick(THANKS))


def _transferred_to_human(chat: _Chat) -> None:
    rng = chat.rng
    _engaged_start(chat)
    _profile(chat, rng.randint(0, len(st.PROFILING_TOPICS)), ask_next=False)
    _to_agent(chat, rng.randint(3, 6))
    if rng.random() < 0.5:
        chat.later(2, 30)
        chat.agent(chat.pick(AGENT_FOLLOW_UPS))


def _active(chat: _Chat) -> None:
    rng = chat.rng
    _send_templates(chat, rng.choices([1, 2], weights=[0.7, 0.3])[0])
    chat.start_session()
    _engage(chat, extra_questions=rng.randint(0, 2))
    _start_profiling(chat)
    if rng.random() < 0.55:
        _profile(chat, rng.randint(0, 4), ask_next=False)
        _to_agent(chat, rng.randint(1, 3))
        if chat.last_sender() == "agent" and rng.random() < 0.15:
            chat.user(chat.pick(USER_ACKS))
    else:
        _profile(chat, rng.randint(1, len(st.PROFILING_TOPICS) - 1), ask_next=True)
        chat.user(chat.pick(ACTIVE_USER_ENDINGS))


def _user_only(chat: _Chat) -> None:
    rng = chat.rng
    texts = USER_ONLY_TEXTS[chat.lang]
    chat.now += int(rng.uniform(1, 90) * _MINUTE)
    chat.now = _snap(chat.now, chat.lead.tz, rng, 8, 22)
    chat.user(texts[rng.randrange(2)], pace="burst")
    for text in rng.sample(texts[2:], k=rng.randint(0, 3)):
        chat.user(text, pace="reply")


SCENARIO_BUILDERS: dict[str, Callable[[_Chat], None]] = {
    "never_replied": _never_replied,
    "stalled_after_template": _stalled_after_template,
    "stalled_in_profiling": _stalled_in_profiling,
    "handoff_no_answer": _handoff_no_answer,
    "handoff_declined": _handoff_declined,
    "handoff_accepted": _handoff_accepted,
    "transferred_to_human": _transferred_to_human,
    "active": _active,
    "user_only": _user_only,
}


# --- placement, assembly, output --------------------------------------------------------------


def _assign_scenarios(n_leads: int, rng: random.Random) -> list[str]:
    """Scenario per lead: quotas by largest remainder (each at least once), then shuffled."""
    raw = {name: SCENARIO_SHARES[name] * n_leads for name in st.SCENARIOS}
    counts = {name: int(value) for name, value in raw.items()}
    by_remainder = sorted(
        st.SCENARIOS, key=lambda name: (counts[name] - raw[name], st.SCENARIOS.index(name))
    )
    for name in by_remainder[: n_leads - sum(counts.values())]:
        counts[name] += 1
    if n_leads >= len(st.SCENARIOS):
        for name in st.SCENARIOS:
            while counts[name] == 0:
                donor = max(st.SCENARIOS, key=lambda other: counts[other])
                counts[donor] -= 1
                counts[name] += 1
    assigned = [name for name in st.SCENARIOS for _ in range(counts[name])]
    rng.shuffle(assigned)
    return assigned


def _place(chat: _Chat, scenario: str, anchor_us: int) -> None:
    """Shift the conversation (and lead creation) so it ends at a plausible time before the anchor.

    Stalled conversations move back by whole days (keeping local time of day) until they end
    at least ``STALE_AFTER_HOURS`` before the anchor. Active ones end within
    ``ACTIVE_WITHIN_HOURS``; their earlier outbound templates move by whole days.
    """
    rng, messages = chat.rng, chat.messages
    if not messages:
        return
    end = messages[-1][0]
    if scenario == "active" and chat.session_index:
        split = chat.session_index
        target = anchor_us - int(rng.uniform(1 * _MINUTE, ACTIVE_WITHIN_HOURS * _HOUR))
        session_shift = target - end
        session_start = messages[split][0] + session_shift
        gap_days = math.ceil((messages[split - 1][0] - (session_start - 30 * _MINUTE)) / _DAY)
        early_shift = -(gap_days + rng.randint(0, 3)) * _DAY
        chat.messages = [
            (at + (early_shift if i < split else session_shift), sender, text)
            for i, (at, sender, text) in enumerate(messages)
        ]
        chat.lead.created_us += early_shift
        return
    latest = anchor_us - STALE_AFTER_HOURS * _HOUR
    if end > latest:
        # whole days keep the local time of day; the random extra spreads the ends over a week
        shift = -(math.ceil((end - latest) / _DAY) + rng.choice(EXTRA_DAYS)) * _DAY
        chat.messages = [(at + shift, sender, text) for at, sender, text in messages]
        chat.lead.created_us += shift


def _build_messages(
    chats: list[_Chat], rng: random.Random
) -> tuple[list[tuple[str, int, str, str | None, str]], dict[str, int]]:
    """Assign message ids, swap a few ids, add duplicate rows; return sorted rows + stats."""
    flat = [
        (at, chat.lead.key, position, sender, text)
        for chat in chats
        for position, (at, sender, text) in enumerate(sorted(chat.messages, key=lambda m: m[0]))
    ]
    flat.sort(key=lambda row: (row[0], row[1], row[2]))
    ids = {
        (key, position): f"msg_{n:08d}" for n, (_, key, position, _, _) in enumerate(flat, start=1)
    }
    swaps = 0
    for _, key, position, _, _ in flat:
        nxt = (key, position + 1)
        if nxt in ids and rng.random() < ID_SWAP_RATE:
            here = (key, position)
            ids[here], ids[nxt] = ids[nxt], ids[here]
            swaps += 1
    rows = [
        (key, at, sender, text, ids[(key, position)]) for at, key, position, sender, text in flat
    ]
    duplicates = [row for row in rows if rng.random() < DUPLICATE_RATE]
    rows.extend(duplicates)
    rows.sort(key=lambda row: (row[0], row[1], row[4]))
    stats = {"id_swaps": swaps, "duplicate_rows": len(duplicates), "unique_messages": len(flat)}
    return rows, stats


def generate(
    out_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    n_leads: int = DEFAULT_LEADS,
    anchor: datetime | None = None,
) -> dict:
    """Generate the sample data set under ``out_dir`` and return its manifest.

    Args:
        out_dir: Folder to write into (created if needed); existing files are overwritten.
        seed: Random seed; with the same ``anchor`` and ``n_leads`` output is byte-identical.
        n_leads: Number of leads to generate (at least 1).
        anchor: The data set's "now" (all timestamps are at or before it). Naive values
            are taken as UTC. Defaults to the current UTC time floored to the hour.

    Returns:
        The manifest dict that is also written to ``out_dir/manifest.json``.

    Raises:
        ValueError: If ``n_leads`` is smaller than 1.
    """
    if n_leads < 1:
        raise ValueError(f"n_leads must be at least 1, got {n_leads}")
    out_dir = Path(out_dir)
    anchor = sample_io.normalize_anchor(anchor)
    anchor_us = _to_us(anchor)
    manifest_path = out_dir / "manifest.json"
    sample_io.start(manifest_path)

    master = random.Random(seed)
    scenarios = _assign_scenarios(n_leads, master)
    used_keys: set[str] = set()
    chats: list[_Chat] = []
    for index, scenario in enumerate(scenarios):
        rng = random.Random(f"{seed}:{index}")
        lead = _make_lead(rng, used_keys)
        lead.created_us = _pick_created(rng, lead.tz, anchor_us)
        chat = _Chat(lead=lead, rng=rng, now=lead.created_us)
        if scenario in SCENARIO_BUILDERS:
            SCENARIO_BUILDERS[scenario](chat)
        _place(chat, scenario, anchor_us)
        chats.append(chat)

    rows, stats = _build_messages(chats, master)
    leads = [chat.lead for chat in chats]
    files = {
        "leads": "demo/leads.parquet",
        "messages": "demo/messages.parquet",
        "ground_truth": "demo/ground_truth.parquet",
        "leads_csv": "leads.csv",
    }
    sample_io.write_parquet(
        out_dir / files["leads"],
        {
            "lead_key": [lead.key for lead in leads],
            "name": [lead.name for lead in leads],
            "email": [lead.email for lead in leads],
            "country": [lead.country for lead in leads],
            "timezone": [lead.timezone for lead in leads],
            "language": [lead.language for lead in leads],
            "product": [lead.product for lead in leads],
            "preapproved_amount": [lead.amount for lead in leads],
            "campaign": [lead.campaign for lead in leads],
            "lead_created_at": [lead.created_us for lead in leads],
        },
        LEADS_SCHEMA,
    )
    sample_io.write_parquet(
        out_dir / files["messages"],
        {
            "message_id": [row[4] for row in rows],
            "lead_key": [row[0] for row in rows],
            "sent_at": [row[1] for row in rows],
            "sender": [row[2] for row in rows],
            "text": [row[3] for row in rows],
        },
        MESSAGES_SCHEMA,
    )
    sample_io.write_parquet(
        out_dir / files["ground_truth"],
        {
            "lead_key": [lead.key for lead in leads],
            "scenario": scenarios,
            "expected_state": [st.EXPECTED_STATES[s] for s in scenarios],
        },
        GROUND_TRUTH_SCHEMA,
    )
    with (out_dir / files["leads_csv"]).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for lead in leads[:CSV_LEADS]:
            writer.writerow(
                [lead.key, lead.name, lead.country, lead.timezone, lead.language, lead.product]
            )

    scenario_counts = Counter(scenarios)
    manifest = {
        "generator": "scripts/generate_sample_data.py",
        "seed": seed,
        "n_leads": n_leads,
        "anchor": _iso_z(anchor),
        "counts": {
            "leads": len(leads),
            "messages": len(rows),
            "unique_messages": stats["unique_messages"],
            "duplicate_rows": stats["duplicate_rows"],
            "id_swaps": stats["id_swaps"],
            "null_text": sum(1 for row in rows if row[3] is None),
            "leads_with_messages": sum(1 for chat in chats if chat.messages),
            "leads_csv": min(CSV_LEADS, len(leads)),
        },
        "scenario_counts": {name: scenario_counts[name] for name in st.SCENARIOS},
        "languages": dict(sorted(Counter(lead.language for lead in leads).items())),
        "countries": dict(sorted(Counter(lead.country for lead in leads).items())),
        "files": files,
    }
    sample_io.write_manifest(manifest_path, manifest)
    return manifest


# --- CLI -----------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Generate the synthetic Lead Recovery sample data set: leads, their chat messages\n"
            "(Spanish and English, bot / user / agent) and the ground truth scenario per lead.\n"
            "Same --seed, --anchor and --leads give byte-identical files.\n\n"
            "Writes OUT/demo/leads.parquet, OUT/demo/messages.parquet,\n"
            "OUT/demo/ground_truth.parquet, OUT/leads.csv (first 50 leads) and, last,\n"
            "OUT/manifest.json. Does nothing if OUT/manifest.json already matches (see --force)."
        ),
        epilog=(
            "examples:\n"
            "  python scripts/generate_sample_data.py\n"
            "  python scripts/generate_sample_data.py --anchor 2026-11-20T18:00:00Z --force\n"
            "  python scripts/generate_sample_data.py --out /tmp/sample --leads 300 --seed 1"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)"
    )
    parser.add_argument(
        "--leads", type=int, default=DEFAULT_LEADS, help="number of leads (default: %(default)s)"
    )
    parser.add_argument(
        "--anchor",
        type=sample_io.parse_anchor,
        default=None,
        help="the data set's 'now', ISO-8601, e.g. 2026-11-20T18:00:00Z (default: current UTC hour)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="regenerate even if OUT/manifest.json already matches seed and leads (and anchor, if given)",
    )
    return parser


def _up_to_date(manifest_path: Path, seed: int, n_leads: int, anchor: datetime | None) -> bool:
    try:
        existing = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if existing.get("seed") != seed or existing.get("n_leads") != n_leads:
        return False
    return anchor is None or existing.get("anchor") == _iso_z(anchor)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        The process exit status (0 on success).
    """
    args = _build_parser().parse_args(argv)
    manifest_path = args.out / "manifest.json"
    if not args.force and _up_to_date(manifest_path, args.seed, args.leads, args.anchor):
        print(
            f"Sample data already exists at {args.out} (seed={args.seed}, leads={args.leads}); use --force to regenerate."
        )
        return 0
    started = time.perf_counter()
    manifest = generate(args.out, seed=args.seed, n_leads=args.leads, anchor=args.anchor)
    counts = manifest["counts"]
    paths = ", ".join(str(args.out / path) for path in manifest["files"].values())
    print(
        f"Generated {counts['leads']} leads and {counts['messages']} messages "
        f"(seed={manifest['seed']}, anchor={manifest['anchor']}) in {time.perf_counter() - started:.1f}s: "
        f"{paths}, {manifest_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
