"""Where settings come from besides code: a settings file (Python, .json or .toml) given to
run(), and the HWEBSERVER_<NAME> environment variables of the server-wide settings. Each
value is checked as a dict given to run() is (settings.py), with a message naming the file or
the variable."""

from __future__ import annotations

import difflib
import json
import os
import runpy
from collections.abc import Mapping
from typing import Any

from ..settings import (
    ALIASES,
    OPTIONS,
    Kind,
    Option,
    check_value,
    closest_name,
    known_names,
    log,
    validate,
)


def _read_settings_file(path: str) -> dict[str, Any]:
    """The names a settings file defines, by its extension: .json, .toml, else Python."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".json":
        try:
            with open(path, "rb") as file:
                data = json.load(file)
        except ValueError as exc:
            raise ValueError(f"settings file {path!r} is not valid JSON: {exc}") from None
    elif extension == ".toml":
        import tomllib  # only when a TOML file is given

        try:
            with open(path, "rb") as file:
                data = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"settings file {path!r} is not valid TOML: {exc}") from None
    else:
        namespace = runpy.run_path(path)
        # As Django reads a settings module: only UPPER-CASE names are settings.
        return {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_")}
    if not isinstance(data, dict):
        raise ValueError(f"settings file {path!r} must hold an object of settings")
    return data


def _known_part_of_file(path: str, names: dict[str, Any], warn: bool) -> dict[str, Any]:
    """The settings hwebserver knows; the others are named in one warning line."""
    known = {k: v for k, v in names.items() if ALIASES.get(k, k) in OPTIONS}
    unknown = sorted(str(k) for k in names if k not in known)
    if warn and unknown:
        hints = []
        for name in unknown:
            suggestion = closest_name(name)
            hints.append(f"{name} (did you mean {suggestion}?)" if suggestion else name)
        log.warning(
            "settings file %s: ignoring %d name(s) hwebserver does not know: %s",
            path,
            len(unknown),
            ", ".join(hints),
        )
    if warn and not known:
        log.warning("settings file %s defines no setting hwebserver knows", path)
    return known


def load_settings(
    source: str | os.PathLike[str] | Mapping[str, Any] | None, warn: bool = True
) -> dict[str, Any]:
    """run(settings=...): a dict, or the path of a settings file (Python, .json or .toml).

    `warn=False` leaves out the warnings about a file's unknown names (a reloaded worker
    reads the file again; the process that called run() already said it)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return validate(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ValueError(f"settings file {path!r} does not exist or is not a file")
        known = _known_part_of_file(path, _read_settings_file(path), warn)
        try:
            return validate(known)
        except ValueError as exc:
            # Which file holds the bad value, for a settings file among several.
            raise ValueError(f"settings file {path}: {exc}") from None
    raise ValueError(f"settings must be a dict or a file path, not {type(source).__name__}")


ENVIRONMENT_PREFIX = "HWEBSERVER_"
_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("0", "false", "no", "off")


def environment_name(name: str) -> str:
    """The environment variable a server-wide setting is also read from."""
    return ENVIRONMENT_PREFIX + name


def _from_text(option: Option, text: str) -> Any:
    """An environment variable's text as the value a settings file would hold."""
    stripped = text.strip()
    try:
        if option.kind is Kind.INT:
            return int(stripped)
        if option.kind in (Kind.FLOAT, Kind.OPTIONAL_FLOAT):
            if option.kind is Kind.OPTIONAL_FLOAT and stripped.lower() in ("", "none"):
                return None
            return float(stripped)
    except ValueError:
        return text  # the check below names the setting, the type and the text
    if option.kind is Kind.BOOL:
        if stripped.lower() in _TRUE_WORDS:
            return True
        if stripped.lower() in _FALSE_WORDS:
            return False
        return text
    if option.kind is Kind.LIST:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def environment_settings(
    environ: Mapping[str, str] | None = None, warn: bool = True
) -> dict[str, Any]:
    """Every server-wide setting given as HWEBSERVER_<NAME> (GRACEFUL_TIMEOUT=10 is
    HWEBSERVER_GRACEFUL_TIMEOUT=10), typed and checked as in a settings file: a bad value is
    a ValueError naming the variable. A variable that is no setting but close to one is named
    in a warning (`warn`); the others (HWEBSERVER_WORKER, ...) are not settings at all."""
    source = os.environ if environ is None else environ
    result: dict[str, Any] = {}
    for name, option in OPTIONS.items():
        text = source.get(environment_name(name)) if option.scope == "server" else None
        if text is None:
            continue
        try:
            result[name] = check_value(option, _from_text(option, text))
        except ValueError as exc:
            raise ValueError(f"environment variable {environment_name(name)}: {exc}") from None
    if warn:
        _warn_about_misspelled_variables(source)
    return result


def _warn_about_misspelled_variables(environ: Mapping[str, str]) -> None:
    known = [environment_name(name) for name in known_names("server")]
    for variable in environ:
        if not variable.startswith(ENVIRONMENT_PREFIX) or variable in known:
            continue
        close = difflib.get_close_matches(variable, known, n=1, cutoff=0.9)
        if close:
            log.warning(
                "environment variable %s is no setting (did you mean %s?): ignored",
                variable,
                close[0],
            )
