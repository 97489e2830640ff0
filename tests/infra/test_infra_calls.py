"""Every call-webhook setting can be set from Terraform and reaches the function.

The list of settings is derived from the settings model (every ``call_*`` field
of ``common.settings.Settings``), so a new call setting without its Terraform
variable fails here. ``infra/calls.tf`` holds only variables, locals and an
output, so the real terraform binary evaluates a copy of it offline: the tests
feed the environment Terraform computes back into ``Settings`` and compare.
"""

from __future__ import annotations

import shutil
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from common.settings import Settings
from tests.infra.infra_support import INFRA, Config, evaluate_module

CALL_FIELDS = sorted(name for name in Settings.model_fields if name.startswith("call_"))


def _is_secret(name: str) -> bool:
    stack: list[Any] = [Settings.model_fields[name].annotation]
    while stack:
        current = stack.pop()
        if current is SecretStr:
            return True
        stack.extend(typing.get_args(current))
    return False


SECRET_FIELDS = [name for name in CALL_FIELDS if _is_secret(name)]
PLAIN_FIELDS = [name for name in CALL_FIELDS if not _is_secret(name)]

# One value per variable, none of them the default: every setting must arrive.
NON_DEFAULT: dict[str, Any] = {
    "call_webhook_auth": "hmac",
    "call_webhook_hmac_algorithm": "sha512",
    "call_webhook_signature_header": "x-vapi-signature",
    "call_webhook_signature_prefix": "sha512=",
    "call_webhook_timestamp_header": "x-vapi-timestamp",
    "call_webhook_signed_payload": "body",
    "call_webhook_signature_encoding": "base64",
    "call_webhook_tolerance_seconds": 120,
    "call_webhook_max_body_bytes": 4096,
    "call_retry_intervals_hours": [0.5, 4, 48],
    "call_max_attempts": 5,
    "call_business_hours_start": 8,
    "call_business_hours_end": 21,
    "call_business_days": ["mon", "tue", "wed", "thu", "fri", "sat"],
    "call_default_timezone": "America/Mexico_City",
}


def _env_name(field: str) -> str:
    return f"LR_{field.upper()}"


