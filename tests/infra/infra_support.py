"""Read ``infra/`` for the tests: parse the HCL, and evaluate the provider-free modules.

``terraform validate`` and ``plan`` need the google provider, which cannot be
downloaded here; the configuration is therefore parsed with python-hcl2 and
compared with the code. The two modules that hold data (``modules/chain``: the
topics, functions and secrets; ``modules/recipes``: the schedules read from the
recipes' meta.yml) use no provider, so the real terraform binary evaluates
them offline: the tests compare the values Terraform computes, not a copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

TERRAFORM_HINT = (
    "terraform is not on PATH: install Terraform >= 1.5 (https://developer.hashicorp.com/"
    "terraform/install, or copy the binary from the hashicorp/terraform image as "
    "cloudbuild.yaml does); the infra tests evaluate infra/modules with it, offline."
)


def parse_hcl(path: Path) -> dict[str, Any]:
    """One ``.tf`` file as python-hcl2 serialises it (strings unquoted, blocks as lists)."""
    import hcl2
    from hcl2 import SerializationOptions

    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=options)


@dataclass
class Config:
    """The root module: every block of every ``infra/*.tf`` file, indexed."""

    files: dict[str, dict[str, Any]]
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    text: str = ""

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        """The body of ``resource "kind" "name"``; fails the test if absent."""
        key = (kind, name)
        assert key in self.resources, f'infra/ has no resource "{kind}" "{name}"'
        return self.resources[key]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every resource of one type, by name."""
        return {name: body for (k, name), body in self.resources.items() if k == kind}


def load_config(root: Path = INFRA) -> Config:
    """Parse every ``*.tf`` of the root module."""
    files = {p.name: parse_hcl(p) for p in sorted(root.glob("*.tf"))}
    config = Config(files=files, text="\n".join(p.read_text() for p in sorted(root.glob("*.tf"))))
    for parsed in files.values():
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    config.resources[(kind, name)] = body
        for block in parsed.get("data", []):
            for kind, named in block.items():
                for name, body in named.items():
                    config.data[(kind, name)] = body
        for block in parsed.get("variable", []):
            config.variables.update(block)
        for block in parsed.get("output", []):
            config.outputs.update(block)
        for block in parsed.get("module", []):
            config.modules.update(block)
        for block in parsed.get("locals", []):
            config.locals.update(block)
    return config


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The nested blocks ``name`` of a body (python-hcl2 gives a list per block type)."""
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


def terraform_binary() -> str | None:
    """The terraform on PATH, if any."""
    return shutil.which("terraform")


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # A private, empty CLI configuration: no plugin cache, no credentials, no prompts.
    rc = workdir / "terraformrc"
    rc.write_text("")
    env.update(
        {
            "TF_CLI_CONFIG_FILE": str(rc),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(workdir / ".terraform"),
        }
    )
    return env


def evaluate_module(
    module: Path, inputs: dict[str, Any], workdir: Path, terraform: str
) -> dict[str, Any]:
    """Apply a provider-free module in ``workdir`` (local state) and return its outputs.

    Raises:
        AssertionError: terraform failed; the message holds its output.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f'module "m" {{\n  source = {json.dumps(str(module))}']
    for name, value in inputs.items():
        lines.append(f"  {name} = jsondecode({json.dumps(json.dumps(value))})")
    lines.append("}\n")
    lines.append('output "all" {\n  value = module.m\n}\n')
    (workdir / "main.tf").write_text("\n".join(lines))
    env = _env(workdir)
    for args in (["init", "-no-color", "-input=false"], ["apply", "-no-color", "-auto-approve"]):
        done = subprocess.run(
            [terraform, *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"terraform {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    done = subprocess.run(
        [terraform, "output", "-json", "all"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def fmt_check(terraform: str, path: Path = INFRA) -> subprocess.CompletedProcess[str]:
    """``terraform fmt -check -recursive`` on ``path``."""
    return subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=_env(Path(tempfile.mkdtemp(prefix="lr-tf-fmt-"))),
    )


def resource_comments(text: str) -> Iterator[tuple[str, str, bool]]:
    """(type, name, has a comment right above) for every resource block in ``text``."""
    lines = text.splitlines()
    pattern = re.compile(r'^resource\s+"([^"]+)"\s+"([^"]+)"')
    for index, line in enumerate(lines):
        match = pattern.match(line)
        if match:
            above = lines[index - 1].strip() if index else ""
            yield match.group(1), match.group(2), above.startswith("#")


# ---- the google provider's schema ------------------------------------------------------

SCHEMA_FILE = REPO / "tests" / "infra" / "data" / "google_provider_schema.json"
REGENERATE_HINT = "regenerate it: .venv/bin/python scripts/extract_provider_schema.py"
# Meta-arguments Terraform itself handles, on every resource / data block.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner"}


def load_provider_schema(path: Path = SCHEMA_FILE) -> dict[str, Any]:
    """The committed extract of the pinned google provider's schema."""
    return json.loads(path.read_text())


def parse_hcl_blocks(path: Path) -> dict[str, Any]:
    """One ``.tf`` file with nested blocks marked ``__is_block__`` (attributes are not)."""
    import hcl2
    from hcl2 import SerializationOptions

    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=True)
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=options)


def _check_body(
    body: dict[str, Any], schema: dict[str, Any], where: str, top: bool
) -> Iterator[str]:
    allowed_args = set(schema["arguments"])
    allowed_blocks = schema["blocks"]
    for key, value in body.items():
        if key.startswith("__"):
            continue
        if top and key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for dynamic in value:
                for name, spec in dynamic.items():
                    if name not in allowed_blocks:
                        yield f"{where}: dynamic block `{name}` is not a block here; " + _valid(
                            schema
                        )
                        continue
                    for content in spec.get("content", []):
                        yield from _check_body(
                            content, allowed_blocks[name], f"{where}.{name}", False
                        )
            continue
        is_block = isinstance(value, list) and any(
            isinstance(v, dict) and v.get("__is_block__") for v in value
        )
        if is_block:
            if key not in allowed_blocks:
                kind = "an argument, not a block" if key in allowed_args else "no such block"
                yield f"{where}: block `{key}`: {kind}; " + _valid(schema)
                continue
            for nested in value:
                yield from _check_body(nested, allowed_blocks[key], f"{where}.{key}", False)
        elif key not in allowed_args:
            kind = "a block, not an argument" if key in allowed_blocks else "no such argument"
            yield f"{where}: `{key}`: {kind}; " + _valid(schema)


def _valid(schema: dict[str, Any]) -> str:
    return (
        f"arguments: {', '.join(schema['arguments']) or '-'}; "
        f"blocks: {', '.join(schema['blocks']) or '-'}"
    )


def schema_violations(root: Path, schema: dict[str, Any]) -> list[str]:
    """Every argument or block of a google resource/data block under ``root`` the schema lacks.

    Each message names the file, block and path, and lists what is valid there.
    """
    problems: list[str] = []
    sections = {"resource": ("resources", "resource_types"), "data": ("data", "data_types")}
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        parsed = parse_hcl_blocks(path)
        for section, (_, names) in sections.items():
            for block in parsed.get(section, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        where = f"{path.relative_to(root)}: {section} {kind}.{name}"
                        if not kind.startswith("google_"):
                            continue
                        if section == "resource" and body.get("provider") in (
                            "google-beta",
                            "${google-beta}",
                        ):
                            provider = schema["beta"]
                            extracted = "resources"
                        else:
                            provider = schema
                            extracted = sections[section][0]
                        if kind not in provider[names]:
                            problems.append(
                                f"{where}: {provider['source']} (google {provider['version']}) "
                                f"has no {section} type `{kind}`"
                            )
                        elif kind not in provider[extracted]:
                            problems.append(
                                f"{where}: `{kind}` is not in {SCHEMA_FILE.name}; {REGENERATE_HINT}"
                            )
                        else:
                            problems.extend(
                                _check_body(body, provider[extracted][kind], where, True)
                            )
    return problems
