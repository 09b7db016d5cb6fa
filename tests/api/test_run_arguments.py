"""run()'s arguments are declared once (hwebserver/api/internal/run_arguments.py): run()'s
signature, its documentation and the command line's options all agree with that declaration."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import hwebserver
from hwebserver.api.internal.declarations import declared
from hwebserver.api.internal.run_arguments import RunArguments


def run_fields() -> list[dataclasses.Field[object]]:
    return list(dataclasses.fields(RunArguments))


def test_run_signature_is_the_declaration_name_by_name_and_default_by_default() -> None:
    parameters = inspect.signature(hwebserver.run).parameters
    assert list(parameters) == [f.name for f in run_fields()]
    for f in run_fields():
        assert parameters[f.name].default == f.default, f.name
        assert parameters[f.name].annotation == f.type, f.name


def test_help_of_run_documents_every_argument() -> None:
    doc = hwebserver.run.__doc__ or ""
    for f in run_fields():
        assert f"`{f.name}`" in doc, f.name
    assert "Example" in doc


def test_every_command_line_option_reaches_run_under_its_own_name() -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "hwebserver", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for f in run_fields():
        form = declared(f).command_line
        if form is not None:
            assert form.flag in helped, form.flag
    from hwebserver.__main__ import build_parser

    given = vars(
        build_parser().parse_args(
            ["app.py", "--port", "9001", "--workers", "3", "--ports", "admin=9100", "--no-reload"]
        )
    )
    given.pop("app")
    arguments = RunArguments.from_mapping(given)
    assert (arguments.port, arguments.workers) == (9001, 3)
    assert arguments.ports == [("admin", 9100)]
    assert arguments.reload_source_changes is False
    assert arguments.debug is False  # not typed: the declaration's default
