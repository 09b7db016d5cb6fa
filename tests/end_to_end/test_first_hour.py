"""A newcomer's first hour (issue 27): what used to fail quietly now says so, in one line that
names the file and what to do; the habits of other servers' users (--host, --bind, MODULE:ATTR,
HWEBSERVER_<SETTING>) work. Every test runs the service as a user would, in a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest
from supervision import edit
from support import ServerProcess, python_env, wait_for

from hwebserver.testing import free_port

# -- helpers ------------------------------------------------------------------------------------


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def cli(app: str | Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "hwebserver", str(app), *options]


def run_to_end(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
):
    return subprocess.run(
        command, env=python_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def warnings_of(srv: ServerProcess) -> list[str]:
    return [line for line in srv.logs().splitlines() if " WARNING " in line]


def one_line_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode != 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


HELLO = textwrap.dedent("""\
    import hwebserver

    @hwebserver.urlHandler("/hello")
    def hello(request):
        return hwebserver.Response("Hello, " + request.GET().get("name", "world"))
""")

WSGI_FILE = textwrap.dedent("""\
    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"wsgi says " + environ["QUERY_STRING"].encode()]
""")

ASGI_FILE = textwrap.dedent("""\
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].replace("lifespan.", "")
                await send({"type": "lifespan." + kind + ".complete"})
                if kind == "shutdown":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi says hi"})
""")


# -- 1. silent misconfiguration -----------------------------------------------------------------


def test_an_app_that_registers_nothing_is_a_warning_naming_it(tmp_path):
    app = write(tmp_path / "empty_service.py", "import hwebserver\n")
    with ServerProcess(app, tmp_path, command=cli(app, "--port", "0")) as srv:
        assert httpx.get(srv.url("/"), timeout=30).status_code == 404
        found = [line for line in warnings_of(srv) if "empty_service.py" in line]
        assert len(found) == 1, srv.logs()
        assert "registered nothing" in found[0] and "urlHandler" in found[0]


def test_a_wsgi_file_given_as_a_script_is_a_warning_with_the_command_that_serves_it(tmp_path):
    app = write(tmp_path / "wsgiapp.py", WSGI_FILE)
    with ServerProcess(app, tmp_path, command=cli(app.name, "--port", "0")) as srv:
        found = [line for line in warnings_of(srv) if "wsgiapp.py" in line]
        assert len(found) == 1, srv.logs()
        assert "hwebserver wsgiapp.py:application" in found[0]
        assert "registerWSGIApp" in found[0]


@pytest.mark.parametrize(
    ("module", "source", "attribute", "answer", "protocol"),
    [
        ("wsgiapp", WSGI_FILE, "application", "wsgi says q=1", "WSGI"),
        ("asgiapp", ASGI_FILE, "app", "asgi says hi", "ASGI"),
    ],
)
def test_module_colon_attribute_serves_the_application_and_says_how(
    tmp_path, module, source, attribute, answer, protocol
):
    """As gunicorn and uvicorn take it: `hwebserver wsgiapp:application`."""
    write(tmp_path / f"{module}.py", source)
    command = cli(f"{module}:{attribute}", "--port", "0")
    with ServerProcess(tmp_path / f"{module}.py", tmp_path, command=command) as srv:
        assert httpx.get(srv.url("/any/path?q=1"), timeout=30).text == answer
        assert (
            f"serving {module}:{attribute} at / as a{'n' if protocol == 'ASGI' else ''} {protocol}"
            in srv.logs()
        )
        assert not warnings_of(srv), srv.logs()


def test_module_colon_attribute_that_is_missing_or_no_application_is_one_line(tmp_path):
    write(tmp_path / "wsgiapp.py", WSGI_FILE + "\nSETTING = 3\n")
    one_line_failure(run_to_end(cli("wsgiapp:nope"), tmp_path), "wsgiapp", "'nope'")
    one_line_failure(
        run_to_end(cli("wsgiapp:SETTING"), tmp_path), "wsgiapp:SETTING", "int", "not a WSGI"
    )


def test_a_missing_static_directory_is_a_warning_with_the_absolute_path(tmp_path):
    """Relative to the working directory, not the script: the warning shows where it looked."""
    app = write(
        tmp_path / "site_service.py",
        HELLO + 'hwebserver.registerStaticFilesDirectory("public_html", "/static")\n'
        "hwebserver.run(port=0, in_background=False)\n",
    )
    elsewhere = tmp_path / "elsewhere"
    with ServerProcess(app, elsewhere, command=[sys.executable, str(app)]) as srv:
        found = [line for line in warnings_of(srv) if "public_html" in line]
        assert len(found) == 1, srv.logs()
        assert str(elsewhere / "public_html") in found[0]
        assert "site_service.py" in found[0] and "/static" in found[0]
        assert "does not exist" in found[0]


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        ('port="abc"', ["port", "'abc'"]),
        ("port=52141.5", ["port", "52141.5"]),
        ("port=0, max_port=-3", ["max_port", "-3"]),
        ("port=0, workers=2.5", ["workers", "2.5"]),
        ("port=0, max_request_size=-1", ["max_request_size", "-1"]),
        ('port=0, max_in_memory_file_upload_size="big"', ["max_in_memory_file_upload_size", "big"]),
    ],
)
def test_run_names_the_argument_and_the_value_it_refuses(tmp_path, arguments, fragments):
    script = write(
        tmp_path / "service.py", HELLO + f"hwebserver.run({arguments}, in_background=False)\n"
    )
    # python service.py: run() raises, and its message says which argument.
    result = run_to_end([sys.executable, str(script)], tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: run(): "), result.stderr
    for fragment in fragments:
        assert fragment in last, last
    # hwebserver service.py: the same message, in one line.
    one_line_failure(run_to_end(cli(script), tmp_path), *fragments)


def test_a_script_that_ends_while_serving_in_the_background_is_told_so(tmp_path):
    script = write(
        tmp_path / "background.py",
        HELLO + "hwebserver.run(port=0, in_background=True)\nprint('script done')\n",
    )
    result = run_to_end([sys.executable, str(script)], tmp_path)
    assert result.returncode == 0, result.stderr
    found = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert len(found) == 1, result.stderr
    assert "background.py" in found[0] and "in_background=False" in found[0]


def test_a_background_server_stopped_before_the_script_ends_is_no_warning(tmp_path):
    script = write(
        tmp_path / "background.py",
        HELLO
        + """\
