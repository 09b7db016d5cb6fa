"""TLS with a self-signed certificate made by the test: HTTPS, SSL_REDIRECT, HSTS, client certs."""

from __future__ import annotations

import json
import random
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from certificates import make_certificate
from support import ServerProcess, parse_response, raw_exchange, read_all

HSTS = "max-age=3600; includeSubDomains; preload"


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_client_pki(directory: Path) -> dict[str, Path]:
    """A private CA and a client certificate it signed."""
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    client, client_key = directory / "client.pem", directory / "client-key.pem"
    request, extensions = directory / "client.csr", directory / "client.ext"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
            "-out", str(ca), "-days", "2", "-subj", "/CN=test private CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(client_key),
            "-out", str(request), "-subj", "/CN=render-node-7")  # fmt: skip
    extensions.write_text("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(client), "-days", "2",
            "-extfile", str(extensions))  # fmt: skip
    return {"ca": ca, "client": client, "client_key": client_key}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    cert, key = make_certificate(directory)
    static = directory / "public"
    static.mkdir()
    (static / "big.bin").write_bytes(random.Random(7).randbytes(700_001))
    return {"cert": cert, "key": key, "static": static, **make_client_pki(directory)}


@pytest.fixture(scope="module")
def srv(pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tls = {"SSL_CERTIFICATE": str(pki["cert"]), "SSL_CERTIFICATE_KEY": str(pki["key"])}
    port_settings = {
        "main": {
            **tls,
            "SECURE_HSTS_SECONDS": 3600,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
            "SECURE_HSTS_PRELOAD": True,
        },
        "plain": {
            "SSL_REDIRECT": True,
            "SSL_REDIRECT_EXEMPT": ["^health$", "^public/"],
            "SECURE_HSTS_SECONDS": 3600,
        },
        "elsewhere": {"SSL_REDIRECT": True, "SSL_REDIRECT_HOST": "secure.example:8443"},
        "proxy": {"SSL_REDIRECT": True, "USE_X_FORWARDED_HOST": True, "SECURE_HSTS_SECONDS": 60},
        "mutual": {**tls, "SSL_VERIFY_PEER": True},
        "private": {**tls, "SSL_VERIFY_PEER": True, "SSL_CLIENT_CA": str(pki["ca"])},
    }
    extra = ["plain", "elsewhere", "proxy", "mutual", "private"]
    process = ServerProcess(
        "configured_app.py",
        tmp_path_factory.mktemp("tls-server"),
        {"ports": extra, "settings": {"HEADER_TIMEOUT": 2}},
        env={
            "HWEBSERVER_TEST_PORT_SETTINGS": json.dumps(port_settings),
            "HWEBSERVER_TEST_ECHO_PORTS": json.dumps(extra),
            "HWEBSERVER_TEST_STATIC": json.dumps([[str(pki["static"]), "/static", -1]]),
        },
        expect_ports=("main", *extra),
    )
    with process:
        yield process


@pytest.fixture
def client(pki: dict[str, Path]) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(pki["cert"]))
    with httpx.Client(verify=context, timeout=10) as c:
        yield c


def https(srv: ServerProcess, path: str, port_name: str = "main") -> str:
    return f"https://127.0.0.1:{srv.ports[port_name]}{path}"


def test_https_request_is_secure_and_gets_hsts(srv, client):
    response = client.get(https(srv, "/echo?a=1"))
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["secure"] is True
    assert echoed["absolute"].startswith("https://127.0.0.1:")
    assert response.headers["strict-transport-security"] == HSTS


def test_static_file_and_range_over_tls(srv, client, pki):
    data = (pki["static"] / "big.bin").read_bytes()
    whole = client.get(https(srv, "/static/big.bin"))
    assert whole.status_code == 200 and whole.content == data
    part = client.get(https(srv, "/static/big.bin"), headers={"Range": "bytes=100000-399999"})
    assert part.status_code == 206
    assert part.content == data[100000:400000]


