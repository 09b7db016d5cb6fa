"""The versions a benchmark row depends on, pinned in scripts/bench_versions.json.

A ratio means something only beside the versions it was measured with: Starlette 0.x and 1.x
put the same server at 1.3x and 0.9x of uvicorn. So every server of scripts/bench names the
packages its figures depend on (the peers' in `.bench/peers`, the apps mounted in hwebserver
from the project's `.venv`, nginx and wrk from the system), the table prints them, and a
workload whose installed versions differ from the recorded ones is not run: it fails, loudly,
until `scripts/bench --record-versions` accepts what is installed (and the new ratios become
the ones to compare with). scripts/bench installs the peers at the recorded versions.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Another record (HWEBSERVER_BENCH_VERSIONS): for the tests of the gate, never the real one.
RECORD = Path(os.environ.get("HWEBSERVER_BENCH_VERSIONS", ROOT / "scripts" / "bench_versions.json"))
# Where a package comes from: the peers' venv, the project's venv (hwebserver and the apps it
# mounts), or the system (a program on PATH).
PEERS = "peers"
PROJECT = "project"
SYSTEM = "system"
PYTHONS = {
    PEERS: ROOT / ".bench" / "peers" / "bin" / "python",
    PROJECT: ROOT / ".venv" / "bin" / "python",
}


@dataclass(frozen=True)
class Package:
    place: str  # PEERS, PROJECT or SYSTEM
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.place})"


def peers(*names: str) -> tuple[Package, ...]:
    return tuple(Package(PEERS, name) for name in names)


def project(*names: str) -> tuple[Package, ...]:
    return tuple(Package(PROJECT, name) for name in names)


def system(*names: str) -> tuple[Package, ...]:
    return tuple(Package(SYSTEM, name) for name in names)


# The packages an app module of scripts/bench_apps brings with it.
APP_PACKAGES = {
    "peer_asgi": (),
    "peer_starlette": ("starlette", "anyio"),
    "peer_fastapi": ("fastapi", "starlette", "pydantic", "anyio"),
    "peer_flask": ("flask", "werkzeug"),
    "fanout_starlette": ("starlette", "anyio"),
    "stream_starlette": ("starlette", "anyio"),
    "stream_asgi": (),
}


def python_versions(place: str, names: list[str]) -> dict[str, str]:
    """Installed versions in one venv ("missing" for a package it lacks)."""
    python = PYTHONS[place]
    if not python.exists():
        return {name: "missing" for name in names}
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return 'missing'\n"
        "print(json.dumps({n: v(n) for n in sys.argv[1:]}))"
    )
    out = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True)
    found: dict[str, str] = json.loads(out.stdout)
    return found


def program_version(name: str) -> str:
    """nginx -v and wrk -v print their version on stderr or stdout, with other words."""
    try:
        out = subprocess.run([name, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    # "nginx version: nginx/1.22.1", "wrk debian/4.1.0-3+b2 [epoll]", "wrk 4.2.0 [epoll]"
    match = re.search(r"(\d+\.\d+[\w.+~-]*)", out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


def installed(packages: set[Package]) -> dict[Package, str]:
    found: dict[Package, str] = {}
    for place in (PEERS, PROJECT):
        names = sorted(p.name for p in packages if p.place == place)
        if names:
            for name, version in python_versions(place, names).items():
                found[Package(place, name)] = version
    for package in packages:
        if package.place == SYSTEM:
            found[package] = program_version(package.name)
    return found


def recorded() -> dict[Package, str]:
    try:
        data = json.loads(RECORD.read_text())
    except FileNotFoundError:
        return {}
    return {
        Package(place, name): version
        for place, versions in data.items()
        if place in (PEERS, PROJECT, SYSTEM)
        for name, version in versions.items()
    }


def record(versions: dict[Package, str]) -> None:
    """Merge these versions into the record (packages of workloads not run keep theirs)."""
    merged = {**recorded(), **versions}
    data: dict[str, dict[str, str]] = {}
    for package in sorted(merged, key=lambda p: (p.place, p.name)):
        data.setdefault(package.place, {})[package.name] = merged[package]
    RECORD.write_text(json.dumps(data, indent=2) + "\n")


def mismatches(packages: set[Package], found: dict[Package, str]) -> list[str]:
    """What differs from the record, one line each (a package never recorded differs too)."""
    pinned = recorded()
    lines = []
    for package in sorted(packages, key=str):
        want, have = pinned.get(package, "not recorded"), found.get(package, "missing")
        if want != have:
            lines.append(f"{package}: recorded {want}, installed {have}")
    return lines


def pip_requirements(names: list[str]) -> list[str]:
    """What scripts/bench installs into the peers' venv: `name==version` for a recorded
    package, the bare name for one never recorded."""
    pinned = {p.name: v for p, v in recorded().items() if p.place == PEERS}
    return [f"{name}=={pinned[name]}" if name in pinned else name for name in names]


if __name__ == "__main__":
    # scripts/bench: the peers to install (the `bench` extra's names, as arguments).
    print(" ".join(pip_requirements(sys.argv[1:])))
