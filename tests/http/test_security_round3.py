"""The third security round: what a hostile client or a careless app could do that the first
two rounds (test_hostile_requests.py, test_escaping_errors.py, test_static.py) did not cover.

Apps answering an informational status, clients that never read a file, dot segments sent
past a guard in front of a mount, fileResponse on odd paths, redirects to odd places, TLS 1.2
suites. Raw bytes over real sockets to a real server process.
"""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import quote

import psutil
import pytest
from support import (
    ServerProcess,
    parse_response,
    raw_exchange,
    read_response,
    tcp_connections,
    wait_for,
)

SEND_TIMEOUT = 2
SECRET = b"the secret behind the guard"
CLOSE = b"Connection: close\r\n\r\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("security-files")
    (directory / "secret.txt").write_bytes(SECRET)
    (directory / "public.txt").write_bytes(b"public")
    (directory / "x").mkdir()
    (directory / "big.bin").write_bytes(b"b" * (32 * 1024 * 1024))
    return directory


@pytest.fixture(scope="module")
def srv(tmp_path_factory, files):
    process = ServerProcess(
        "security_app.py",
        tmp_path_factory.mktemp("security"),
        {"settings": {"SEND_TIMEOUT": SEND_TIMEOUT, "KEEPALIVE_TIMEOUT": 30}},
        env={"SECURITY_FILES": str(files)},
    )
    process.start()
    yield process
    process.stop()


def get(path: str) -> bytes:
    return b"GET " + path.encode("latin-1") + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


# -- 1. an informational status is not an answer ------------------------------------------------


INTERIM_ANSWERS = [
    *(
        (f"/asgi-interim?status={code}", "ASGI", "asgi_interim", code)
        for code in (100, 101, 103, 199)
    ),
    ("/asgi-interim-swallowed", "ASGI", "asgi_interim_swallowed", 100),
    ("/wsgi-interim?status=100%20Continue", "WSGI", "wsgi_interim", 100),
    ("/wsgi-interim?status=101%20Switching%20Protocols", "WSGI", "wsgi_interim", 101),
    ("/wsgi-interim?status=103%20Early%20Hints", "WSGI", "wsgi_interim", 103),
]


@pytest.mark.parametrize(("path", "kind", "app", "code"), INTERIM_ANSWERS)
def test_an_apps_informational_status_is_a_500_and_the_connection_closes(
    srv, path, kind, app, code
):
    """A 1xx written as the answer would make the client read the next pipelined answer as
    this one's body: the server answers 500 in the app's place, logs it naming the app and
    the status, and closes; the request pipelined behind it is not answered on this
    connection."""
    data = raw_exchange(srv.port, get(path) + get("/pid"))
    status, headers, _ = parse_response(data)
    assert status == 500
    assert headers["connection"] == "close"
    assert data.count(b"HTTP/1.1 ") == 1, data  # nothing after the 500, no 1xx before it
    told = f"the {kind} app __main__.{app} mounted at /{app.replace('_', '-')}"

    def logged() -> bool:
        return any(
            told in line and f"answered with status {code}:" in line
            for line in srv.logs().splitlines()
        )

    wait_for(logged)


# -- 2. SEND_TIMEOUT holds for files sent with sendfile -----------------------------------------


def worker_process(srv: ServerProcess) -> psutil.Process:
    status, _, body = parse_response(raw_exchange(srv.port, get("/pid")[:-2] + CLOSE))
    assert status == 200
    return psutil.Process(int(body))


