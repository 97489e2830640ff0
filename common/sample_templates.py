"""Canonical texts of the synthetic sample data set (data only, no logic).

``scripts/generate_sample_data.py`` builds its conversations from these constants,
and recipes / processors can refer to the very same strings, so that template,
profiling and handoff detection is configured once and tested against the data.

Conventions:

* Every per-language mapping is keyed by ``"es"`` and ``"en"``.
* Template texts carry ``str.format`` placeholders (see ``TEMPLATE_PLACEHOLDERS``).
  A variant that mentions ``{amount}`` is only used for leads with a pre-approved amount.
* ``TEMPLATE_PATTERNS`` are written in the common subset of Python ``re`` and the Rust
  ``regex`` crate (Polars / DuckDB): no look-around, no back-references; ``(?i)`` inline.
  Each one matches every filled-in variant of its template, in both languages, and no
  other text the generator writes.
* Bot phrases (profiling questions, handoff invitations / confirmations, transfers) are
  sent verbatim, so exact or substring matching works; user phrases (accept / decline)
  appear with casual variations (case, accents, emoji).
"""

from __future__ import annotations

BRAND = "Finvera"
"""Fictional lender that sends the messages."""

BOT_NAME = "Vale"
"""Name the virtual assistant introduces itself with."""

LANGUAGES: tuple[str, ...] = ("es", "en")

PRODUCTS: tuple[str, ...] = ("personal_loan", "top_up", "credit_card")

PRODUCT_LABELS: dict[str, dict[str, str]] = {
    "es": {
        "personal_loan": "préstamo personal",
        "top_up": "préstamo adicional",
        "credit_card": "tarjeta de crédito",
    },
    "en": {
        "personal_loan": "personal loan",
        "top_up": "top-up loan",
        "credit_card": "credit card",
    },
}
"""How each product is named inside message texts (the ``{product}`` placeholder)."""

TEMPLATE_PLACEHOLDERS: dict[str, str] = {
    "name": "Lead's first name, title case (e.g. 'María').",
    "amount": "Pre-approved amount with currency (e.g. '$45,000 MXN', '12.000 €').",
    "product": "Product label in the message language (see PRODUCT_LABELS).",
    "deadline": "Offer expiry date (e.g. '28/11' in Spanish, 'Nov 28' in English).",
}

TEMPLATES: dict[str, dict[str, list[str]]] = {
    "preapproved_offer": {
        "es": [
            "¡Hola {name}! 🎉 Tienes una oferta preaprobada de {product} por {amount} con Finvera. Responde SÍ para conocer los detalles.",
            "Hola {name}, buenas noticias: tu oferta de {product} por {amount} ya está preaprobada ✅ ¿Te gustaría continuar?",
            "Hola {name}, tienes una oferta preaprobada de {product} con Finvera 🎉 ¿Quieres conocer los detalles?",
            "{name}, ¡felicidades! Finvera te preaprobó {amount} en {product}. Responde a este mensaje para continuar 💳",
        ],
        "en": [
            "Hi {name}! 🎉 You have a pre-approved {product} offer for {amount} with Finvera. Reply YES to see the details.",
            "Hello {name}, good news: your {product} offer for {amount} is now pre-approved ✅ Would you like to continue?",
            "Hi {name}, you have a pre-approved {product} offer with Finvera 🎉 Want to see the details?",
            "{name}, congrats! Finvera pre-approved you for {amount} in {product}. Reply to this message to continue 💳",
        ],
    },
    "recovery_nudge": {
        "es": [
            "Hola {name}, vimos que no terminaste tu solicitud de {product}. Tu oferta de {amount} sigue disponible 💰 ¿Te ayudo a continuar?",
            "{name}, tu solicitud quedó a medias 😕 Solo te faltan unos pasos para recibir tu {product}. ¿Continuamos?",
            "¡Hola {name}! Tu solicitud de {product} quedó pendiente. Puedes retomarla aquí mismo respondiendo este mensaje 🙌",
        ],
        "en": [
            "Hi {name}, we noticed you didn't finish your {product} application. Your {amount} offer is still available 💰 Can I help you continue?",
            "{name}, your application is halfway done 😕 Just a few steps left to get your {product}. Shall we continue?",
            "Hi {name}! Your {product} application is still pending. You can pick it up right here by replying to this message 🙌",
        ],
    },
    "reminder": {
        "es": [
            "⏰ {name}, recuerda que tu oferta de {amount} vence pronto. Responde a este mensaje para no perderla.",
            "Recordatorio: {name}, tu oferta de {product} sigue esperándote, pero vence en 48 horas ⏳",
            "Hola {name}, solo un recordatorio amistoso: tu oferta sigue activa hasta el {deadline}.",
        ],
        "en": [
            "⏰ {name}, remember your {amount} offer expires soon. Reply to this message so you don't lose it.",
            "Reminder: {name}, your {product} offer is still waiting for you, but it expires in 48 hours ⏳",
            "Hi {name}, just a friendly reminder: your offer is active until {deadline}.",
        ],
    },
}
"""WhatsApp-style outbound templates: template key -> language -> variants."""

