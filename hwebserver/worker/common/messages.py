"""The control pipe's messages, typed: one dataclass per kind, one encode, one decode.

control.py frames JSON objects; this module says what each one holds. A sender builds a
dataclass and encode()s it, a receiver decode()s a frame and matches on the class, so mypy
follows every field from the worker that measures it to the supervisor that reads it.

The JSON is flat and a field left at None is not sent, as before these types: a worker of a
newer version (a reload spawns the code on disk) and an older supervisor still understand
each other, and a field a receiver does not know is ignored.

Adding a per-worker figure to /metrics: a field on Heartbeat (here), its value where the
worker measures it (common/state.py, WorkerState.heartbeat), its family in admin/exposition.py.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from . import control
from .control import ControlProtocolError, Message

T = TypeVar("T")


@dataclass(frozen=True)
class Ready:
    """worker -> supervisor: it accepts. `sources`: the application's loaded source files."""

    KIND: ClassVar[str] = control.READY
    pid: int = 0
    generation: int = 0
    sources: list[str] = field(default_factory=list)
    stop_hooks: bool = False  # it has onWorkerStop hooks: its drain may take longer


@dataclass(frozen=True)
class Heartbeat:
    """worker -> supervisor, every second from the worker's event loop: what /metrics shows
    of it and what recycling judges. The request counts come only from a worker that keeps
    them (some port has ADMIN_ENDPOINTS); they are None otherwise, and not sent."""

    KIND: ClassVar[str] = control.HEARTBEAT
    served: int = 0  # requests answered since it started
    in_flight: int = 0
    lag: float = 0.0  # seconds its event loop was late for this heartbeat
    rss: int = 0  # bytes
    queued_calls: int | None = None  # plain calls waiting for a handler thread
    oldest_call_wait: float | None = None  # seconds the oldest of them has waited, at least
    statuses: list[int] | None = None  # answered, by status class 1xx..5xx
    buckets: list[int] | None = None  # the duration histogram (stats.DURATION_BUCKETS, +Inf)
    duration_sum: float | None = None  # seconds
    connections: int | None = None  # open HTTP connections
    websockets: int | None = None  # open WebSocket connections

    def figures(self) -> dict[str, Any]:
        """The fields sent: a worker's entry in the metrics snapshot."""
        return _sent_fields(self)


@dataclass(frozen=True)
class Shutdown:
    """worker -> supervisor: stop the whole server. `signal`: the SIGTERM or SIGINT the
    worker was sent; None: requestShutdown() was called in it."""

    KIND: ClassVar[str] = control.SHUTDOWN
    signal: str | None = None


@dataclass(frozen=True)
class BootFailed:
    """worker -> supervisor: it cannot serve. `error`: the traceback (or a sentence);
    `summary`: the one line that says what failed."""

    KIND: ClassVar[str] = control.BOOT_FAILED
    error: str = ""
    summary: str = ""


@dataclass(frozen=True)
class MetricsQuery:
    """worker -> supervisor: a scrape of /metrics; answered by Metrics with the same id."""

    KIND: ClassVar[str] = control.METRICS_QUERY
    id: int = 0


@dataclass(frozen=True)
class SupervisorFigures:
    """The supervisor's own counters in a metrics snapshot (supervisor/metrics.py)."""

    pid: int
    generation: int | None = None
    uptime: float = 0.0
    shutting_down: bool = False
    reloads_succeeded: int = 0
    reloads_failed: int = 0
    recycles: int = 0
    exits: dict[str, int] = field(default_factory=dict)  # by cause


@dataclass(frozen=True)
class WorkerFigures:
    """A worker in a metrics snapshot: who it is, and its last heartbeat, every field of it
    (a figure added to Heartbeat reaches /metrics without a change here)."""

    pid: int
    generation: int
    phase: str = ""
    uptime: float = 0.0
    heartbeat: Heartbeat = field(default_factory=Heartbeat)


@dataclass(frozen=True)
class RetiredTotals:
    """The request counts of the workers gone, so that the service's totals never go back."""

    statuses: list[int] = field(default_factory=list)
    buckets: list[int] = field(default_factory=list)
    duration_sum: float = 0.0


@dataclass(frozen=True)
class MetricsSnapshot:
    """What /metrics shows of the service: the supervisor's counters (None when a process
    serves by itself in a thread), its workers, the totals of those gone. On the pipe it is
    the JSON object it always was (`to_json`, `from_json`): a worker of another version still
    reads its supervisor's snapshot."""

    supervisor: SupervisorFigures | None = None
    workers: list[WorkerFigures] = field(default_factory=list)
    retired: RetiredTotals = field(default_factory=RetiredTotals)

    def to_json(self) -> dict[str, Any]:
        return {
            "supervisor": None if self.supervisor is None else _sent_fields(self.supervisor),
            "workers": [
                {
                    "pid": worker.pid,
                    "generation": worker.generation,
                    "phase": worker.phase,
                    "uptime": worker.uptime,
                    **worker.heartbeat.figures(),
                }
                for worker in self.workers
            ],
            "retired": dataclasses.asdict(self.retired),
        }

    @classmethod
    def from_json(cls, value: Any) -> MetricsSnapshot:
        if not isinstance(value, dict):
            raise TypeError(f"{type(value).__name__}, not an object")
        given = value.get("supervisor")
        supervisor = None if given is None else _decode_fields(SupervisorFigures, given)
        workers = [_worker_figures(worker) for worker in value.get("workers") or []]
        retired = _decode_fields(RetiredTotals, value.get("retired") or {})
        return cls(supervisor, workers, retired)