import socket, time
ports = []
hwebserver.run(port=0, in_background=True, port_callback=lambda name, port: ports.append(port))
hwebserver.requestShutdown()
for _ in range(3000):  # until the port refuses: the server stopped
    try:
        socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
    except OSError:
        break
    time.sleep(0.01)
""",
    )
    result = run_to_end([sys.executable, str(script)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert " WARNING " not in result.stderr, result.stderr


# -- 2. debug in production ---------------------------------------------------------------------

HOUDINI_DEBUG_SCRIPT = textwrap.dedent("""\
    import hwebserver

    @hwebserver.urlHandler("/fail")
    def fail(request):
        raise LookupError("secret detail of the render farm")

    hwebserver.run(8008, True)  # as SideFX's examples start
""")


def test_no_debug_turns_off_the_scripts_debug_and_500_bodies_keep_no_traceback(tmp_path):
    script = write(tmp_path / "houdini_service.py", HOUDINI_DEBUG_SCRIPT)
    command = cli(script, "--no-debug", "--port", "0")
    with ServerProcess(script, tmp_path, command=command) as srv:
        answer = httpx.get(srv.url("/fail"), timeout=30)
        assert answer.status_code == 500
        assert "Traceback" not in answer.text and "secret detail" not in answer.text
        # The log keeps it, for the operator.
        wait_for(lambda: "LookupError: secret detail of the render farm" in srv.logs())
        assert "Traceback" in srv.logs()
    with ServerProcess(script, tmp_path, command=cli(script, "--port", "0")) as srv:
        assert "Traceback" in httpx.get(srv.url("/fail"), timeout=30).text  # the script's debug


# -- 3. messages --------------------------------------------------------------------------------

QUICKSTART = HELLO + "hwebserver.run(port=0, in_background=False)\n"


@pytest.mark.parametrize("how", ["python", "cli"])
def test_a_broken_edit_found_by_a_reload_reads_the_same_both_ways(tmp_path, how):
    """`python service.py` printed Python's raw SyntaxError before the supervisor's line; both
    ways now log one entry: the reload's failure, then the user's frames only."""
    script = write(tmp_path / "service.py", QUICKSTART)
    command = [sys.executable, str(script)] if how == "python" else cli(script, "--port", "0")
    with ServerProcess(script, tmp_path, command=command) as srv:
        edit(script, "def hello(request):", "def hello(request:")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "keeps serving" in srv.logs(), timeout=60)
        wait_for(lambda: "SyntaxError: '(' was never closed\n" in srv.logs(), timeout=30)
        lines = srv.logs().splitlines()
        failed = next(i for i, line in enumerate(lines) if "reload failed (generation 1)" in line)
        assert (
            "failed to start: SyntaxError: '(' was never closed (service.py, line 4)"
            in (lines[failed])
        )
        assert lines[failed + 1] == f'  File "{script}", line 4'
        assert lines[failed + 4] == "SyntaxError: '(' was never closed"
        assert sum("was never closed" in line for line in lines) == 2, srv.logs()  # no raw copy
        assert "importlib" not in srv.logs() and "hwebserver/" not in srv.logs()
        assert httpx.get(srv.url("/hello"), timeout=30).text == "Hello, world"


def test_an_exception_at_import_under_the_command_line_shows_the_users_frames_only(tmp_path):
    """As a reload reports it: `failed to start: <exception>`, then the traceback from the
    user's first frame (it showed hwebserver's __main__ and importlib's frames first)."""
    script = write(
        tmp_path / "service.py",
        HELLO + "\ndef configure():\n    raise RuntimeError('no farm configured')\n\nconfigure()\n",
    )
    result = run_to_end(cli(script, "--port", "0"), tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "hwebserver: failed to start: RuntimeError: no farm configured"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2] == f'  File "{script}", line 10, in <module>', result.stderr
    assert lines[-1] == "RuntimeError: no farm configured"
    assert "importlib" not in result.stderr and "__main__.py" not in result.stderr
    debug = run_to_end(cli(script, "--port", "0", "--debug"), tmp_path)
    assert "__main__.py" in debug.stderr  # --debug: everything, as Python prints it