def test_plain_http_to_the_tls_port_gets_no_answer(srv):
    data = raw_exchange(srv.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not data.startswith(b"HTTP/1.1 200")


def test_ssl_redirect_sends_plain_http_to_https(srv):
    port = srv.ports["plain"]
    with httpx.Client(timeout=10) as client:
        response = client.get(f"http://127.0.0.1:{port}/echo/a%20b?x=1&y=2")
        assert response.status_code == 301
        assert response.headers["location"] == f"https://127.0.0.1:{port}/echo/a%20b?x=1&y=2"
        # HSTS is never sent over plain HTTP
        assert "strict-transport-security" not in response.headers


def test_ssl_redirect_exempt_paths_are_served(srv):
    port = srv.ports["plain"]
    with httpx.Client(timeout=10) as client:
        assert client.get(f"http://127.0.0.1:{port}/health").status_code == 404
        exempt = client.get(f"http://127.0.0.1:{port}/public/thing")
        assert exempt.status_code == 404  # no handler there, but not redirected
        assert "strict-transport-security" not in exempt.headers
        assert client.get(f"http://127.0.0.1:{port}/healthy").status_code == 301


def test_ssl_redirect_host(srv):
    port = srv.ports["elsewhere"]
    with httpx.Client(timeout=10) as client:
        response = client.get(f"http://127.0.0.1:{port}/hello")
        assert response.status_code == 301
        assert response.headers["location"] == "https://secure.example:8443/hello"


def test_ssl_redirect_refuses_a_malformed_host(srv):
    data = raw_exchange(
        srv.ports["plain"],
        b"GET /x HTTP/1.1\r\nHost: evil.example/path\r\nConnection: close\r\n\r\n",
    )
    status, headers, _ = parse_response(data)
    assert status == 400
    assert "location" not in headers


def test_forwarded_proto_counts_as_secure_where_trusted(srv):
    port = srv.ports["proxy"]
    with httpx.Client(timeout=10) as client:
        behind_proxy = client.get(
            f"http://127.0.0.1:{port}/echo",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example"},
        )
        assert behind_proxy.status_code == 200
        assert behind_proxy.headers["strict-transport-security"] == "max-age=60"
        direct = client.get(f"http://127.0.0.1:{port}/echo", headers={"Host": "public.example"})
        assert direct.status_code == 301
        assert direct.headers["location"] == "https://public.example/echo"


def test_verify_peer_refuses_a_client_without_certificate(srv, pki):
    context = ssl.create_default_context(cafile=str(pki["cert"]))
    with socket.create_connection(("127.0.0.1", srv.ports["mutual"]), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = tls.recv(65536)
        except (ssl.SSLError, ConnectionError):
            answer = b""
    assert not answer.startswith(b"HTTP/1.1")


def private_port_answer(srv, pki, certificate: Path | None, key: Path | None) -> bytes:
    context = ssl.create_default_context(cafile=str(pki["cert"]))
    if certificate is not None:
        context.load_cert_chain(str(certificate), str(key))
    with socket.create_connection(("127.0.0.1", srv.ports["private"]), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return read_all(tls)
        except (ssl.SSLError, ConnectionError):
            return b""


def test_client_ca_admits_the_certificates_it_signed(srv, pki):
    answer = private_port_answer(srv, pki, pki["client"], pki["client_key"])
    assert answer.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("who", ["no certificate", "a certificate the CA did not sign"])
def test_client_ca_refuses_everyone_else(srv, pki, who):
    if who == "no certificate":
        answer = private_port_answer(srv, pki, None, None)
    else:  # self-signed: a CA of its own, not the port's
        answer = private_port_answer(srv, pki, pki["cert"], pki["key"])
    assert not answer.startswith(b"HTTP/1.1")


def test_the_verify_peer_port_still_serves_others_after_refusals(srv, client):
    # the refused handshakes above must not have hurt the worker
    assert client.get(https(srv, "/hello")).text == "Hello, world!"


def test_a_silent_client_cannot_hold_a_tls_handshake_open(srv):
    # HEADER_TIMEOUT (2 s here) also bounds the TLS handshake
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as raw:
        raw.settimeout(30)
        assert raw.recv(1024) == b""  # closed by the server, long before our 30 s


def test_a_burst_of_tls_clients_is_served(srv: ServerProcess, pki: dict[str, Path]) -> None:
    """Connections opened faster than the worker turns its loop are taken from the backlog
    together (process/backlog.py): over TLS too, each one's handshake and answer as usual."""
    context = ssl.create_default_context(cafile=str(pki["cert"]))
    raw = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(60)]
    try:
        for sock in raw:
            with context.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                status, _, _ = parse_response(read_all(tls))
                assert status == 200
    finally:
        for sock in raw:
            sock.close()


def tls12_handshake(srv: ServerProcess, pki: dict[str, Path], cipher: str) -> str:
    """A TLS 1.2 client offering only `cipher`: the suite agreed on (SSLError if none)."""
    context = ssl.create_default_context(cafile=str(pki["cert"]))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher)
    with (
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")
        agreed = sock.cipher()
        assert agreed is not None
        return agreed[0]


@pytest.mark.parametrize(
    "cipher",
    ["ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA", "AES128-SHA"],
)
def test_tls12_offers_no_cbc_suite(srv, pki, cipher):
    """CBC suites (padding oracles: Lucky13, POODLE's kin) are not offered at TLS 1.2, nor
    RSA key exchange (no forward secrecy): a client that knows nothing else is refused."""
    with pytest.raises(ssl.SSLError):
        tls12_handshake(srv, pki, cipher)


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"])
def test_tls12_offers_aead_suites(srv, pki, cipher):
    assert tls12_handshake(srv, pki, cipher) == cipher
