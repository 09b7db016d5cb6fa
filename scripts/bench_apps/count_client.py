"""Exactly COUNT keep-alive GET requests over CONNECTIONS connections, one at a time on each:
`python count_client.py PORT PATH COUNT CONNECTIONS`.

wrk runs for a time; an instruction count (callgrind_control -z, then -d, around this client:
docs/benchmarks.md) needs a known number of requests, through real sockets and with as many
connections in flight as wrk would have, so that each server's loop batches as it does under
wrk. Every answer is checked (a 200 with the hello body, or with server-sent events: a stream
of /events or /aevents counts as one request); prints the requests and seconds.
"""

from __future__ import annotations

import asyncio
import sys
import time


async def one_connection(port: int, request: bytes, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head[:80]
            length = _content_length(head)
            if length is None:  # chunked: read until the last chunk
                body = await reader.readuntil(b"\r\n0\r\n\r\n")
            else:
                body = await reader.readexactly(length)
            # The hello body, or a stream of server-sent events (bench_apps/stream_events.py)
            assert b"Hello, world!" in body or body.startswith(b"40\r\ndata: "), body[:80]
    finally:
        writer.close()


def _content_length(head: bytes) -> int | None:
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.partition(b":")[2])
    return None


async def main(port: int, path: str, count: int, connections: int) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n".encode()
    each, extra = divmod(count, connections)
    started = time.monotonic()
    await asyncio.gather(
        *(one_connection(port, request, each + (i < extra)) for i in range(connections))
    )
    print(f"{count} requests in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    port, path, count, connections = sys.argv[1:5]
    asyncio.run(main(int(port), path, int(count), int(connections)))
