"""Reproducible builds: the committed lock (requirements/*.txt) covers pyproject.toml, every pin
carries its hashes, dev tools stay out of the runtime lock, no dependency is declared unused, and
the image's base is taken by digest. `make lock-check` (in .ci/run) also recompiles the lock
against PyPI and fails when pyproject.toml asks for other pins."""

from __future__ import annotations

import ast
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {name: ROOT / "requirements" / f"{name}.txt" for name in ("build", "runtime", "dev")}
# The heavy tools only `make test` needs: never in the image or `make run`.
DEV_ONLY = {
    "pytest", "ruff", "mypy", "playwright", "helm-python-sdk", "kubernetes-validate", "uv",
    "openapi-python-client", "aiosmtpd", "pytest-xdist",
}  # fmt: skip
# Loaded by name from a URL (SQLAlchemy dialects), never imported by our code.
LOADED_BY_URL = {"asyncpg", "aiosqlite"}


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: Marker | None
    hashes: int


def pins_of(lock: Path) -> dict[str, list[Pin]]:
    """``name==version ; marker \\`` then ``--hash=sha256:…`` lines, as pip reads them."""
    pins: dict[str, list[Pin]] = defaultdict(list)
    text = lock.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        requirement, _, options = line.partition(" --hash")
        spec, _, marker = requirement.partition(";")
        name, _, version = spec.strip().partition("==")
        pins[canonicalize_name(name)].append(
            Pin(
                Version(version),
                Marker(marker.strip()) if marker.strip() else None,
                len(re.findall(r"--hash=sha256:[0-9a-f]{64}", " --hash" + options)),
            )
        )
    return dict(pins)


def requirements(key: str) -> list[Requirement]:
    if key == "runtime":
        declared = PYPROJECT["project"]["dependencies"]
    elif key == "dev":
        declared = PYPROJECT["project"]["optional-dependencies"]["dev"]
    else:
        declared = PYPROJECT["build-system"]["requires"]
    return [Requirement(item) for item in declared]


@pytest.mark.parametrize("lock", list(LOCKS))
def test_every_pin_carries_its_hashes(lock: str) -> None:
    pins = pins_of(LOCKS[lock])
    assert pins
    assert all(pin.hashes >= 1 for versions in pins.values() for pin in versions), lock


@pytest.mark.parametrize(
    ("declared", "lock"),
    [("runtime", "runtime"), ("runtime", "dev"), ("dev", "dev"), ("build", "build")],
)
def test_every_declared_requirement_is_pinned_within_its_range(declared: str, lock: str) -> None:
    pins = pins_of(LOCKS[lock])
    for requirement in requirements(declared):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {LOCKS[lock].name}: run `make lock`"
        for pin in pins[name]:
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{LOCKS[lock].name} pins {name}=={pin.version}, outside {requirement}: "
                "run `make lock`"
            )


def test_the_runtime_lock_has_the_dev_locks_versions_and_no_dev_tool() -> None:
    runtime, dev = pins_of(LOCKS["runtime"]), pins_of(LOCKS["dev"])
    for name, versions in runtime.items():
        assert name in dev, name
        assert {p.version for p in versions} == {p.version for p in dev[name]}, name
    assert not DEV_ONLY & set(runtime)
    assert set(dev) >= DEV_ONLY


def test_every_runtime_dependency_is_imported_by_the_service() -> None:
    """A dependency nobody imports is not installed (it was: stripe)."""
    imported: set[str] = set()
    for folder in ("backend", "workers", "migrations"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported.add(node.module.split(".")[0])
    owners = packages_distributions()  # module -> distributions: one scan of site-packages
    distributions = {canonicalize_name(d) for module in imported for d in owners.get(module, [])}
    unused = (
        {canonicalize_name(r.name) for r in requirements("runtime")} - distributions - LOADED_BY_URL
    )
    assert not unused, f"declared but never imported: {sorted(unused)}"


def test_make_and_the_image_install_from_the_lock_with_hashes_checked() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "PIP_LOCKED := $(BIN)/python -m pip install --quiet --require-hashes" in makefile
    for lock in LOCKS:
        assert f"$(PIP_LOCKED) -r requirements/{lock}.txt" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/runtime.txt" in dockerfile
    assert "requirements/dev.txt" not in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    assert "lock-check" in (ROOT / ".ci" / "run").read_text()


def test_every_base_image_is_taken_by_digest() -> None:
    """A FROM names its image by digest (`@sha256:…`, or `@${ARG}` of a build argument whose
    default, when it has one, is a digest); a later FROM may name an earlier stage."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    arguments = dict(re.findall(r"^ARG (\w+)(?:=(\S*))?$", dockerfile, re.M))
    stages: set[str] = set()
    froms = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", dockerfile, re.M)
    assert froms
    for image, stage in froms:
        if image not in stages:
            _, at, digest = image.partition("@")
            assert at, f"FROM {image} names no digest"
            argument = re.fullmatch(r"\$\{(\w+)\}", digest)
            if argument:
                assert argument.group(1) in arguments, f"{digest} is not a build argument"
                default = arguments[argument.group(1)]
                assert not default or re.fullmatch(r"sha256:[0-9a-f]{64}", default), default
            else:
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image
        if stage:
            stages.add(stage)
    # The lock is resolved for the image's Python.
    assert arguments["PYTHON_IMAGE"].startswith("python:3.11")
    assert "--python-version 3.11" in (ROOT / "requirements" / "lock.sh").read_text()
