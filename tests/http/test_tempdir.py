"""Request temp dirs: what the sweeps remove, and what they leave alone whatever its name."""

from __future__ import annotations

import os
import tempfile

from hwebserver.api.internal import tempdir


def test_sweeps_take_only_dead_owners_and_survive_odd_names(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "hwebserver-req-999999999-a"  # past any pid_max
    alive = tmp_path / f"hwebserver-req-{os.getpid()}-b"
    # Anyone may create these in /tmp: none may stop a service from starting.
    odd = ["hwebserver-req-99999999999999999999-c", "hwebserver-req-\u00b2-d", "hwebserver-req--e"]
    for path in [dead, alive, *(tmp_path / name for name in odd)]:
        path.mkdir()
    link = tmp_path / "hwebserver-req-999999998-f"
    link.symlink_to(alive)  # a symlink is never followed, nor removed
    assert tempdir.sweep_dirs_of_dead_processes() == 1
    assert not dead.exists()
    assert alive.exists() and link.is_symlink()
    assert all((tmp_path / name).exists() for name in odd)
    assert tempdir.sweep_dirs_of(os.getpid()) == 1
    assert not alive.exists()
