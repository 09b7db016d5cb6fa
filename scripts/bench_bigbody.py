"""Big bodies: a 1 GiB upload stored, and a 1 GiB download, hwebserver beside nginx.

- Upload: curl sends one multipart/form-data POST whose file part is SIZE bytes
  (`curl -F file=@...`, streamed from the source file). hwebserver parses it while it arrives,
  its file part streaming into the request's temp dir, and the handler keeps it by moving it
  into a store directory (scripts/bench_apps/bigbody_hw.py). nginx stores the same request's
  body with `client_body_in_file_only on` (kept in its client_body_temp_path), then answers
  200 through a proxy_pass to a location of its own that does not get the body (the usual
  nginx upload set-up).
- Download: `curl -o /dev/null` of the same source file: hwebserver's fileResponse() and
  nginx's static file (both with sendfile).

Each server is pinned to CPU 0 and curl to CPU 1 (as scripts/bench). Per transfer: MB/s (10^6
bytes per second of the file's SIZE bytes, over curl's wall time), the server's CPU (user +
system, every process of it) per GiB, and curl's own CPU per GiB (if it is near its wall time,
the client was the bottleneck). Rounds alternate the servers; medians are kept; the ratio is
hwebserver's MB/s over nginx's (and nginx's CPU over hwebserver's) in the same run.

Every file lives under one work directory (default: a new one in the system's temp dir; --dir
puts it elsewhere, e.g. /dev/shm for tmpfs): the source file, hwebserver's TMPDIR, its store,
nginx's body temp dir. Each stored upload is checked (size) and removed after its round, and
the whole directory at the end. Run through scripts/bench (`--only bigbody`) or alone:

    .venv/bin/python scripts/bench_bigbody.py --size 268435456 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import APPS, CLIENT_CPU, PROJECT_PYTHON, Server, cpu_seconds, quotient
from bench_versions import Package, installed, project, system

GIB = 1 << 30
HW = "hwebserver"
NGINX = "nginx"
# What the figures depend on: hwebserver's loop and parsers (python-multipart parses the
# upload), and nginx (the record's `system` section).
HW_PACKAGES: tuple[Package, ...] = project("httptools", "uvloop", "python-multipart")
NGINX_PACKAGES: tuple[Package, ...] = system("nginx")
PACKAGES = HW_PACKAGES + NGINX_PACKAGES


@dataclass
class Transfer:
    seconds: float
    server_cpu: float
    client_cpu: float

    def row(self, size: int) -> dict[str, float]:
        gib = size / GIB
        return {
            "mb_per_s": size / 1e6 / self.seconds,
            "server_cpu_s_per_gib": self.server_cpu / gib,
            "client_cpu_s_per_gib": self.client_cpu / gib,
        }


@dataclass
class Place:
    """The work directory and what lives in it."""

    root: Path
    source: Path
    store: Path  # hwebserver's kept uploads
    hw_tmp: Path  # hwebserver's TMPDIR (the request temp dirs)
    nginx_body: Path  # nginx's client_body_temp_path (its kept uploads)

    @classmethod
    def make(cls, parent: str | None, size: int) -> Place:
        root = Path(tempfile.mkdtemp(prefix="hwebserver-bench-bigbody-", dir=parent))
        root.chmod(0o755)  # nginx's worker runs as an unprivileged user
        place = cls(root, root / "source.bin", root / "store", root / "hw-tmp", root / "body")
        for directory in (place.store, place.hw_tmp):
            directory.mkdir()
        write_source(place.source, size)
        place.source.chmod(0o644)
        return place

    def stored_files(self) -> list[Path]:
        found = list(self.store.iterdir())
        if self.nginx_body.exists():
            found += [p for p in self.nginx_body.rglob("*") if p.is_file()]
        return found


def write_source(path: Path, size: int) -> None:
    """SIZE random bytes (1 MiB of urandom repeated with a counter: cheap to make, and no
    block repeats, so nothing along the way can shortcut it)."""
    block = bytearray(os.urandom(1 << 20))
    with open(path, "wb") as file:
        left, index = size, 0
        while left > 0:
            block[:8] = index.to_bytes(8, "little")
            piece = block if left >= len(block) else block[:left]
            file.write(piece)
            left -= len(piece)
            index += 1


def hw_server(place: Place) -> Server:
    return Server(
        HW,
        [str(PROJECT_PYTHON), str(APPS / "bigbody_hw.py"), "{port}"],
        {
            "BENCH_STORE_DIR": str(place.store),
            "BENCH_DOWNLOAD_FILE": str(place.source),
            "TMPDIR": str(place.hw_tmp),
        },
        packages=HW_PACKAGES,
    )


def nginx_server(place: Place) -> Server:
    server = Server(NGINX, [], packages=NGINX_PACKAGES)
    conf = place.root / "nginx.conf"
    root = place.root
    conf.write_text(
        f"""daemon off; worker_processes 1; pid {root}/nginx.pid; error_log {root}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {place.nginx_body}; proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  server {{
    listen 127.0.0.1:{server.port};
    location = /download {{ alias {place.source}; default_type application/octet-stream; }}
    location = /upload {{
      client_max_body_size 0;
      client_body_in_file_only on;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Body-File $request_body_file;
      proxy_pass http://127.0.0.1:{server.port}/stored;
    }}
    location = /stored {{ return 200 "stored\\n"; }}
  }}
}}
"""
    )
    server.command = ["nginx", "-c", str(conf), "-p", str(root)]
    return server


def curl(server: Server, arguments: list[str]) -> tuple[list[str], Transfer]:
    """One curl run on the client's CPU: what -w printed, and the transfer's figures."""
    command = ["taskset", "-c", CLIENT_CPU, "curl", "-sS", "--fail", *arguments]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = cpu_seconds(server)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    server_cpu = cpu_seconds(server) - server_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    if result.returncode != 0:
        raise RuntimeError(f"{server.name}: curl failed ({result.returncode}): {result.stderr}")
    return result.stdout.split(), Transfer(seconds, server_cpu, client_cpu)


def upload(server: Server, place: Place, size: int) -> Transfer:
    url = f"http://127.0.0.1:{server.port}/upload"
    answer = place.root / "answer.txt"
    # No Expect: 100-continue (curl waits up to 1 s for it; both servers would send it).
    written, transfer = curl(
        server,
        ["-o", str(answer), "-w", "%{http_code} %{size_upload}", "-H", "Expect:", "-F",
         f"file=@{place.source};type=application/octet-stream", url],
    )  # fmt: skip
    status, sent = written
    stored = place.stored_files()
    sizes = sorted(p.stat().st_size for p in stored)
    # hwebserver keeps the file part, nginx the whole multipart body.
    expected = size if server.name == HW else int(sent)
    try:
        if status != "200" or sizes != [expected]:
            raise RuntimeError(
                f"{server.name}: upload answered {status}, stored {sizes}, expected [{expected}]"
            )
    finally:
        for path in stored:
            path.unlink()
        answer.unlink(missing_ok=True)
    return transfer


def download(server: Server, place: Place, size: int) -> Transfer:
    url = f"http://127.0.0.1:{server.port}/download"
    written, transfer = curl(
        server, ["-o", "/dev/null", "-w", "%{http_code} %{size_download}", url]
    )
    if written != ["200", str(size)]:
        raise RuntimeError(f"{server.name}: download gave {written}, expected 200 {size}")
    return transfer


Measure = Callable[[Server, Place, int], Transfer]
KINDS: dict[str, Measure] = {"upload stored": upload, "download": download}


def run(size: int, rounds: int, parent: str | None, log_dir: Path) -> list[dict[str, object]]:
    place = Place.make(parent, size)
    servers = [hw_server(place), nginx_server(place)]
    samples: dict[tuple[str, str], list[Transfer]] = {}
    label = f"{size / GIB:g} GiB" if size % (1 << 20) == 0 else f"{size:,} B"
    where = fs_type(place.root)
    try:
        print(f"  files in {place.root} ({where})", flush=True)
        for server in servers:
            server.start(log_dir)
        for server in servers:
            server.wait_ready("/download" if server.name == NGINX else "/upload")
        for measure in KINDS.values():  # warm-up: caches, the page cache, first imports
            for server in servers:
                measure(server, place, size)
        for number in range(1, rounds + 1):
            for kind, measure in KINDS.items():
                for server in servers:
                    transfer = measure(server, place, size)
                    samples.setdefault((kind, server.name), []).append(transfer)
                    figures = transfer.row(size)
                    print(
                        f"  round {number} {label} {kind} {server.name}: "
                        f"{figures['mb_per_s']:,.0f} MB/s, server CPU "
                        f"{figures['server_cpu_s_per_gib']:.2f} s/GiB, curl CPU "
                        f"{figures['client_cpu_s_per_gib']:.2f} s/GiB",
                        flush=True,
                    )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(place.root, ignore_errors=True)
    return rows(samples, size, label, where)


def fs_type(path: Path) -> str:
    """The file system the files live on (tmpfs, ext4, overlay...), from /proc/mounts."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                mount_point, fs = fields[1], fields[2]
                if resolved.startswith(mount_point.rstrip("/") + "/") and len(mount_point) > len(
                    best
                ):
                    best, kind = mount_point, fs
    except OSError:
        pass
    return f"{kind} at {best or '?'}"