def _worker_figures(entry: Any) -> WorkerFigures:
    if not isinstance(entry, dict):
        raise TypeError(f"a worker: {type(entry).__name__}, not an object")
    heartbeat = _decode_fields(Heartbeat, entry)
    return WorkerFigures(
        int(entry["pid"]),
        int(entry["generation"]),
        str(entry.get("phase", "")),
        float(entry.get("uptime", 0.0)),
        heartbeat,
    )


@dataclass(frozen=True)
class Metrics:
    """supervisor -> worker: the service's snapshot (supervisor/metrics.py)."""

    KIND: ClassVar[str] = control.METRICS
    id: int = 0
    snapshot: MetricsSnapshot = field(default_factory=MetricsSnapshot)


@dataclass(frozen=True)
class Drain:
    """supervisor -> worker: finish what is in flight and exit. `mode`: control.RETIRE
    (another generation serves the same sockets) or control.SHUTDOWN_MODE."""

    KIND: ClassVar[str] = control.DRAIN
    mode: str = control.SHUTDOWN_MODE


@dataclass(frozen=True)
class Stop:
    """supervisor -> worker: cut everything now and exit."""

    KIND: ClassVar[str] = control.STOP


@dataclass(frozen=True)
class Unready:
    """supervisor -> worker: a graceful shutdown began; /readyz answers 503."""

    KIND: ClassVar[str] = control.UNREADY


ControlMessage = (
    Ready | Heartbeat | Shutdown | BootFailed | MetricsQuery | Metrics | Drain | Stop | Unready
)
Send = Callable[[ControlMessage], None]  # a best-effort send on the control pipe
KINDS: dict[str, type[ControlMessage]] = {
    cls.KIND: cls
    for cls in (Ready, Heartbeat, Shutdown, BootFailed, MetricsQuery, Metrics, Drain, Stop, Unready)
}


def encode(message: ControlMessage) -> bytes:
    """One frame."""
    fields = _sent_fields(message)
    if isinstance(message, Metrics):
        fields["snapshot"] = message.snapshot.to_json()
    return control.encode(message.KIND, **fields)


def decode(message: Message) -> ControlMessage | None:
    """A decoded frame as its dataclass; None for a kind this version does not know. Raises
    ControlProtocolError for a field of the wrong type."""
    cls = KINDS.get(message["kind"])
    if cls is None:
        return None
    return _decode_fields(cls, message)


def _decode_fields(cls: type[T], given: Mapping[str, Any]) -> T:
    """`cls` from the JSON object `given`: its fields that are set, each as its declared type;
    what `cls` does not declare is ignored."""
    if not isinstance(given, Mapping):
        raise ControlProtocolError(f"{cls.__name__}: {type(given).__name__}, not an object")
    values = {}
    for name, kind in _field_types(cls).items():  # type: ignore[arg-type]
        if name in given and given[name] is not None:
            values[name] = _coerce(kind, given[name], name)
    return cls(**values)


def _sent_fields(message: object) -> dict[str, Any]:
    return {
        item.name: getattr(message, item.name)
        for item in dataclasses.fields(message)  # type: ignore[arg-type]
        if getattr(message, item.name) is not None
    }


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {item.name: hints[item.name] for item in dataclasses.fields(cls)}


def _coerce(kind: Any, value: Any, name: str) -> Any:
    """`value` as the declared type: int, float, str, list[...] or dict[str, ...], or any
    of these or None. JSON numbers are converted as the receivers always did (int(), float())."""
    if isinstance(kind, types.UnionType):
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    origin = typing.get_origin(kind) or kind
    try:
        if origin is MetricsSnapshot:
            return MetricsSnapshot.from_json(value)
        if origin is list:
            (item,) = typing.get_args(kind)
            return [_coerce(item, element, name) for element in value]
        if origin is dict:
            if not isinstance(value, dict):
                raise TypeError(f"{type(value).__name__}, not an object")
            return dict(value)
        if origin is bool:
            return bool(value)
        if origin in (int, float, str):
            if origin is not str and isinstance(value, str):
                raise TypeError("a string, not a number")
            return origin(value)
    except (TypeError, ValueError, KeyError) as exc:
        raise ControlProtocolError(f"field {name!r}: {exc}") from exc
    raise TypeError(f"no decoding for the type of field {name!r}: {kind!r}")
