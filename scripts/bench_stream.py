"""Server-sent events: STREAMS streams open at once, each a GET answered with a stream of events.

Every server streams the same generator (scripts/bench_apps/stream_events.py: EVENTS events of
64 bytes, yielded as fast as the server takes them) as `text/event-stream`, chunked:

- hwebserver, `Response(generator)` from a plain handler (each next() on a handler thread) and
  `Response(async_generator)` from an `async def` handler (iterated on the worker's loop);
- Starlette's `StreamingResponse` under uvicorn, from the same async generator (the baseline)
  and from the same plain generator (each next() in Starlette's thread pool);
- a raw ASGI app under uvicorn sending one `http.response.body` per event: uvicorn's floor.

The client is one uvloop process pinned to CPU 1 (the servers to CPU 0, as in scripts/bench).
It keeps STREAMS connections open, each asking for a stream and, once it ended, for the next
one on the same connection, and counts the events (each ends with a blank line). After a
warm-up, for DURATION seconds it counts the events delivered and the server's CPU time (user +
system, every process): events per CPU second, the figure that moves least on a shared
machine, and events per second. Rounds alternate the servers. Run it through scripts/bench
(`--only stream`) or alone once the peers' venv is made:

    .venv/bin/python scripts/bench_stream.py --streams 1000 --duration 5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from bench import APPS, Server, cpu_seconds, hw, open_many, raise_fd_limit, uvicorn
from bench_versions import Package

CLIENT_CPU = 1
BASELINE = "uvicorn+starlette async generator"
END_OF_STREAM = b"\r\n0\r\n\r\n"  # the last chunk, after the last event's chunk
END_OF_EVENT = b"\n\n"


@dataclass
class Contender:
    server: Server
    path: str


def contenders(events: int) -> list[Contender]:
    env = {"BENCH_STREAM_EVENTS": str(events)}
    plain = hw("hwebserver generator (threads)", env)
    asynchronous = hw("hwebserver async generator", env)
    starlette_async = uvicorn(BASELINE, "stream_starlette:app")
    starlette_plain = uvicorn("uvicorn+starlette generator (threads)", "stream_starlette:app")
    raw = uvicorn("uvicorn raw ASGI", "stream_asgi:app")
    raw.command += ["--lifespan", "off"]
    for server in (starlette_async, starlette_plain, raw):
        server.env.update(env)
    return [
        Contender(plain, "/events"),
        Contender(asynchronous, "/aevents"),
        Contender(starlette_async, "/aevents"),
        Contender(starlette_plain, "/events"),
        Contender(raw, "/"),
    ]


def stream_packages(events: int = 100) -> set[Package]:
    """What the rows depend on (scripts/bench's version gate)."""
    return {package for c in contenders(events) for package in c.server.packages}


@dataclass
class Counts:
    events: int = 0
    streams: int = 0
    errors: int = 0
    lost: int = 0


@dataclass
class StreamClient(asyncio.Protocol):
    """One connection: asks for a stream, counts its events, asks again when it ended."""

    request: bytes
    counts: Counts
    opened: asyncio.Future[None]
    transport: asyncio.Transport | None = None
    in_head: bool = True
    head: bytes = b""
    tail: bytes = b""  # the last bytes seen: an event's end or the last chunk may be split
    closing: bool = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]
        if not self.opened.done():
            self.opened.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.in_head:
            self.head += data
            head, found, data = self.head.partition(b"\r\n\r\n")
            if not found:
                return
            self.in_head = False
            self.head = b""
            self.tail = b""
            if not head.startswith(b"HTTP/1.1 200"):
                self.counts.errors += 1
                assert self.transport is not None
                self.transport.close()
                return
        # A split "\n\n" is one event too: the tail's last byte with the data's first.
        joined = self.tail[-1:] + data
        self.counts.events += joined.count(END_OF_EVENT)
        self.tail = (self.tail + data)[-len(END_OF_STREAM) :]
        if self.tail == END_OF_STREAM:
            self.counts.streams += 1
            self.in_head = True
            assert self.transport is not None
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.counts.lost += 1


