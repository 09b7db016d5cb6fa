"""Bad settings stop run() at start-up with a ValueError naming the setting; good ones apply."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ServerProcess

import hwebserver


def failed_start(
    tmp_path: Path,
    run_kwargs: dict[str, Any] | None = None,
    port_settings: dict[str, Any] | None = None,
) -> str:
    """Run the app with these settings; it must exit without serving. Returns its output."""
    process = ServerProcess(
        "configured_app.py",
        tmp_path / "server",
        run_kwargs,
        env={"HWEBSERVER_TEST_PORT_SETTINGS": json.dumps(port_settings or {})},
    )
    logs = process.start_and_fail()
    assert process.read_ports() == {}, "a port was announced despite the bad settings"
    return logs


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"NOT_A_SETTING": 1}, "NOT_A_SETTING"),
        ({"SECURE_HSTS_SECONDS": "3600"}, "SECURE_HSTS_SECONDS"),
        ({"SSL_REDIRECT": "yes"}, "SSL_REDIRECT"),
        ({"CORS_ORIGIN_WHITELIST": 5}, "CORS_ORIGIN_WHITELIST"),
        ({"ALLOWED_HOSTS": ["ok", 3]}, "ALLOWED_HOSTS"),
        ({"MIN_LOG_SEVERITY": 9}, "MIN_LOG_SEVERITY"),
        ({"MIN_LOG_SEVERITY": "Loud"}, "MIN_LOG_SEVERITY"),
        ({"KEEPALIVE_TIMEOUT": "long"}, "KEEPALIVE_TIMEOUT"),
    ],
)
def test_run_settings_dict_is_checked_at_start_up(tmp_path, settings, named):
    output = failed_start(tmp_path, {"settings": settings})
    assert "ValueError" in output
    assert named in output


def test_run_settings_file_is_checked_at_start_up(tmp_path):
    settings_file = tmp_path / "settings.py"
    # A name hwebserver does not know is only warned about (test_parity_settings.py); a known
    # one with a wrong value stops run().
    settings_file.write_text("import os\nKEEPALIVE_TIMEOUT = 'soon'\n")
    output = failed_start(tmp_path, {"settings": str(settings_file)})
    assert "ValueError" in output and "KEEPALIVE_TIMEOUT" in output
    output = failed_start(tmp_path, {"settings": str(tmp_path / "missing.py")})
    assert "ValueError" in output and "missing.py" in output


def test_run_settings_file_applies(tmp_path):
    settings_file = tmp_path / "settings.py"
    settings_file.write_text(
        "import os  # lower-case names are not settings\n"
        "_private = 1\n"
        "CORS_ORIGIN_WHITELIST = ['https://app.example']\n"
    )
    process = ServerProcess(
        "configured_app.py", tmp_path / "server", {"settings": str(settings_file)}
    )
    try:
        process.start()
        response = httpx.get(
            process.url("/hello"), headers={"Origin": "https://app.example"}, timeout=10
        )
        assert response.headers["access-control-allow-origin"] == "https://app.example"
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"BOGUS_KEY": True}, "BOGUS_KEY"),
        ({"PORT": "80"}, "PORT"),
        ({"MAX_REQUEST_LINE": 10}, "MAX_REQUEST_LINE"),  # server-wide, not per port
        ({"SSL_REDIRECT_EXEMPT": ["("]}, "SSL_REDIRECT_EXEMPT"),
        ({"SECURE_HSTS_SECONDS": -1}, "SECURE_HSTS_SECONDS"),
    ],
)
def test_set_settings_for_port_is_checked(tmp_path, settings, named):
    output = failed_start(tmp_path, port_settings={"main": settings})
    assert "ValueError" in output
    assert named in output


def test_set_settings_for_port_raises_in_the_caller():
    with pytest.raises(ValueError, match="NO_SUCH_KEY"):
        hwebserver.setSettingsForPort({"NO_SUCH_KEY": 1}, "api")
    with pytest.raises(ValueError, match="SSL_VERIFY_PEER"):
        hwebserver.setSettingsForPort({"SSL_VERIFY_PEER": 1}, "api")


def test_bad_tls_files_fail_at_start_up(tmp_path):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    output = failed_start(
        tmp_path, port_settings={"main": {"SSL_CERTIFICATE": str(tmp_path / "missing.pem")}}
    )
    assert "ValueError" in output and "SSL_CERTIFICATE" in output and "missing.pem" in output
    output = failed_start(tmp_path, port_settings={"main": {"SSL_CERTIFICATE": str(not_pem)}})
    assert "ValueError" in output and "SSL_CERTIFICATE" in output and "not.pem" in output
    output = failed_start(tmp_path, port_settings={"main": {"SSL_CERTIFICATE_KEY": str(not_pem)}})
    assert "SSL_CERTIFICATE_KEY is set but SSL_CERTIFICATE is not" in output


def test_key_that_does_not_match_fails_at_start_up(tmp_path):
    from certificates import make_certificate

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    cert, _ = make_certificate(first)
    _, other_key = make_certificate(second)
    output = failed_start(
        tmp_path,
        port_settings={
            "main": {"SSL_CERTIFICATE": str(cert), "SSL_CERTIFICATE_KEY": str(other_key)}
        },
    )
    assert "ValueError" in output and "SSL_CERTIFICATE_KEY" in output
    dh = tmp_path / "dh.pem"
    dh.write_text("nonsense\n")
    cert, key = make_certificate(first)
    output = failed_start(
        tmp_path,
        port_settings={
            "main": {
                "SSL_CERTIFICATE": str(cert),
                "SSL_CERTIFICATE_KEY": str(key),
                "SSL_DH_PARAMS": str(dh),
            }
        },
    )
    assert "ValueError" in output and "SSL_DH_PARAMS" in output


@pytest.mark.parametrize(
    ("client_ca", "verify", "named"),
    [
        ("not.pem", True, "SSL_CLIENT_CA: cannot load CA certificates"),
        ("missing.pem", True, "SSL_CLIENT_CA: cannot read"),
        ("cert.pem", False, "SSL_CLIENT_CA is set but SSL_VERIFY_PEER is not"),
    ],
)
def test_bad_client_ca_fails_at_start_up(tmp_path, client_ca, verify, named):
    from certificates import make_certificate

    cert, key = make_certificate(tmp_path)
    (tmp_path / "not.pem").write_text("not a certificate\n")
    tls = {"SSL_CERTIFICATE": str(cert), "SSL_CERTIFICATE_KEY": str(key)}
    settings = {**tls, "SSL_VERIFY_PEER": verify, "SSL_CLIENT_CA": str(tmp_path / client_ca)}
    output = failed_start(tmp_path, port_settings={"main": settings})
    assert "ValueError" in output and named in output


def test_unwritable_log_file_fails_at_start_up(tmp_path):
    target = tmp_path / "no-such-dir" / "port.log"
    output = failed_start(tmp_path, port_settings={"main": {"LOG_FILE": str(target)}})
    assert "ValueError" in output and "LOG_FILE" in output


def test_server_settings_are_declared_once_and_checked_by_their_declared_type() -> None:
    import dataclasses

    from hwebserver.api.internal.declarations import declared
    from hwebserver.api.settings import OPTIONS, ServerSettings, validate

    for item in dataclasses.fields(ServerSettings):
        option = OPTIONS[item.name]
        assert (option.scope, option.default) == ("server", item.default)
        assert option.doc == declared(item).doc
    assert validate({"GRACEFUL_TIMEOUT": 2}) == {"GRACEFUL_TIMEOUT": 2.0}
    with pytest.raises(ValueError, match="MAX_PIPELINED: expected int"):
        validate({"MAX_PIPELINED": "many"})
    assert ServerSettings(**validate({"MAX_PIPELINED": 8})).MAX_PIPELINED == 8


def test_an_ssl_ciphers_list_that_matches_no_suite_is_refused_at_start_up(tmp_path):
    from certificates import make_certificate

    cert, key = make_certificate(tmp_path)
    output = failed_start(
        tmp_path,
        port_settings={
            "main": {
                "SSL_CERTIFICATE": str(cert),
                "SSL_CERTIFICATE_KEY": str(key),
                "SSL_CIPHERS": "NO-SUCH-SUITE",
            }
        },
    )
    assert "ValueError" in output and "SSL_CIPHERS" in output


def test_port_settings_are_declared_once_and_read_typed():
    """The per-port rows of OPTIONS are PortSettings' fields; a port's validated dict reads
    back typed, with the declared defaults for what was not set."""
    from hwebserver.api.enums import webServerSeverity
    from hwebserver.api.settings import OPTIONS, PortSettings, validate

    port_rows = [name for name, option in OPTIONS.items() if option.scope == "port"]
    assert port_rows == [field.name for field in dataclasses.fields(PortSettings)]
    given = validate(
        {"ALLOWED_HOSTS": "example.com", "MIN_LOG_SEVERITY": "Warning", "SECURE_HSTS_SECONDS": 60},
        scope="port",
    )
    typed = PortSettings.of({**given, "GRACEFUL_TIMEOUT": 3.0})  # not a port setting: left out
    assert typed.ALLOWED_HOSTS == ["example.com"]
    assert typed.MIN_LOG_SEVERITY is webServerSeverity.Warning
    assert typed.SECURE_HSTS_SECONDS == 60
    assert typed.ADDRESS == OPTIONS["ADDRESS"].default and typed.SSL_CERTIFICATE is None