def test_port_message_only_when_a_run_of_the_script_was_replaced(tmp_path):
    guarded = write(
        tmp_path / "guarded.py",
        HELLO + 'if __name__ == "__main__":\n    hwebserver.run(8008, in_background=False)\n',
    )
    with ServerProcess(guarded, tmp_path, command=cli(guarded, "--port", "0")) as srv:
        assert httpx.get(srv.url("/hello"), timeout=30).text == "Hello, world"
        assert "replaces port" not in srv.logs()
    calling = write(tmp_path / "calling.py", HELLO + "hwebserver.run(8008, in_background=False)\n")
    with ServerProcess(calling, tmp_path, command=cli(calling, "--port", "0")) as srv:
        assert "--port 0 replaces port 8008 of the script's run()" in srv.logs()


def test_start_says_how_to_stop_and_a_drain_says_what_it_waits_for(tmp_path):
    release, started = tmp_path / "release", tmp_path / "started"
    script = write(
        tmp_path / "service.py",
        f"""\
        import os, time
        import hwebserver

        @hwebserver.urlHandler("/render")
        def render(request):
            open({str(started)!r}, "w").close()
            for _ in range(6000):  # until the test lets it go (at most a minute)
                if os.path.exists({str(release)!r}):
                    break
                time.sleep(0.01)
            return "rendered"

        hwebserver.run(port=0, in_background=False)
        """,
    )
    with ServerProcess(script, tmp_path) as srv:
        assert "press Ctrl-C to stop" in srv.logs()
        answers: list[object] = []

        def ask() -> None:
            try:
                answers.append(httpx.get(srv.url("/render?shot=10"), timeout=60).status_code)
            except httpx.HTTPError as exc:
                answers.append(exc)

        client = threading.Thread(target=ask)
        client.start()
        try:
            wait_for(started.exists, timeout=30)
            srv.signal(signal.SIGINT)
            wait_for(lambda: "for 1 in progress: GET /render" in srv.logs(), timeout=30)
            logs = srv.logs()
            assert "shutting down (SIGINT): finishing what is in progress" in logs
            assert logs.count("a second Ctrl-C (SIGINT) stops at once") == 2, logs
            assert srv.proc is not None and srv.proc.poll() is None  # still waiting
            srv.signal(signal.SIGINT)
            assert srv.wait(30) == 0
        finally:
            release.touch()
            client.join(60)
        assert answers and answers[0] != 200  # cut: the second Ctrl-C did not wait


