"""TestClient: the handlers this process registered, served on a free port for one `with`.

The server is the one `run(in_background=True)` starts: requests go through the real
parsing, policies, handler threads, API endpoint and WebSocket framing, over loopback
sockets, from httpx and the `websockets` client.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from ..api.errors import APIError, OperationFailed
from ..api.functions.decorator import API_PATH
from ..run import run
from ..worker.common.config import Listener
from ..worker.process import current
from ..worker.process.inprocess import InProcessServer
from .websocket import WebSocketSession

# run() arguments the client sets itself.
RESERVED = ("in_background", "port_callback")
# How long leaving the `with` waits for the server to stop: a request in flight may take up to
# GRACEFUL_TIMEOUT (30 s by default) to finish.
STOP_TIMEOUT = 60.0
# Loopback addresses to reach a listener bound to every interface.
REACHABLE = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class TestClient:
    """Serve the handlers registered in this process while the `with` block runs, on a free
    port, and talk to them over real HTTP.

    Args:
        settings: run()'s `settings` (a dict or a settings file).
        ports: run()'s `ports` (extra listeners; `url(path, port=name)` reaches them).
        timeout: seconds each request, WebSocket open or receive may take.
        **run_options: any other run() argument (`debug=True`, `max_request_size=...`);
            `port` defaults to 0 (a free port the OS picks).

    Example:
        ```python
        with TestClient() as client:
            assert client.get("/hello").text == "Hello"
            assert client.api("geo.vector_length", 3, 4, 0) == 5.0
        ```
    """

    __test__ = False  # not a test class, whatever its name says to pytest

    def __init__(
        self,
        settings: str | Mapping[str, Any] | None = None,
        ports: Iterable[Any] | None = None,
        *,
        timeout: float = 30.0,
        **run_options: Any,
    ) -> None:
        for name in RESERVED:
            if name in run_options:
                raise TypeError(f"TestClient sets run()'s {name} itself")
        self.run_options: dict[str, Any] = {
            "port": 0,
            **run_options,
            "settings": settings,
            "ports": list(ports or ()),
        }
        self.timeout = timeout
        self.base_urls: dict[str, str] = {}
        self._server: InProcessServer | None = None
        self._http: httpx.Client | None = None
        self._websockets: list[WebSocketSession] = []

    # -- serving -------------------------------------------------------------------------------
    def __enter__(self) -> TestClient:
        run(in_background=True, **self.run_options)
        server = current.get()
        if not isinstance(server, InProcessServer):  # stopped already (requestShutdown())
            raise OperationFailed("the test server stopped as soon as it started")
        self._server = server
        try:
            listeners = server.server.listeners
            self.base_urls = {listener.name: base_url(listener) for listener in listeners}
            uses_tls = any(listener.options.SSL_CERTIFICATE for listener in listeners)
            self._http = httpx.Client(
                base_url=self.base_urls["main"],
                timeout=self.timeout,
                trust_env=False,  # no proxy from the environment between a test and loopback
                verify=not uses_tls,  # a test server's certificate is its own
            )
        except BaseException:
            self.close()  # the server started: it must not outlive a failed start
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections, stop serving, and wait until the ports are free."""
        for session in self._websockets:
            session.close()
        self._websockets.clear()
        if self._http is not None:
            self._http.close()
            self._http = None
        server, self._server = self._server, None
        if server is None:
            return
        server.request_stop()
        if server.thread is not None:
            server.thread.join(STOP_TIMEOUT)
            if server.thread.is_alive():
                raise RuntimeError(f"the test server did not stop within {STOP_TIMEOUT:g}s")

    @property
    def http(self) -> httpx.Client:
        """The httpx client (relative URLs go to the main port), for what the verbs below
        do not cover."""
        if self._http is None:
            raise RuntimeError("use the TestClient in a `with` block: it serves only there")
        return self._http

    @property
    def port(self) -> int:
        """The main port's number."""
        return httpx.URL(self.url()).port or 0

    def url(self, path: str = "/", port: str = "main") -> str:
        """The absolute URL of `path` on a port (by run()'s name for it: "main", "lab"...)."""
        if port not in self.base_urls:
            raise KeyError(f"no port named {port!r}; the ports are {sorted(self.base_urls)}")
        return self.base_urls[port] + path

    # -- HTTP ----------------------------------------------------------------------------------
    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Any method; httpx's arguments (`params`, `data`, `files`, `json`, `headers`...)."""
        return self.http.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET `url` (relative to the main port); httpx's arguments."""
        return self.http.get(url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        """HEAD `url` (relative to the main port); httpx's arguments."""
        return self.http.head(url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        """OPTIONS `url` (relative to the main port); httpx's arguments."""
        return self.http.options(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST `url` (relative to the main port); httpx's arguments."""
        return self.http.post(url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        """PUT `url` (relative to the main port); httpx's arguments."""
        return self.http.put(url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        """PATCH `url` (relative to the main port); httpx's arguments."""
        return self.http.patch(url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """DELETE `url` (relative to the main port); httpx's arguments."""
        return self.http.delete(url, **kwargs)

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives (`iter_bytes()`, `iter_lines()`)."""
        with self.http.stream(method, url, **kwargs) as response:
            yield response

    # -- API functions -------------------------------------------------------------------------
    def api(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call an API function as Houdini's webapiclient does (POST /api, the call as JSON);
        `bytes` or open-file keyword values travel as file parts (`UploadedFile`s). `name` is
        positional only, so a function may have an argument called `name`.

        Returns the decoded result: JSON as Python values, text as str, binary as bytes.
        Raises `hwebserver.APIError` with the server's message and `status` for any error
        answer (422 for an APIError the function raised, 404 for an unknown name, 400 for
        arguments that do not bind, 500 for an exception).
        """
        files = {key: value for key, value in kwargs.items() if travels_as_file(value)}
        plain = {key: value for key, value in kwargs.items() if key not in files}
        form = {"json": json.dumps([name, list(args), plain])}
        parts = {
            key: (key, file_content(value), "application/octet-stream")
            for key, value in files.items()
        }
        response = self.post(
            API_PATH, data=form, files=parts or None, headers={"Accept": "application/json"}
        )
        return decode_answer(response)

    # -- WebSockets ----------------------------------------------------------------------------
    def websocket_connect(
        self,
        path: str,
        subprotocols: Iterable[str] | None = None,
        headers: Mapping[str, str] | None = None,
        port: str = "main",
    ) -> WebSocketSession:
        """Open a WebSocket (use it in a `with`); a refused upgrade raises
        `websockets.exceptions.InvalidStatus` (its `response.status_code`: 403, 404...)."""
        url = self.url(path, port)
        secure = url.startswith("https:")
        context = None
        if secure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        opening = connect(
            ("wss:" if secure else "ws:") + url.split(":", 1)[1],
            ssl=context,
            subprotocols=[Subprotocol(name) for name in subprotocols or ()] or None,
            additional_headers=dict(headers or {}),
            proxy=None,
            open_timeout=self.timeout,
            close_timeout=self.timeout,
        )
        # Entered here, left by the session's close(): the client's recommended form, with
        # the connection kept open past this call.
        session = WebSocketSession(opening.__enter__(), self.timeout)
        self._websockets.append(session)
        return session


def base_url(listener: Listener) -> str:
    host, port = listener.sock.getsockname()[:2]
    host = REACHABLE.get(host, host)
    scheme = "https" if listener.options.SSL_CERTIFICATE else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def travels_as_file(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview)) or callable(
        getattr(value, "read", None)
    )


def file_content(value: Any) -> Any:
    return bytes(value) if isinstance(value, (bytearray, memoryview)) else value


def decode_answer(response: httpx.Response) -> Any:
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if response.status_code >= 400:
        message: Any = response.text
        if kind == "application/json":
            try:
                decoded = response.json()
            except ValueError:
                decoded = message
            message = decoded.get("error", decoded) if isinstance(decoded, dict) else decoded
        raise APIError(message, response.status_code)
    if kind == "application/json":
        return response.json()
    if kind.startswith("text/"):
        return response.text
    return response.content