TEMPLATE_PATTERNS: dict[str, str] = {
    "preapproved_offer": (
        r"(?i)(tienes una oferta preaprobada|ya está preaprobada|finvera te preaprobó"
        r"|you have a pre-approved|is now pre-approved|finvera pre-approved you)"
    ),
    "recovery_nudge": (
        r"(?i)(no terminaste tu solicitud|tu solicitud quedó a medias|quedó pendiente\. puedes retomarla"
        r"|didn't finish your .{1,40}? application|your application is halfway done"
        r"|application is still pending\. you can pick it up)"
    ),
    "reminder": (
        r"(?i)(recuerda que tu oferta|^recordatorio:|un recordatorio amistoso"
        r"|remember your .{1,40}? offer expires|^reminder:|friendly reminder: your offer)"
    ),
}
"""Template key -> regex matching every filled-in variant of that template (es + en)."""

GREETINGS: dict[str, list[str]] = {
    "es": [
        "¡Hola {name}! 👋 Soy Vale, la asistente virtual de Finvera.",
        "Hola {name}, soy Vale 🤖, tu asistente de Finvera.",
    ],
    "en": [
        "Hi {name}! 👋 I'm Vale, Finvera's virtual assistant.",
        "Hello {name}, I'm Vale 🤖, your Finvera assistant.",
    ],
}
"""First bot reply once a user answers a template."""

CONTINUE_PROMPTS: dict[str, list[str]] = {
    "es": [
        "¿Te gustaría continuar con tu solicitud? Solo toma 2 minutos ⏱️",
        "¿Seguimos con tu solicitud? Es rápido y sin papeleo 📱",
    ],
    "en": [
        "Would you like to continue with your application? It only takes 2 minutes ⏱️",
        "Shall we go on with your application? It's quick and paperless 📱",
    ],
}
"""Bot call-to-action that precedes profiling."""

OFFER_DETAILS: dict[str, list[str]] = {
    "es": [
        "Tu {product} tiene tasa fija, sin aval y el depósito llega en 24 h ✅",
        "Con Finvera no hay comisiones ocultas y puedes pagar antes sin penalización 👌",
    ],
    "en": [
        "Your {product} has a fixed rate, no cosigner, and the money arrives within 24 h ✅",
        "With Finvera there are no hidden fees and you can pay early without penalty 👌",
    ],
}
"""Optional bot bubble describing the offer, sent with the greeting."""

PRIVACY_NOTICE: dict[str, list[str]] = {
    "es": [
        "Antes de empezar: al continuar aceptas nuestro aviso de privacidad (finvera.com/privacidad) 🔒 ¿Aceptas?"
    ],
    "en": [
        "Before we start: by continuing you accept our privacy notice (finvera.com/privacy) 🔒 Do you accept?"
    ],
}
"""Bot asks for consent right before the profiling questions."""

