from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

# A user's project with its own pytest.ini, run by test_userproject.py in a pytest of its own.
collect_ignore = ["userproject"]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """An httpx client with a generous timeout, closed after the test."""
    with httpx.Client(timeout=10) as c:
        yield c
