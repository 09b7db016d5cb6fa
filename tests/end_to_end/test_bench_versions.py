"""scripts/bench refuses to set a ratio beside versions other than the ones it was measured
with (scripts/bench_versions.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import ROOT

BENCH = ROOT / "scripts" / "bench.py"


def run_bench(tmp_path: Path, record: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--json", str(tmp_path / "bench.json"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "HWEBSERVER_BENCH_VERSIONS": str(record),
            "PATH": "/usr/bin:/bin",
            "HWEBSERVER_BENCH_CODE": "pure",  # no server starts: no compiled copy needed
        },
    )


def test_a_version_other_than_the_recorded_one_refuses_the_workload(tmp_path):
    pinned = json.loads((ROOT / "scripts" / "bench_versions.json").read_text())
    pinned["project"]["starlette"] = "0.0.1"  # what the row was "measured" with
    record = tmp_path / "versions.json"
    record.write_text(json.dumps(pinned))
    result = run_bench(tmp_path, record, "--only", "mounted Starlette")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "VERSION MISMATCH, not run: hello (mounted Starlette)" in result.stderr
    assert "starlette (project): recorded 0.0.1, installed" in result.stderr
    written = json.loads((tmp_path / "bench.json").read_text())
    assert written["rows"] == []  # nothing was measured
    assert written["refused_for_versions"]