PROFILING_INTRO: dict[str, list[str]] = {
    "es": [
        "Para pre-validar tu oferta necesito hacerte unas preguntas rápidas (menos de 2 minutos) ⏱️",
        "¡Perfecto! Te haré unas preguntas cortas para la pre-validación 📝",
    ],
    "en": [
        "To pre-validate your offer I need to ask you a few quick questions (less than 2 minutes) ⏱️",
        "Perfect! I'll ask you a few short pre-validation questions 📝",
    ],
}
"""Bot message that opens the profiling / pre-validation block."""

PROFILING_TOPICS: tuple[str, ...] = (
    "employment",
    "income",
    "tenure",
    "id_number",
    "postal_code",
    "loan_purpose",
)
"""Order in which the bot asks the profiling questions."""

PROFILING_QUESTIONS_BY_TOPIC: dict[str, dict[str, str]] = {
    "employment": {
        "es": "¿Cuál es tu situación laboral actual? (empleado, independiente o pensionado)",
        "en": "What is your current employment status? (employed, self-employed or retired)",
    },
    "income": {
        "es": "¿Cuál es tu ingreso mensual?",
        "en": "What is your monthly income?",
    },
    "tenure": {
        "es": "¿Cuánto tiempo llevas en tu trabajo actual?",
        "en": "How long have you been at your current job?",
    },
    "id_number": {
        "es": "¿Me compartes tu número de identificación oficial?",
        "es-MX": "¿Me compartes tu RFC con homoclave?",
        "es-CO": "¿Me compartes tu número de cédula?",
        "es-ES": "¿Me compartes tu DNI o NIE?",
        "en": "Could you share your ID number? (last 4 digits of your SSN, or your passport number)",
    },
    "postal_code": {
        "es": "¿Cuál es tu código postal?",
        "en": "What is your ZIP / postal code?",
    },
    "loan_purpose": {
        "es": "¿Para qué usarías el crédito?",
        "en": "What would you use the credit for?",
    },
}
"""Topic -> locale -> question. A ``lang-COUNTRY`` locale overrides ``lang`` for that country."""

PROFILING_QUESTIONS: dict[str, list[str]] = {
    lang: [
        text
        for by_locale in PROFILING_QUESTIONS_BY_TOPIC.values()
        for locale, text in by_locale.items()
        if locale.split("-")[0] == lang
    ]
    for lang in LANGUAGES
}
"""Every profiling question the bot may ask, per language (flattened view of the above)."""

PROFILING_ACKS: dict[str, list[str]] = {
    "es": ["Gracias 🙌", "¡Perfecto!", "Anotado ✅", "Excelente, gracias.", "Muy bien 👍"],
    "en": ["Thanks 🙌", "Perfect!", "Got it ✅", "Great, thank you.", "Awesome 👍"],
}
"""Short bot acknowledgements between profiling questions."""

ID_VALIDATION: dict[str, list[str]] = {
    "es": ["Validando tu información... ⏳", "Tus datos fueron validados correctamente ✅"],
    "en": ["Validating your information... ⏳", "Your details were validated successfully ✅"],
}
"""Two bot bubbles sent (in this order) after the user gives an ID number."""

PREVALIDATION_PASSED: dict[str, list[str]] = {
    "es": [
        "¡Buenas noticias, {name}! 🎉 Tu solicitud pasó la pre-validación.",
        "¡Excelente {name}! Con tu información ya pre-validamos tu oferta ✅",
    ],
    "en": [
        "Great news, {name}! 🎉 Your application passed pre-validation.",
        "Excellent {name}! With your information we pre-validated your offer ✅",
    ],
}
"""Bot message sent right before the handoff invitation."""

