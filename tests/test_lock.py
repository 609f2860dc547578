"""deploy/requirements.lock: hash-pinned, covering every dependency pyproject.toml declares
(runtime, redis and speed extras) at versions its ranges admit; the image installs from it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "deploy" / "requirements.lock"
EXTRAS = ("redis", "speed")  # what the image installs besides the runtime dependencies
# The image's interpreter (python:3.12-slim on Linux): markers are judged for it.
IMAGE_ENV: dict[str, str] = {
    **{key: str(value) for key, value in default_environment().items()},
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
}
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def locked() -> dict[str, tuple[Version, list[str]]]:
    """name → (pinned version, its sha256 hashes), from the lock's pins and hash lines."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    current = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), [])
        elif current and (digest := _HASH.search(line)):
            pins[current][1].append(digest.group(1))
    return pins


def declared() -> list[Requirement]:
    """pyproject's runtime dependencies and those of the extras the image installs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = list(project["dependencies"])
    for extra in EXTRAS:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(IMAGE_ENV)


def test_lock_pins_every_declared_dependency_within_its_range() -> None:
    """Each dependency the image needs is pinned once, at a version pyproject admits."""
    pins = locked()
    for requirement in filter(applies, declared()):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, str(version))


def test_lock_has_a_hash_for_every_pin() -> None:
    """pip --require-hashes refuses a lock with any pin lacking a hash."""
    pins = locked()
    assert len(pins) >= len(declared())
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no hash"


def test_lock_is_closed_under_dependencies() -> None:
    """What a locked package needs (as installed here, where the versions agree) is locked too."""
    pins = locked()
    checked = 0
    for name, (version, _) in pins.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(dist.version) != version:
            continue  # another version here: its metadata says nothing about the locked one
        checked += 1
        for text in dist.requires or []:
            requirement = Requirement(text)
            if applies(requirement):  # a dependency of an extra carries an `extra ==` marker
                assert canonicalize_name(requirement.name) in pins, (name, text)
    if not checked:  # newer releases everywhere here: nothing to compare (regenerate the lock)
        pytest.skip("no locked version is installed in this environment")


@pytest.mark.parametrize(
    ("version", "admitted"), [("3.14.0", False), ("3.14.4", False), ("3.14.5", True)]
)
def test_aiohttp_floor_excludes_releases_with_known_advisories(
    version: str, admitted: bool
) -> None:
    """aiohttp 3.14.0 has the C parser's max_line_size bypass (GHSA-63hw-fmq6-xxg2); later
    3.14 patches fix more: the floor is the newest patch release."""
    [aiohttp] = [r for r in declared() if r.name == "aiohttp"]
    assert aiohttp.specifier.contains(version) is admitted


def test_dockerfile_installs_the_lock_with_hashes_then_the_package_alone() -> None:
    """The image's dependencies come only from the lock, hash-checked; the package adds none."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8"))
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert len(installs) == 1
    steps = installs[0].split("&&")
    lock_step = next(step for step in steps if "requirements.lock" in step)
    assert "--require-hashes" in lock_step
    package_step = next(step for step in steps if step.strip().endswith(" ."))
    assert "--no-deps" in package_step