def rows(
    samples: dict[tuple[str, str], list[Transfer]], size: int, label: str, where: str
) -> list[dict[str, object]]:
    result: list[dict[str, object]] = []
    for kind in KINDS:
        medians = {
            name: {
                key: statistics.median(t.row(size)[key] for t in samples[(kind, name)])
                for key in ("mb_per_s", "server_cpu_s_per_gib", "client_cpu_s_per_gib")
            }
            for name in (HW, NGINX)
        }
        for name in (HW, NGINX):
            rates = [t.row(size)["mb_per_s"] for t in samples[(kind, name)]]
            result.append(
                {
                    "workload": f"{label} {kind}",
                    "server": name,
                    "bytes": size,
                    "files_on": where,
                    **medians[name],
                    "mb_per_s_min": min(rates),
                    "mb_per_s_max": max(rates),
                    # NaN, not a division by zero, when a run is too small to measure.
                    "ratio": quotient(medians[name]["mb_per_s"], medians[NGINX]["mb_per_s"]),
                    "cpu_ratio": quotient(
                        medians[NGINX]["server_cpu_s_per_gib"],
                        medians[name]["server_cpu_s_per_gib"],
                    ),
                    "baseline": NGINX,
                }
            )
    return result


def print_table(result: list[dict[str, object]]) -> None:
    header = (
        f"{'workload':26} {'server':11} {'MB/s median (min-max)':>24} {'CPU s/GiB':>9} "
        f"{'curl s/GiB':>10} {'ratio':>7} {'CPU ratio':>9}"
    )
    print("\n" + header)
    print("-" * len(header))
    for row in result:
        span = f"{row['mb_per_s']:,.0f} ({row['mb_per_s_min']:,.0f}-{row['mb_per_s_max']:,.0f})"
        print(
            f"{row['workload']:26} {row['server']:11} {span:>24} "
            f"{row['server_cpu_s_per_gib']:9.2f} {row['client_cpu_s_per_gib']:10.2f} "
            f"{row['ratio']:6.2f}x {row['cpu_ratio']:8.2f}x"
        )
    if result:
        print(f"files on: {result[0]['files_on']}")
    print("MB/s: 10^6 bytes of the file per second of curl's wall time; CPU s/GiB: the server's")
    print("  user + system CPU per GiB (curl's own beside it); ratio: MB/s over nginx's; CPU")
    print("  ratio: nginx's CPU per GiB over the server's (above 1: cheaper than nginx)")


def curl_version() -> str:
    out = subprocess.run(["curl", "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.split(" (", 1)[0] or "curl: unknown version"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=GIB, help="bytes of the file (1 GiB)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--dir", help="where the files live (default: the system temp dir)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="hwebserver-bench-bigbody-logs-"))
    try:
        result = run(args.size, args.rounds, args.dir, log_dir)
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    print_table(result)
    print("measured with: " + ", ".join(f"{p} {v}" for p, v in installed(set(PACKAGES)).items()))
    print(f"client: {curl_version()}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