HANDOFF_INVITATIONS: dict[str, list[str]] = {
    "es": [
        "¿Te gustaría que un asesor te contacte?",
        "¿Quieres que un asesor te llame para finalizar tu solicitud?",
        "¿Te parece si un asesor se comunica contigo para terminar el trámite?",
    ],
    "en": [
        "Would you like an advisor to call you?",
        "Would you like an advisor to contact you to finish your application?",
        "Shall I have one of our advisors reach out to you?",
    ],
}
"""Bot asks whether the lead wants a human advisor to contact them."""

HANDOFF_ACCEPT: dict[str, list[str]] = {
    "es": [
        "sí, por favor",
        "sí",
        "si porfa",
        "claro",
        "sí, que me llamen",
        "ok sí",
        "va",
        "sí me interesa",
    ],
    "en": ["yes please", "yes", "sure", "ok", "yeah that works", "yes, call me", "sounds good"],
}
"""User accepts the handoff invitation."""

HANDOFF_DECLINE: dict[str, list[str]] = {
    "es": ["no gracias", "no, gracias", "ahorita no", "por ahora no", "no me interesa", "mejor no"],
    "en": ["not now", "no thanks", "no thank you", "not interested", "maybe later"],
}
"""User declines the handoff invitation."""

HANDOFF_CONFIRMATIONS: dict[str, list[str]] = {
    "es": [
        "Listo, un asesor te contactará en las próximas horas 📞",
        "Listo, un asesor te contactará a este número en breve.",
        "¡Perfecto! Listo, un asesor te contactará pronto para finalizar tu solicitud.",
    ],
    "en": [
        "Done, an advisor will contact you shortly 📞",
        "Done, an advisor will contact you within the next few hours.",
        "Perfect! Done, an advisor will contact you soon to finish your application.",
    ],
}
"""Bot confirms the handoff is finalised (an advisor will call)."""

HANDOFF_DECLINE_ACKS: dict[str, list[str]] = {
    "es": [
        "Entendido, {name}. Aquí estaré si cambias de opinión 😊",
        "Sin problema. Tu oferta seguirá disponible unos días más.",
    ],
    "en": [
        "Understood, {name}. I'm here if you change your mind 😊",
        "No problem. Your offer will stay available for a few more days.",
    ],
}
"""Bot acknowledges a declined handoff."""

HUMAN_TRANSFER: dict[str, list[str]] = {
    "es": [
        "Te transfiero con un agente, en un momento te atiende 🙋",
        "Te transfiero con un agente humano para ayudarte mejor.",
        "Un momento, te transfiero con un agente.",
    ],
    "en": [
        "Transferring you to an agent, one moment please 🙋",
        "Transferring you to a human agent who can help you better.",
        "One moment, I'm transferring you to an agent.",
    ],
}
"""Bot hands the chat over to a live agent (messages with sender 'agent' follow)."""

BOT_NUDGES: dict[str, list[str]] = {
    "es": ["¿Sigues ahí? 👀", "{name}, ¿seguimos? Me quedé esperando tu respuesta 🙂"],
    "en": [
        "Are you still there? 👀",
        "{name}, shall we continue? I'm still waiting for your answer 🙂",
    ],
}
"""Bot follow-up when the user goes quiet mid-conversation (not a template)."""

SCENARIOS: tuple[str, ...] = (
    "no_messages",
    "never_replied",
    "stalled_after_template",
    "stalled_in_profiling",
    "handoff_no_answer",
    "handoff_declined",
    "handoff_accepted",
    "transferred_to_human",
    "active",
    "user_only",
)
"""Conversation scenarios of the generator (``ground_truth.scenario``)."""

EXPECTED_STATES: dict[str, str] = {
    "no_messages": "no_conversation",
    "never_replied": "no_user_reply",
    "stalled_after_template": "stalled_after_bot",
    "stalled_in_profiling": "stalled_in_profiling",
    "handoff_no_answer": "handoff_pending",
    "handoff_declined": "handoff_declined",
    "handoff_accepted": "handoff_completed",
    "transferred_to_human": "with_human_agent",
    "active": "active",
    "user_only": "no_bot_messages",
}
"""Scenario -> the state a correct pipeline should infer (``ground_truth.expected_state``)."""
