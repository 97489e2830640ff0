"""Detectors, placeholders, restoration, the recipe section and DLP request building."""

from __future__ import annotations

import pytest

from common.privacy.config import PrivacySection, build_masker
from common.privacy.dlp import DlpDetector
from common.privacy.masker import Masker

ALL = PrivacySection().kinds()


def _mask(text: str, name: str | None = None, **fields: str) -> str:
    masker = Masker(ALL, name_columns=["name"])
    out, _ = masker.mask_records([({"name": name, **fields} if name else fields, text)])
    return out[0][1]


@pytest.mark.parametrize(
    "text",
    [
        "Quiero $15,000 a 24 meses desde 2026-11-20",
        "[2026-11-20 14:03] user: pago 1,250.50 el 20/11/2026 folio 12345",
        "tarjeta 4111 1111 1111 1112",  # fails Luhn: not a card
        "DNI 12345678A",  # wrong check letter
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert _mask(text) == text


def test_each_kind_gets_a_stable_placeholder_and_restores() -> None:
    masker = Masker(ALL, name_columns=["name"])
    text = (
        "soy maria lopez, cel 55 1234 5678 o 5512345678, maria@x.mx, 4111-1111-1111-1111, "
        "CURP GODE561231HDFRRN00, SSN 123-45-6789, NIE X1234567L"
    )
    ((fields, masked),) = masker.mask_records([({"name": "María López"}, text)])[0][:1]
    assert fields["name"] == "<NAME>"
    assert masked == (
        "soy <NAME>, cel <PHONE_1> o <PHONE_1>, <EMAIL_1>, <CARD_1>, "
        "CURP <CURP_1>, SSN <SSN_1>, NIE <NATIONAL_ID_1>"
    )


def test_restore_puts_originals_back() -> None:
    masker = Masker(ALL, name_columns=["name"])
    _, (masking,) = masker.mask_records([({"name": "Ana Ruiz"}, "mi correo ana@x.mx")])
    answer = {"msg": "Hola <NAME> (<FIRST_NAME>), ¿<EMAIL_1>?", "n": 3, "l": ["<LAST_NAME>"]}
    assert masking.restore(answer) == {
        "msg": "Hola Ana Ruiz (Ana), ¿ana@x.mx?",
        "n": 3,
        "l": ["Ruiz"],
    }


def test_defaults_by_provider_and_keep() -> None:
    assert build_masker(None, "openai") is not None
    assert build_masker(None, "gemini") is not None
    assert build_masker(None, "local") is None
    assert build_masker(PrivacySection(enabled=True), "local") is not None
    masker = build_masker(PrivacySection(keep=["phone"]), "openai")
    assert masker is not None and "phone" not in masker.kinds


def test_dlp_request_building_and_findings_without_network() -> None:
    detector = DlpDetector(project="p1")
    request = detector.build_request(["a 55 1234 5678", "b"], frozenset({"phone", "email", "rfc"}))
    assert request["parent"] == "projects/p1/locations/global"
    assert [t["name"] for t in request["inspect_config"]["info_types"]] == [
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
    ]
    assert request["item"]["table"]["rows"][1] == {"values": [{"string_value": "b"}]}
    response = {
        "result": {
            "findings": [
                {
                    "info_type": {"name": "PHONE_NUMBER"},
                    "location": {
                        "codepoint_range": {"start": "2", "end": "14"},
                        "content_locations": [
                            {"record_location": {"table_location": {"row_index": "0"}}}
                        ],
                    },
                }
            ]
        }
    }
    spans = DlpDetector.spans_from_response(response, 2)
    assert [(s.start, s.end, s.kind) for s in spans[0]] == [(2, 14, "phone")] and spans[1] == []
