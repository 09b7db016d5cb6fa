"""Settings as Houdini plugins and Django users write them: ADDRESS per port through
setSettingsForPort, settings files in Python, JSON or TOML holding names hwebserver does not
know (ignored, with one warning), and misspelled dict keys (an error suggesting the name)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest
from support import ServerProcess, can_connect, wait_for

import hwebserver

ORIGIN = "https://tools.example"


def start_unready(process: ServerProcess, names: tuple[str, ...]) -> dict[str, int]:
    """Start a service whose ports are not all on 127.0.0.1; its ports once announced."""
    process.start(wait=False)
    return wait_for(lambda: all(n in process.read_ports() for n in names) and process.read_ports())


def test_address_per_port_from_set_settings_for_port(tmp_path: Path) -> None:
    settings = {"main": {"ADDRESS": "127.0.0.2"}, "lab": {"ADDRESS": "127.0.0.3"}}
    process = ServerProcess(
        "configured_app.py",
        tmp_path,
        {"ports": ["lab"]},
        env={
            "HWEBSERVER_TEST_PORT_SETTINGS": json.dumps(settings),
            "HWEBSERVER_TEST_ECHO_PORTS": json.dumps(["lab"]),
        },
    )
    try:
        ports = start_unready(process, ("main", "lab"))
        wait_for(lambda: can_connect(ports["main"], "127.0.0.2"))
        assert httpx.get(f"http://127.0.0.2:{ports['main']}/hello").text == "Hello, world!"
        assert httpx.get(f"http://127.0.0.3:{ports['lab']}/hello").text == "Hello, world!"
        assert not can_connect(ports["main"], "127.0.0.1")
        assert not can_connect(ports["lab"], "127.0.0.1")
        assert not can_connect(ports["lab"], "127.0.0.2")
    finally:
        process.stop()


SETTINGS_FILES = {
    "settings.py": (
        "import os\n"
        "DEBUG = True\n"
        "INSTALLED_APPS = ['django.contrib.admin']\n"
        f"CORS_ORIGIN_WHITELIST = [{ORIGIN!r}]\n"
        "helper = 'lower-case names are ordinary variables'\n"
    ),
    "settings.json": json.dumps(
        {"DEBUG": True, "INSTALLED_APPS": [], "CORS_ORIGIN_WHITELIST": [ORIGIN]}
    ),
    "settings.toml": (
        f'DEBUG = true\nINSTALLED_APPS = ["x"]\nCORS_ORIGIN_WHITELIST = ["{ORIGIN}"]\n'
    ),
}


def warning_lines(logs: str) -> list[str]:
    return [line for line in logs.splitlines() if "does not know" in line]


@pytest.mark.parametrize("name", sorted(SETTINGS_FILES))
def test_settings_file_with_django_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(SETTINGS_FILES[name])
    with ServerProcess("configured_app.py", tmp_path / "run", {"settings": str(path)}) as srv:
        response = httpx.get(srv.url("/hello"), headers={"Origin": ORIGIN})
        assert response.headers["access-control-allow-origin"] == ORIGIN  # the known one applies
        lines = warning_lines(srv.logs())
        assert len(lines) == 1, srv.logs()
        assert str(path) in lines[0]
        assert "DEBUG" in lines[0] and "INSTALLED_APPS" in lines[0]
        assert "CORS_ORIGIN_WHITELIST" not in lines[0] and "helper" not in lines[0]


def test_the_warning_is_given_once_even_across_reloads(tmp_path: Path) -> None:
    path = tmp_path / "settings.py"
    path.write_text(SETTINGS_FILES["settings.py"])
    kwargs = {"settings": str(path), "workers": 2}
    with ServerProcess("configured_app.py", tmp_path / "run", kwargs) as srv:
        first = wait_for(lambda: len(srv.descendants()) == 2 and {p.pid for p in srv.descendants()})
        srv.signal(signal.SIGHUP)
        # The reload is over once two new workers (which read the file again) serve alone.
        wait_for(
            lambda: len(now := {p.pid for p in srv.descendants()}) == 2 and not now & first,
            timeout=30,
        )
        assert int(httpx.get(srv.url("/pid")).text) not in first
        assert len(warning_lines(srv.logs())) == 1, srv.logs()


def test_a_file_with_no_known_setting_says_so(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"SECRET_KEY": "x", "DEBUG": False}))
    with ServerProcess("configured_app.py", tmp_path / "run", {"settings": str(path)}) as srv:
        assert httpx.get(srv.url("/hello")).status_code == 200
        logs = srv.logs()
        assert f"settings file {path} defines no setting hwebserver knows" in logs


def test_a_misspelled_name_in_a_file_is_hinted(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('ALLOWED_HOST = ["example.com"]\n')
    with ServerProcess("configured_app.py", tmp_path / "run", {"settings": str(path)}) as srv:
        assert "ALLOWED_HOST (did you mean ALLOWED_HOSTS?)" in srv.logs()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.json", "{not json", "is not valid JSON"),
        ("broken.toml", "A = [", "is not valid TOML"),
        ("list.json", "[1, 2]", "must hold an object of settings"),
        ("wrong.json", '{"KEEPALIVE_TIMEOUT": "soon"}', "KEEPALIVE_TIMEOUT"),
    ],
)
def test_a_bad_settings_file_stops_run(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    process = ServerProcess("configured_app.py", tmp_path / "run", {"settings": str(path)})
    process.start_and_fail()
    assert "ValueError" in process.logs() and expected in process.logs()
    assert not process.read_ports()


def test_a_misspelled_dict_key_is_an_error_suggesting_the_name(tmp_path: Path) -> None:
    process = ServerProcess("configured_app.py", tmp_path, {"settings": {"KEEPALIVE_TIMOUT": 2}})
    process.start_and_fail()
    expected = "unknown setting 'KEEPALIVE_TIMOUT' (did you mean 'KEEPALIVE_TIMEOUT'?)"
    assert expected in process.logs()
    assert not process.read_ports()


def test_set_settings_for_port_suggests_the_closest_name() -> None:
    with pytest.raises(ValueError, match=r"'SSL_CERTIFCATE'.*did you mean 'SSL_CERTIFICATE'\?"):
        hwebserver.setSettingsForPort({"SSL_CERTIFCATE": "/x.pem"}, "lab")
    with pytest.raises(ValueError, match=r"did you mean 'ALLOWED_HOSTS'\?"):
        hwebserver.setSettingsForPort({"allowed_hosts": ["a"]})
