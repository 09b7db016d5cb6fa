"""Autobahn|Testsuite cases 1-10 (framing, pings, reserved bits, opcodes, fragmentation, UTF-8,
close handling, limits, performance) against the echo service: not one FAILED."""

from __future__ import annotations

import pytest
from autobahn_suite import CI_CASES, NoPython27, failed_cases, find_python27, run_cases


def python27_missing() -> str:
    try:
        find_python27()
    except NoPython27 as exc:
        return str(exc)
    return ""


MISSING = python27_missing()


@pytest.mark.skipif(bool(MISSING), reason=MISSING or "Python 2.7 present")
@pytest.mark.timeout(900)  # the first run also builds the suite's Python 2.7 virtualenv
def test_autobahn_cases_1_to_10_do_not_fail():
    counts = run_cases(CI_CASES)
    assert sum(counts.values()) >= 300, counts
    assert counts.get("FAILED", 0) == 0, f"FAILED: {failed_cases()}"
    assert counts.get("OK", 0) >= 280, counts


@pytest.mark.skipif(bool(MISSING), reason=MISSING or "Python 2.7 present")
@pytest.mark.timeout(900)
def test_autobahn_cases_1_to_10_do_not_fail_on_a_mounted_asgi_app():
    """The same cases against a raw ASGI echo app (asgi_websocket.py's path)."""
    counts = run_cases(CI_CASES, echo_app="asgi_websocket_echo.py")
    assert sum(counts.values()) >= 300, counts
    assert counts.get("FAILED", 0) == 0, f"FAILED: {failed_cases('asgi_websocket_echo.py')}"
    assert counts.get("OK", 0) >= 280, counts