def test_access_lines_carry_the_query_string(tmp_path):
    script = write(tmp_path / "service.py", QUICKSTART)
    with ServerProcess(script, tmp_path, command=cli(script, "--verbosity", "high")) as srv:
        assert httpx.get(srv.url("/hello?name=lab&shot=10"), timeout=30).text == "Hello, lab"
        wait_for(lambda: '"GET /hello?name=lab&shot=10" 200' in srv.logs())
    env = {"HWEBSERVER_ACCESS_LOG_FORMAT": "json"}
    srv = ServerProcess(script, tmp_path, command=cli(script, "--verbosity", "high"), env=env)
    with srv:
        httpx.get(srv.url("/hello?name=lab"), timeout=30)

        def json_lines() -> list[dict[str, object]]:
            return [
                json.loads(line[line.index("{") :])
                for line in srv.logs().splitlines()
                if '"request_id"' in line
            ]

        wait_for(json_lines)
        assert json_lines()[0]["path"] == "/hello" and json_lines()[0]["query"] == "name=lab"


# -- 4. habits of the ecosystem -----------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["--host", "--bind"])
def test_host_and_bind_as_uvicorn_and_gunicorn_users_type_them(tmp_path, spelling):
    script = write(tmp_path / "service.py", HELLO)
    port = free_port()
    options = ["--host", "127.0.0.1", "--port", str(port)]
    if spelling == "--bind":
        options = ["--bind", f"127.0.0.1:{port}"]
    with ServerProcess(script, tmp_path, command=cli(script, *options)) as srv:
        assert srv.port == port
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=30).text == "Hello, world"
    result = run_to_end(cli(script, "--bind", "127.0.0.1"), tmp_path)
    assert result.returncode == 2 and "HOST:PORT" in result.stderr


def test_settings_from_the_environment_between_the_code_and_the_file(tmp_path):
    settings = write(tmp_path / "prod_settings.py", 'ACCESS_LOG_FORMAT = "text"\n')
    script = write(tmp_path / "service.py", HELLO)
    command = cli(script, "--port", "0", "--verbosity", "high", "--settings", str(settings))
    env = {"HWEBSERVER_ACCESS_LOG_FORMAT": "json"}
    with ServerProcess(script, tmp_path, command=command, env=env) as srv:  # env over the file
        httpx.get(srv.url("/hello"), timeout=30)
        wait_for(lambda: '"path":"/hello"' in srv.logs())
    coded = write(
        tmp_path / "coded.py",
        HELLO + 'hwebserver.run(port=0, settings={"ACCESS_LOG_FORMAT": "text"}, verbosity=2)\n',
    )
    with ServerProcess(coded, tmp_path, command=[sys.executable, str(coded)], env=env) as srv:
        httpx.get(srv.url("/hello"), timeout=30)  # the code's own dict wins over the environment
        wait_for(lambda: '"GET /hello" 200' in srv.logs())


@pytest.mark.parametrize(
    ("variable", "value", "fragments"),
    [
        ("HWEBSERVER_GRACEFUL_TIMEOUT", "soon", ["HWEBSERVER_GRACEFUL_TIMEOUT", "float", "soon"]),
        ("HWEBSERVER_ACCESS_LOG_FORMAT", "xml", ["HWEBSERVER_ACCESS_LOG_FORMAT", "text, json"]),
        ("HWEBSERVER_MAX_REQUESTS", "1.5", ["HWEBSERVER_MAX_REQUESTS", "int", "1.5"]),
    ],
)
def test_a_bad_environment_setting_is_one_line_naming_the_variable(
    tmp_path, variable, value, fragments
):
    script = write(tmp_path / "service.py", HELLO)
    result = run_to_end(cli(script, "--port", "0"), tmp_path, env={variable: value})
    one_line_failure(result, *fragments)


def test_a_misspelt_environment_setting_is_a_warning(tmp_path):
    script = write(tmp_path / "service.py", HELLO)
    env = {"HWEBSERVER_GRACEFUL_TIMOUT": "5"}
    with ServerProcess(script, tmp_path, command=cli(script, "--port", "0"), env=env) as srv:
        found = [line for line in warnings_of(srv) if "HWEBSERVER_GRACEFUL_TIMOUT" in line]
        assert found and "did you mean HWEBSERVER_GRACEFUL_TIMEOUT?" in found[0], srv.logs()


def test_help_shows_the_control_commands_and_the_new_spellings():
    result = subprocess.run(
        [sys.executable, "-m", "hwebserver", "--help"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    usage = result.stdout.split("\n\n")[0]
    assert "status|reload|stop" in usage, usage
    for spelling in ("--host", "--bind", "--no-debug", "HWEBSERVER_", "MODULE:ATTR"):
        assert spelling in result.stdout, spelling
