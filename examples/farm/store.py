"""The farm's jobs in a database shared by every worker (and, with PostgreSQL, every machine).

SQLite (the standard library's sqlite3, WAL mode) by default, in `farm.sqlite3` next to the
service or at FARM_DATABASE; PostgreSQL when FARM_DATABASE_URL=postgresql://... is set (needs
psycopg 3: `pip install -r examples/farm/requirements-postgres.txt`).

Frames are rendered in batches. A renderer claims a batch in a transaction: the claim is a lease
(worker, expiry) that each rendered frame renews. A frame is recorded once, with the worker that
rendered it, only while the batch's lease is still that worker's; a batch whose worker died is
claimed again once its lease has expired, and the frames already recorded are not rendered again.
So with any number of workers, each frame of each job is rendered exactly once. The frames
table is a plain log of renders (no uniqueness enforced): it is the record that shows it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

BATCH_FRAMES = 4  # frames a renderer claims at once
SCHEMA_LOCK = 4242  # PostgreSQL advisory lock taken while creating the tables

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id {id_column},
    name TEXT NOT NULL,
    frames INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    submitted DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    job_id INTEGER NOT NULL,
    first_frame INTEGER NOT NULL,
    last_frame INTEGER NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, first_frame)
);
CREATE TABLE IF NOT EXISTS frames (
    job_id INTEGER NOT NULL,
    frame INTEGER NOT NULL,
    worker TEXT NOT NULL,
    rendered_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS frames_of_job ON frames (job_id, frame);
CREATE TABLE IF NOT EXISTS news (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);
INSERT INTO news (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
"""


@dataclass(frozen=True)
class Batch:
    """A claimed batch: the frames of it still to render."""

    job_id: int
    first_frame: int
    frames: tuple[int, ...]


class Cursor(Protocol):
    def execute(self, sql: str, params: tuple[Any, ...] = ...) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Store:
    """One connection of one worker, shared by its handler threads and its renderer under a
    lock. The SQL is written once with `?` placeholders; PostgreSQL's driver gets `%s`."""

    # Appended to the SELECTs that read a batch before changing it (PostgreSQL row locks;
    # SQLite's BEGIN IMMEDIATE already holds the whole database).
    claim_lock = ""  # a free batch to claim: others skip the one being claimed
    row_lock = ""  # the batch a frame is recorded in

    def __init__(self) -> None:
        self.lock = threading.Lock()

    # -- what the backends provide ---------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- the farm ------------------------------------------------------------------------------
    def submit(self, name: str, frames: int) -> dict[str, Any]:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO jobs (name, frames, submitted) VALUES (?, ?, ?) RETURNING id",
                (name, frames, time.time()),
            )
            job_id = int(db.fetchone()[0])
            for first in range(1, frames + 1, BATCH_FRAMES):
                last = min(frames, first + BATCH_FRAMES - 1)
                db.execute(
                    "INSERT INTO batches (job_id, first_frame, last_frame) VALUES (?, ?, ?)",
                    (job_id, first, last),
                )
            bump(db)
        return self.job(job_id) or {}

    def cancel(self, job_id: int) -> dict[str, Any] | None:
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state = 'cancelled' WHERE id = ? AND state IN ('queued', 'rendering')",
                (job_id,),
            )
            bump(db)
        return self.job(job_id)

    def job(self, job_id: int) -> dict[str, Any] | None:
        return next((job for job in self.jobs() if job["id"] == job_id), None)

    def jobs(self) -> list[dict[str, Any]]:
        with self.transaction() as db:
            db.execute("SELECT id, name, frames, done, state, submitted FROM jobs ORDER BY id")
            rows = db.fetchall()
            db.execute(
                "SELECT job_id, worker, COUNT(*) FROM frames GROUP BY job_id, worker"
                " ORDER BY job_id, worker"
            )
            rendered_by: dict[int, dict[str, int]] = {}
            for job_id, worker, count in db.fetchall():
                rendered_by.setdefault(int(job_id), {})[str(worker)] = int(count)
        keys = ("id", "name", "frames", "done", "state", "submitted")
        return [
            {**dict(zip(keys, row, strict=True)), "rendered_by": rendered_by.get(int(row[0]), {})}
            for row in rows
        ]

    def version(self) -> int:
        with self.transaction() as db:
            db.execute("SELECT version FROM news WHERE id = 1")
            return int(db.fetchone()[0])

    def rendered_frames(self) -> list[tuple[int, int, str]]:
        """(job, frame, worker) of every frame rendered: the record the tests read."""
        with self.transaction() as db:
            db.execute("SELECT job_id, frame, worker FROM frames ORDER BY job_id, frame")
            return [(int(j), int(f), str(w)) for j, f, w in db.fetchall()]

    # -- the renderers -----------------------------------------------------------------------
    def claim(self, worker: str, lease_seconds: float) -> Batch | None:
        """Lease the first batch with frames to render that nobody holds (or whose holder's
        lease ran out), in one transaction."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "SELECT b.job_id, b.first_frame, b.last_frame FROM batches b"
                " JOIN jobs j ON j.id = b.job_id"
                " WHERE b.finished = 0 AND j.state IN ('queued', 'rendering')"
                " AND (b.worker IS NULL OR b.lease_until < ?)"
                " ORDER BY b.job_id, b.first_frame LIMIT 1" + self.claim_lock,
                (now,),
            )
            row = db.fetchone()
            if row is None:
                return None
            job_id, first, last = (int(value) for value in row)
            db.execute(
                "UPDATE batches SET worker = ?, lease_until = ? WHERE job_id = ? AND first_frame = ?",
                (worker, now + lease_seconds, job_id, first),
            )
            db.execute(
                "UPDATE jobs SET state = 'rendering' WHERE id = ? AND state = 'queued'", (job_id,)
            )
            db.execute(
                "SELECT frame FROM frames WHERE job_id = ? AND frame BETWEEN ? AND ?",
                (job_id, first, last),
            )
            recorded = {int(frame) for (frame,) in db.fetchall()}
            bump(db)
        todo = tuple(frame for frame in range(first, last + 1) if frame not in recorded)
        return Batch(job_id, first, todo)

    def record(self, batch: Batch, frame: int, worker: str, lease_seconds: float) -> bool:
        """Record a rendered frame and renew the lease; False when the lease is no longer this
        worker's or the job was cancelled (the renderer then leaves the batch)."""
        with self.transaction() as db:
            db.execute(
                "SELECT b.worker, j.state FROM batches b JOIN jobs j ON j.id = b.job_id"
                " WHERE b.job_id = ? AND b.first_frame = ?" + self.row_lock,
                (batch.job_id, batch.first_frame),
            )
            holder, state = db.fetchone()
            if holder != worker or state != "rendering":
                return False
            db.execute(
                "INSERT INTO frames (job_id, frame, worker, rendered_at) VALUES (?, ?, ?, ?)",
                (batch.job_id, frame, worker, time.time()),
            )
            db.execute(
                "UPDATE jobs SET done = done + 1,"
                " state = CASE WHEN done + 1 >= frames THEN 'done' ELSE state END WHERE id = ?",
                (batch.job_id,),
            )
            last = frame == batch.frames[-1]
            db.execute(
                "UPDATE batches SET finished = ?, worker = ?, lease_until = ?"
                " WHERE job_id = ? AND first_frame = ?",
                (
                    int(last),
                    None if last else worker,
                    0 if last else time.time() + lease_seconds,
                    batch.job_id,
                    batch.first_frame,
                ),
            )
            bump(db)
        return True

    def release(self, batch: Batch, worker: str) -> None:
        """Give a batch back at once (a worker that stops), so that another takes it now."""
        with self.transaction() as db:
            db.execute(
                "UPDATE batches SET worker = NULL, lease_until = 0"
                " WHERE job_id = ? AND first_frame = ? AND worker = ?",
                (batch.job_id, batch.first_frame, worker),
            )