async def open_streams(port: int, path: str, streams: int, counts: Counts) -> list[StreamClient]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

    async def one() -> StreamClient:
        opened: asyncio.Future[None] = loop.create_future()
        _, client = await loop.create_connection(
            lambda: StreamClient(request, counts, opened), "127.0.0.1", port
        )
        await asyncio.wait_for(opened, 30)
        return client

    return await open_many(streams, one)


async def load(
    contender: Contender, streams: int, warmup: float, seconds: float
) -> dict[str, float]:
    """Events delivered per second and per CPU second of the server, over `seconds`."""
    counts = Counts()
    server = contender.server
    clients = await open_streams(server.port, contender.path, streams, counts)
    try:
        await asyncio.sleep(warmup)
        events, done, cpu = counts.events, counts.streams, cpu_seconds(server)
        started, client_cpu = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        events = counts.events - events
        done = counts.streams - done
        cpu = cpu_seconds(server) - cpu
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
    finally:
        for client in clients:
            client.closing = True
            if client.transport is not None:
                client.transport.close()
    return {
        "events_per_s": events / elapsed,
        "events_per_cpu_s": events / cpu if cpu > 0 else float("nan"),
        "cpu_us_per_event": cpu / events * 1e6 if events else float("nan"),
        "streams_per_s": done / elapsed,
        # Near 1, the client's core was full: events/s is then the client's limit, not the
        # server's (events per CPU second of the server still compares the servers).
        "client_cpu_share": client_cpu / elapsed,
        "errors": counts.errors + counts.lost,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench_stream.py", description=__doc__)
    parser.add_argument("--streams", type=int, default=1000, help="streams open at once")
    parser.add_argument("--events", type=int, default=100, help="events per stream")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds counted per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each count")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--server", action="append", help="only the servers whose name has this")
    args = parser.parse_args()
    raise_fd_limit()
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})
    chosen = [
        c
        for c in contenders(args.events)
        if not args.server or any(part in c.server.name for part in args.server)
    ]
    print(
        f"== server-sent events: {args.streams:,} streams of {args.events} events of 64 bytes",
        flush=True,
    )
    figures: dict[str, list[dict[str, float]]] = {c.server.name: [] for c in chosen}
    with tempfile.TemporaryDirectory(prefix="hwebserver-bench-stream-") as tmp:
        try:
            for contender in chosen:  # started inside the try: a failure stops the others
                contender.server.start(Path(tmp))
            for contender in chosen:
                contender.server.wait_ready(contender.path)
            for round_number in range(args.rounds):
                for contender in chosen:
                    result = uvloop.run(load(contender, args.streams, args.warmup, args.duration))
                    figures[contender.server.name].append(result)
                    print(
                        f"  round {round_number + 1} {contender.server.name}: "
                        f"{result['events_per_s']:,.0f} events/s, "
                        f"{result['events_per_cpu_s']:,.0f} events/CPU s, "
                        f"server CPU {result['events_per_s'] / result['events_per_cpu_s']:.0%}, "
                        f"client CPU {result['client_cpu_share']:.0%}, "
                        f"{result['errors']:.0f} errors",
                        flush=True,
                    )
        finally:
            for contender in chosen:
                contender.server.stop()
    rows = summary(args.streams, args.events, figures)
    for row in rows:
        print(
            f"{row['server']:40} {row['events_per_s']:>10,.0f} events/s "
            f"{row['events_per_cpu_s']:>10,.0f} events/CPU s {row['ratio']:6.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def summary(
    streams: int, events: int, figures: dict[str, list[dict[str, float]]]
) -> list[dict[str, object]]:
    """A row per server, medians of the rounds; the ratio is events per CPU second over the
    baseline's (or over the first row's when the baseline was not run)."""
    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in figures.items()
        if results
    }
    baseline = BASELINE if BASELINE in medians else next(iter(medians), BASELINE)
    reference = medians.get(baseline, {}).get("events_per_cpu_s", float("nan"))
    return [
        {
            "workload": f"SSE x{streams:,} ({events} events each)",
            "server": name,
            **values,
            "errors": sum(r["errors"] for r in figures[name]),
            "min_events_per_s": min(r["events_per_s"] for r in figures[name]),
            "max_events_per_s": max(r["events_per_s"] for r in figures[name]),
            "ratio": values["events_per_cpu_s"] / reference,
            "baseline": baseline,
        }
        for name, values in medians.items()
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(APPS))
    sys.exit(main())
