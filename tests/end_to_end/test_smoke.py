"""The basic promise: a service script answers real clients."""

from __future__ import annotations

import httpx
from support import server


def test_plain_and_async_handlers_answer(tmp_path):
    with server(tmp_path) as srv:
        with httpx.Client() as client:
            response = client.get(srv.url("/hello"))
            assert response.status_code == 200
            assert response.text == "Hello, world!"
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["server"] == "hwebserver"
            assert "date" in response.headers
            echoed = client.get(srv.url("/async-echo/x?a=1")).json()
            assert echoed["path"] == "/async-echo/x"
            assert echoed["GET"] == {"a": "1"}