def bump(db: Cursor) -> None:
    """Something changed: the dashboards' feeds send the job list again."""
    db.execute("UPDATE news SET version = version + 1 WHERE id = 1")


class SqliteStore(Store):
    def __init__(self, path: str) -> None:
        super().__init__()
        # isolation_level=None: transactions are begun here, as BEGIN IMMEDIATE, so that two
        # workers claiming at once queue on the write lock instead of failing to upgrade.
        self.connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self.lock:
            cursor = self.connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def create_tables(self) -> None:
        with self.lock:
            self.connection.executescript(
                SCHEMA.format(id_column="INTEGER PRIMARY KEY AUTOINCREMENT")
            )

    def close(self) -> None:
        with self.lock:
            self.connection.close()


class PostgresStore(Store):
    claim_lock = " FOR UPDATE OF b SKIP LOCKED"
    row_lock = " FOR UPDATE OF b"

    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg  # the example's optional extra (requirements-postgres.txt)

        self.connection = psycopg.connect(url, autocommit=True)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self.lock, self.connection.transaction(), self.connection.cursor() as cursor:
            yield PostgresCursor(cursor)

    def create_tables(self) -> None:
        with self.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            for statement in SCHEMA.format(id_column="SERIAL PRIMARY KEY").split(";"):
                if statement.strip():
                    db.execute(statement, ())

    def close(self) -> None:
        with self.lock:
            self.connection.close()


class PostgresCursor:
    """psycopg's cursor with the `?` placeholders of the SQL above."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.cursor.execute(sql.replace("?", "%s"), params)

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self.cursor.fetchall())


def open_store(here: Path) -> Store:
    """The store the environment names: FARM_DATABASE_URL (PostgreSQL), else the SQLite file
    FARM_DATABASE, else farm.sqlite3 next to the service."""
    url = os.environ.get("FARM_DATABASE_URL", "")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url:
        raise SystemExit(f"FARM_DATABASE_URL must start with postgresql://, not {url[:20]!r}")
    return SqliteStore(os.environ.get("FARM_DATABASE") or str(here / "farm.sqlite3"))


def database_name(here: Path) -> str:
    """What the start-up line says of the database (no password)."""
    url = os.environ.get("FARM_DATABASE_URL", "")
    if url:
        return "PostgreSQL at " + url.rpartition("@")[2]
    return "SQLite at " + (os.environ.get("FARM_DATABASE") or str(here / "farm.sqlite3"))
