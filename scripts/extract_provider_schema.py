"""Extract the google provider's schema, for the types infra/ uses, from ``@cdktf/provider-google``.

``terraform init`` cannot download the provider here, so ``validate`` cannot run.
The npm package ``@cdktf/provider-google`` carries the provider's schema as
generated bindings: each ``lib/<type>/index.js`` has ``tfResourceType`` and
``...ToHclTerraform`` functions listing every argument with ``isBlock``. This
script reads them and writes ``tests/infra/data/google_provider_schema.json``:
the provider version, every resource and data source type name, and, for each
type ``infra/`` declares, its arguments and nested blocks (recursively).

Regenerate after changing the provider pin in ``infra/versions.tf`` or adding a
resource type::

    .venv/bin/python scripts/extract_provider_schema.py            # npm pack the matching release
    .venv/bin/python scripts/extract_provider_schema.py --package /tmp/package   # an unpacked one

The matching release is found with ``npm view`` (each release's ``package.json``
names its provider version in ``cdktf.provider.version``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
OUT = REPO / "tests" / "infra" / "data" / "google_provider_schema.json"
NPM_PACKAGE = "@cdktf/provider-google"
# Resources with `provider = google-beta` (e.g. google_project_service_identity).
NPM_BETA_PACKAGE = "@cdktf/provider-google-beta"

_TYPE = re.compile(r'\.tfResourceType = "([a-z0-9_]+)";')
_FUNC = re.compile(r"^function (\w+ToHclTerraform)\(struct\) \{$", re.M)
_CLASS_ATTRS = re.compile(r"^    synthesizeHclAttributes\(\) \{$", re.M)
_ENTRY = re.compile(r"^\s{8,12}(\w+): \{\n\s+value: (.*?),\n\s+isBlock: (true|false),", re.M | re.S)
_NESTED = re.compile(r"(?<!cdktf\.)\b([a-z]\w*ToHclTerraform)\b")


def pinned_version() -> str:
    """The google provider version ``infra/versions.tf`` pins."""
    text = (INFRA / "versions.tf").read_text()
    match = re.search(
        r'source\s*=\s*"hashicorp/google"\s*\n\s*(?:#.*\n\s*)*version\s*=\s*"([^"]+)"', text
    )
    if not match:
        sys.exit("infra/versions.tf: no exact version for hashicorp/google")
    return match.group(1)


def used_types() -> dict[str, set[str]]:
    """Resource and data source types declared anywhere under ``infra/``."""
    found: dict[str, set[str]] = {"resource": set(), "data": set()}
    for path in INFRA.rglob("*.tf"):
        for kind, name in re.findall(r'^(resource|data)\s+"([a-z0-9_]+)"', path.read_text(), re.M):
            if name.startswith("google_"):
                found[kind].add(name)
    return found


def _body(text: str, start: int, end: str = "\n}\n") -> str:
    """The text of a function (or, with ``end="\\n    }\\n"``, a method) from ``start``."""
    return text[start : text.find(end, start)]


def _fields(
    text: str, body: str, functions: dict[str, int], seen: tuple[str, ...]
) -> dict[str, Any]:
    arguments: list[str] = []
    blocks: dict[str, Any] = {}
    for name, value, is_block in _ENTRY.findall(body):
        nested = _NESTED.search(value)
        if is_block == "true":
            if nested and nested.group(1) in functions and nested.group(1) not in seen:
                fn = nested.group(1)
                blocks[name] = _fields(text, _body(text, functions[fn]), functions, (*seen, fn))
            else:
                blocks[name] = {"arguments": [], "blocks": {}}
        else:
            arguments.append(name)
    return {"arguments": sorted(arguments), "blocks": dict(sorted(blocks.items()))}


def type_schema(index_js: Path) -> dict[str, Any]:
    """Arguments and nested blocks of the one type that ``index_js`` binds."""
    text = index_js.read_text()
    functions = {m.group(1): m.end() for m in _FUNC.finditer(text)}
    method = _CLASS_ATTRS.search(text)
    if method is None:
        raise SystemExit(f"{index_js}: no synthesizeHclAttributes")
    return _fields(text, _body(text, method.end(), "\n    }\n"), functions, ())


def find_release(version: str, package: str = NPM_PACKAGE) -> str:
    """The release of ``package`` built from google provider ``version``."""
    listed = subprocess.run(
        ["npm", "view", package, "versions", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    for release in reversed(json.loads(listed.stdout)):
        done = subprocess.run(
            ["npm", "view", f"{package}@{release}", "cdktf.provider.version"],
            capture_output=True,
            text=True,
            check=True,
        )
        provider = done.stdout.strip()
        if provider == version:
            return release
        if provider and tuple(map(int, provider.split("."))) < tuple(map(int, version.split("."))):
            break
    raise SystemExit(f"no {package} release carries google provider {version}")


def unpack(release: str, workdir: Path, package: str = NPM_PACKAGE) -> Path:
    """``npm pack`` one release into ``workdir``; returns the unpacked package folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "pack", f"{package}@{release}", "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    archive = next(workdir.glob("*.tgz"))
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def extract(package: Path, beta: Path | None = None) -> dict[str, Any]:
    """The committed schema file's content from an unpacked package (and its beta twin)."""
    meta = json.loads((package / "package.json").read_text())
    provider_version = meta["cdktf"]["provider"]["version"]
    names: dict[str, dict[str, Path]] = {"resource": {}, "data": {}}
    for index in sorted((package / "lib").glob("*/index.js")):
        match = _TYPE.search(index.read_text())
        if match:
            kind = "data" if index.parent.name.startswith("data-") else "resource"
            names[kind][match.group(1)] = index
    used = used_types()
    schema: dict[str, Any] = {
        "provider": "registry.terraform.io/hashicorp/google",
        "version": provider_version,
        "source": f"npm {NPM_PACKAGE}@{meta['version']}",
        "regenerate": "python scripts/extract_provider_schema.py",
        "resource_types": sorted(names["resource"]),
        "data_types": sorted(names["data"]),
        "resources": {},
        "data": {},
    }
    for kind, out in (("resource", "resources"), ("data", "data")):
        for name in sorted(used[kind]):
            if name in names[kind]:
                schema[out][name] = type_schema(names[kind][name])
    if beta is not None:
        beta_schema = extract(beta)
        schema["beta"] = {
            k: beta_schema[k] for k in ("version", "source", "resource_types", "resources")
        }
    return schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="an unpacked @cdktf/provider-google")
    parser.add_argument("--beta-package", type=Path, help="an unpacked @cdktf/provider-google-beta")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    version = pinned_version()
    with tempfile.TemporaryDirectory(prefix="lr-cdktf-") as tmp:
        package = args.package or unpack(find_release(version), Path(tmp) / "ga")
        beta = args.beta_package or unpack(
            find_release(version, NPM_BETA_PACKAGE), Path(tmp) / "beta", NPM_BETA_PACKAGE
        )
        schema = extract(package, beta)
    if (
        version not in (schema["version"], schema["beta"]["version"])
        or len({schema["version"], schema["beta"]["version"]}) != 1
    ):
        sys.exit(f"{package} carries google provider {schema['version']}; infra/ pins {version}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
    print(
        f"{args.out.relative_to(REPO)}: google {version}, {len(schema['resources'])} resource "
        f"and {len(schema['data'])} data source types"
    )


if __name__ == "__main__":
    main()