def _evaluate_calls(tmp_path: Path, terraform: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``infra/calls.tf`` evaluated by terraform as a module (a copy, nothing else)."""
    module = tmp_path / "calls_module"
    module.mkdir()
    shutil.copy(INFRA / "calls.tf", module / "calls.tf")
    return evaluate_module(module, inputs, tmp_path / "root", terraform)


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_non_default_values_cover_every_call_setting() -> None:
    assert "call_default_timezone" in PLAIN_FIELDS and "call_webhook_auth" in PLAIN_FIELDS
    assert set(NON_DEFAULT) == set(PLAIN_FIELDS)
    defaults = Settings()
    for name, value in NON_DEFAULT.items():
        assert value != getattr(defaults, name), f"{name}: pick a value other than the default"


@pytest.mark.parametrize("name", PLAIN_FIELDS)
def test_call_setting_is_a_described_validated_variable(infra: Config, name: str) -> None:
    assert name in infra.variables, f"no Terraform variable `{name}` for {_env_name(name)}"
    variable = infra.variables[name]
    assert variable.get("description"), f"variable {name} has no description"
    assert variable.get("validation"), f"variable {name} has no validation"
    assert name in (INFRA / "calls.tf").read_text(), f"variable {name} is not in infra/calls.tf"


def test_call_settings_reach_the_call_webhook_function(infra: Config) -> None:
    """calls_env is merged into call_webhook's environment, and only there."""
    locals_tf = (INFRA / "locals.tf").read_text()
    assert "lookup(local.calls_env, f, {})" in locals_tf
    assert set(infra.locals["calls_env"]) == {"call_webhook"}
    service = infra.resource("google_cloudfunctions2_function", "fn")["service_config"][0]
    assert service["environment_variables"] == "${local.function_env[each.key]}"


def test_terraform_defaults_are_the_code_defaults(
    tmp_path: Path, terraform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _evaluate_calls(tmp_path, terraform, {})["call_webhook_settings"]
    assert set(env) <= {_env_name(n) for n in PLAIN_FIELDS}
    deployed, defaults = _settings_from(env, monkeypatch), Settings.model_construct()
    for name in PLAIN_FIELDS:
        assert getattr(deployed, name) == getattr(defaults, name), name


def test_every_call_variable_reaches_the_setting(
    tmp_path: Path, terraform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _evaluate_calls(tmp_path, terraform, NON_DEFAULT)["call_webhook_settings"]
    assert set(env) == {_env_name(n) for n in PLAIN_FIELDS}
    deployed = _settings_from(env, monkeypatch)
    for name, value in NON_DEFAULT.items():
        found = getattr(deployed, name)
        if name == "call_retry_intervals_hours":
            assert found == [float(v) for v in value]
        else:
            assert found == value, f"{name}: Terraform {value!r}, the function reads {found!r}"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"call_webhook_auth": "basic"}, "call_webhook_auth must be"),
        ({"call_business_hours_start": 24}, "call_business_hours_start must be"),
        ({"call_business_hours_end": 25}, "call_business_hours_end must be"),
        (
            {"call_business_hours_start": 19, "call_business_hours_end": 9},
            "call_business_hours_start must be before",
        ),
        ({"call_default_timezone": "Mexico City"}, "call_default_timezone must be"),
        ({"call_business_days": ["monday"]}, "call_business_days must be"),
        ({"call_retry_intervals_hours": [2, 0]}, "call_retry_intervals_hours must be"),
        ({"call_webhook_signed_payload": "json"}, "call_webhook_signed_payload must be"),
    ],
)
def test_terraform_refuses_invalid_call_settings(
    tmp_path: Path, terraform: str, inputs: dict[str, Any], message: str
) -> None:
    with pytest.raises(AssertionError) as failed:
        _evaluate_calls(tmp_path, terraform, inputs)
    assert message in " ".join(str(failed.value).split())


def test_hmac_with_timestamp_is_the_documented_recommendation(infra: Config) -> None:
    description = infra.variables["call_webhook_auth"]["description"]
    assert "recommended" in description and "timestamp.body" in description


@pytest.mark.parametrize("name", SECRET_FIELDS)
def test_call_secrets_come_from_secret_manager(chain_module: dict, name: str) -> None:
    mounted = {
        spec["env"]: spec for spec in chain_module["secrets"].values() if spec["mount"] == "env"
    }
    assert _env_name(name) in mounted, f"{_env_name(name)} is no Secret Manager secret"
    assert "call_webhook" in mounted[_env_name(name)]["functions"]


def test_readme_lists_every_call_setting() -> None:
    readme = (INFRA.parent / "README.md").read_text()
    missing = [_env_name(n) for n in CALL_FIELDS if f"`{_env_name(n)}`" not in readme]
    assert not missing, f"README settings table lacks {missing}"


def _readme_call_rows() -> dict[str, str]:
    """``LR_CALL_*`` name => the default column of the README settings table."""
    rows: dict[str, str] = {}
    for line in (INFRA.parent / "README.md").read_text().splitlines():
        if not line.startswith("| `LR_CALL_"):
            continue
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        names = [n.strip(" `") for n in cells[0].split(",")]
        defaults = [d.strip(" `") for d in cells[1].split(", ")]
        assert len(defaults) in (1, len(names)), line
        for index, name in enumerate(names):
            rows[name] = defaults[index if len(defaults) > 1 else 0]
    return rows


def test_readme_call_defaults_are_the_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _readme_call_rows()
    assert set(rows) == {_env_name(n) for n in CALL_FIELDS}
    defaults = Settings()
    for name in CALL_FIELDS:
        shown = rows[_env_name(name)]
        if shown.startswith("—"):  # none: the default is empty
            assert not getattr(defaults, name), f"README says {_env_name(name)} has no default"
            continue
        monkeypatch.setenv(_env_name(name), shown)
        assert getattr(Settings(), name) == getattr(defaults, name), _env_name(name)
