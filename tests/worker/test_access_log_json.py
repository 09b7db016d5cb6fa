"""ACCESS_LOG_FORMAT "json": one JSON object per access line, and a request id (the client's
X-Request-Id, else one generated) in the line and in the response's headers."""

from __future__ import annotations

import json

import httpx
from supervision import worker_pids
from support import ServerProcess, wait_for


def json_lines(srv: ServerProcess) -> list[dict]:
    found = []
    for line in srv.logs().splitlines():
        start = line.find("{")
        if start >= 0 and '"request_id"' in line:
            found.append(json.loads(line[start:]))
    return found


def test_json_access_lines_carry_the_request_id_of_the_response(tmp_path):
    settings = {"ACCESS_LOG_FORMAT": "json"}
    with ServerProcess("admin_app.py", tmp_path, {"settings": settings, "verbosity": 2}) as srv:
        with httpx.Client() as client:
            kept = client.get(srv.url("/hello?x=1"), headers={"X-Request-Id": "lb-7f3a.1"})
            made = client.get(srv.url("/hello"))
            odd = client.get(srv.url("/boom"), headers={"X-Request-Id": "x" * 500})
        assert kept.headers["x-request-id"] == "lb-7f3a.1"
        generated = made.headers["x-request-id"]
        assert generated and generated != "lb-7f3a.1"
        replaced = odd.headers["x-request-id"]
        assert odd.status_code == 500 and replaced != "x" * 500 and len(replaced) < 40
        lines = wait_for(
            lambda: (lambda found: found if len(found) >= 3 else None)(json_lines(srv))
        )
        by_id = {line["request_id"]: line for line in lines}
        first = by_id["lb-7f3a.1"]
        assert first["method"] == "GET" and first["path"] == "/hello" and first["status"] == 200
        assert first["bytes"] == len(kept.content) and first["duration_ms"] >= 0
        assert first["pid"] in worker_pids(srv)
        assert first["client"].startswith("127.0.0.1:") and first["time"].endswith("Z")
        assert by_id[generated]["status"] == 200
        assert by_id[replaced]["status"] == 500


def test_text_format_is_unchanged_and_has_no_request_id(tmp_path):
    with ServerProcess("admin_app.py", tmp_path, {"verbosity": 2}) as srv:
        response = httpx.get(srv.url("/hello"), headers={"X-Request-Id": "abc"}, timeout=10)
        assert "x-request-id" not in response.headers
        wait_for(lambda: '"GET /hello" 200' in srv.logs())
        assert '"request_id"' not in srv.logs()
