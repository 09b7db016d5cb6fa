"""A deployment's own malloc tuning wins over the worker's (worker/process/linux.py).

That the worker's thresholds take effect is checked through a real upload, by its page
faults, in tests/http/test_upload_cleanup.py.
"""

from __future__ import annotations

import pytest

from hwebserver.worker.process import linux


@pytest.mark.parametrize(
    ("name", "value"),
    [("MALLOC_ARENA_MAX", "2"), ("MALLOC_TRIM_THRESHOLD_", "0"), ("GLIBC_TUNABLES", "x=1")],
)
def test_a_deployments_malloc_settings_are_kept(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert linux.keep_chunk_buffers_in_heap() is False
