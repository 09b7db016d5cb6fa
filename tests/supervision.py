"""Helpers for the supervisor tests: an editable copy of the reload app, worker pids."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import psutil
from support import APPS, ServerProcess


def copy_app(tmp_path: Path, name: str = "service.py") -> Path:
    """The tests edit this copy to simulate a developer's edits."""
    target = tmp_path / name
    shutil.copy(APPS / "reload_app.py", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def worker_pids(server: ServerProcess) -> set[int]:
    """The supervisor's worker processes (its children, without the file watcher)."""
    server.descendants()  # remembered, so stop() kills them whatever happens
    try:
        children = psutil.Process(server.pid).children()
    except psutil.NoSuchProcess:
        return set()
    pids = set()
    for child in children:
        try:
            if "supervisor.watcher" not in " ".join(child.cmdline()):
                if child.status() != psutil.STATUS_ZOMBIE:
                    pids.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """As a restarted server would bind it (SO_REUSEADDR, so TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen()
        except OSError:
            return False
    return True