def established(process: psutil.Process, port: int) -> int:
    return sum(
        1
        for c in tcp_connections(process)
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def never_reading_client(port: int, path: str) -> socket.socket:
    """A client with a small receive window that asks for `path` and reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(get(path))
    return sock


@pytest.mark.parametrize(
    "path",
    [
        "/file?path={files}/big.bin",  # fileResponse from a plain handler
        "/async-file?path={files}/big.bin",  # fileResponse from an async one
        "/static/big.bin",  # registerStaticFilesDirectory
        "/files/big.bin",  # Starlette's FileResponse through http.response.pathsend
    ],
)
def test_a_client_that_never_reads_a_file_is_cut_after_send_timeout(srv, files, path):
    """sendfile waits for the socket outside the transport's buffer: that wait is measured
    like a buffer that does not shrink, and the connection, the file and the duplicate of
    the socket are released."""
    process = worker_process(srv)
    wait_for(lambda: established(process, srv.port) == 0)
    descriptors = process.num_fds()
    clients = [never_reading_client(srv.port, path.format(files=files)) for _ in range(3)]
    try:
        wait_for(lambda: established(process, srv.port) == len(clients))
        wait_for(lambda: process.num_fds() > descriptors)
        wait_for(lambda: established(process, srv.port) == 0, timeout=SEND_TIMEOUT + 20)
        wait_for(lambda: process.num_fds() <= descriptors)
    finally:
        for sock in clients:
            sock.close()
    status, _, body = parse_response(raw_exchange(srv.port, get("/static/public.txt")[:-2] + CLOSE))
    assert (status, body) == (200, b"public")


# -- 3. targets are normalised before routing -------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/files/secret.txt",
        "/files/./secret.txt",
        "/files//secret.txt",
        "/files/x/../secret.txt",
        "/files/%2e/secret.txt",
        "/files/%2E%2e/files/secret.txt",
        "/files/secret.txt/.",
        "/files/x/..%2fsecret.txt",
        "//files///x/.././secret.txt",
        "http://127.0.0.1/files/x/../secret.txt",
    ],
)
def test_a_guard_in_front_of_a_mount_sees_every_spelling_of_its_path(srv, target):
    """The router and the mounted app see one path: a urlHandler guarding a file of a
    Starlette StaticFiles mount is reached by every spelling of that file's path."""
    status, _, body = parse_response(raw_exchange(srv.port, get(target)[:-2] + CLOSE))
    assert (status, body) == (403, b"forbidden")


@pytest.mark.parametrize(
    "target", ["/files/public.txt", "/files/x/../public.txt", "/files//public.txt"]
)
def test_the_mount_serves_the_normalised_path(srv, target):
    status, _, body = parse_response(raw_exchange(srv.port, get(target)[:-2] + CLOSE))
    assert (status, body) == (200, b"public")


@pytest.mark.parametrize(
    "target",
    ["/..", "/../files/secret.txt", "/files/../../secret.txt", "/%2e%2e/x", "/a/..%2f..%2fx"],
)
def test_a_target_that_climbs_above_the_root_is_400(srv, target):
    data = raw_exchange(srv.port, get(target) + get("/pid"))
    status, headers, _ = parse_response(data)
    assert status == 400
    assert headers["connection"] == "close"
    assert data.count(b"HTTP/1.1 ") == 1


def answer_json(srv: ServerProcess, target: str) -> dict:
    status, _, body = parse_response(raw_exchange(srv.port, get(target)[:-2] + CLOSE))
    assert status == 200, body
    return json.loads(body)


def test_apps_and_handlers_see_the_normalised_path(srv):
    asgi = answer_json(srv, "/asgi-echo/a/./b//c/../d%20e")
    assert asgi == {"path": "/asgi-echo/a/b/d e", "raw_path": "/asgi-echo/a/b/d%20e"}
    assert answer_json(srv, "/asgi-echo/d%20e") == {
        "path": "/asgi-echo/d e",
        "raw_path": "/asgi-echo/d%20e",  # nothing removed: as sent
    }
    wsgi = answer_json(srv, "/wsgi-echo/x/../admin/%2e/")
    assert wsgi == {"SCRIPT_NAME": "/wsgi-echo", "PATH_INFO": "/admin/"}
    handler = answer_json(srv, "/path/a/../b//c/.")
    assert handler == {"path": "/path/b/c/", "target": "/path/a/../b//c/."}


def test_a_fragment_never_reaches_path_info(srv):
    """Clients do not send a fragment; one that does gets it dropped everywhere, as the
    router and ASGI did already."""
    assert answer_json(srv, "/wsgi-echo/admin#frag") == {
        "SCRIPT_NAME": "/wsgi-echo",
        "PATH_INFO": "/admin",
    }
    assert answer_json(srv, "/asgi-echo/admin#frag")["raw_path"] == "/asgi-echo/admin"


# -- 4. fileResponse never blocks the loop, and answers for odd paths -------------------------


def pipelined(srv: ServerProcess, first: str) -> tuple[tuple[int, dict[str, str], bytes], bytes]:
    """`first`, then /pid on the same connection: the first answer, and the second's body."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
        sock.sendall(get(first) + get("/pid")[:-2] + CLOSE)
        answer = read_response(sock, timeout=20)
        status, _, pid = read_response(sock, timeout=20)
    assert status == 200
    return answer, pid


@pytest.fixture(scope="module")
def fifo(tmp_path_factory):
    path = tmp_path_factory.mktemp("fifo") / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("handler", ["/file", "/async-file"])
def test_a_fifo_is_refused_without_freezing_the_worker(srv, fifo, handler):
    """Opening a FIFO for reading waits for a writer: on the loop, every client of the worker
    would wait with it. It is refused (500, logged) and the connection goes on."""
    (status, _, _), pid = pipelined(srv, f"{handler}?path={quote(str(fifo))}")
    assert status == 500
    assert pid.isdigit()
    wait_for(lambda: f"{fifo}' is not a regular file (a FIFO)" in srv.logs())


def test_an_asgi_pathsend_of_a_fifo_is_refused_without_freezing_the_worker(srv, fifo):
    (status, _, _), _ = pipelined(srv, f"/asgi-pathsend?path={quote(str(fifo))}")
    assert status == 500


def test_a_directory_is_refused(srv, files):
    (status, _, _), _ = pipelined(srv, f"/file?path={quote(str(files))}")
    assert status == 500
    wait_for(lambda: "is not a regular file (a directory)" in srv.logs())


@pytest.mark.parametrize(
    "path", ["{files}/public.txt%00.png", "%00", "{files}/missing.txt", "{files}/public.txt/x"]
)
def test_a_path_that_names_no_file_is_404_and_the_connection_goes_on(srv, files, path):
    (status, _, _), _ = pipelined(srv, "/file?path=" + path.format(files=quote(str(files))))
    assert status == 404


def test_a_nul_in_the_path_is_logged(srv, files):
    pipelined(srv, f"/file?path={quote(str(files))}/nul%00")
    wait_for(lambda: "invalid file path (embedded null byte): answered 404" in srv.logs())


# -- 5. redirects -------------------------------------------------------------------------------


def location(srv: ServerProcess, path: str) -> tuple[int, str]:
    status, headers, body = parse_response(raw_exchange(srv.port, get(path)[:-2] + CLOSE))
    return status, headers.get("location", body.decode("latin-1"))


@pytest.mark.parametrize(
    "to",
    ["/x%0d%0aSet-Cookie:%20evil=1", "/%09/evil.example", "/a%0ab", "/%00", "/x%7f", "%0d/x"],
)
def test_a_redirect_to_a_control_character_is_refused(srv, to):
    """Stripping CR/LF/tab would make another location (`/\\t/evil.example` became
    `//evil.example`, another host): redirect() raises ValueError instead."""
    for handler in ("/redirect", "/redirect-relative"):
        status, said = location(srv, f"{handler}?to={to}")
        assert status == 400
        assert said.startswith("refused: a redirect location may not hold a control character")


@pytest.mark.parametrize(
    ("to", "path"),
    [
        ("/new", "/new"),
        ("//evil.example", "/%2Fevil.example"),
        ("//evil.example/x", "/%2Fevil.example/x"),
        ("/%5Cevil.example", "/%5Cevil.example"),
        ("/%5C%5Cevil.example", "/%5C%5Cevil.example"),
        ("///evil.example", "/%2F/evil.example"),
        ("/a%20b/%C3%BC?q=%C3%BC%20x", "/a%20b/%C3%BC?q=%C3%BC%20x"),
        ("/a b/\u00fc", "/a%20b/%C3%BC"),
        ("/100%", "/100%25"),
    ],
)
def test_a_redirect_stays_on_this_host_and_is_encoded(srv, to, path):
    origin = "http://127.0.0.1"  # the Host the client sent
    assert location(srv, f"/redirect?to={quote(to)}") == (302, origin + path)
    assert location(srv, f"/redirect-relative?to={quote(to)}") == (302, path)


def test_a_relative_redirect_stays_relative_when_asked(srv):
    assert location(srv, "/redirect-relative?to=../list") == (302, "../list")
    assert location(srv, "/redirect?to=../list") == (302, "http://127.0.0.1/list")
    elsewhere = "https://example.com/a%20b"
    assert location(srv, f"/redirect-relative?to={quote(elsewhere)}") == (302, elsewhere)
    assert location(srv, f"/redirect?to={quote(elsewhere)}") == (302, elsewhere)
