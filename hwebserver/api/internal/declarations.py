"""How an option is declared, in one style for run()'s arguments and for the settings alike.

An option is a field of a frozen dataclass (`RunArguments`, `PortSettings`, `ServerSettings`):
its annotation is the type, its default the default, and its metadata one `Declared`, made by
`declare()`: what the option means, how it is typed on the command line (if it is), the values
it may take, whether Houdini lacks it. Everything that lists options reads these fields: run()'s
docstring, the command line (`add_command_line_flags`), the validation of settings and the
settings reference page (both through `settings.OPTIONS`).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Typed(StrEnum):
    """How a flag is typed on the command line."""

    VALUE = "value"  # FLAG VALUE, converted by the form's `parse`
    SWITCH = "switch"  # FLAG alone means True
    EITHER = "either"  # FLAG / --no-FLAG
    REPEAT = "repeat"  # FLAG VALUE, repeatable, the values collected


@dataclass(frozen=True)
class CommandLineForm:
    """How an option is typed on the command line. `help` None: made from the option's
    meaning (`add_command_line_flags`' `describe`)."""

    flag: str
    help: str | None = None
    kind: Typed = Typed.VALUE
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None
    aliases: tuple[str, ...] = ()  # other spellings users of other servers type (--host)


@dataclass(frozen=True)
class Declared:
    """What a field of an options dataclass means."""

    doc: str
    command_line: CommandLineForm | None = None
    extension: bool = False  # Houdini's run() (or its settings) lack it
    choices: tuple[str, ...] = ()  # the values a text option may take


_DECLARED = "hwebserver"


def declare(
    doc: str,
    command_line: CommandLineForm | None = None,
    *,
    extension: bool = False,
    choices: tuple[str, ...] = (),
) -> dict[str, Declared]:
    """A field's metadata: `field(default=..., metadata=declare("what it means", ...))`."""
    return {_DECLARED: Declared(doc, command_line, extension, choices)}


def declared(item: dataclasses.Field[Any]) -> Declared:
    """The declaration of one field of an options dataclass."""
    meaning: Declared = item.metadata[_DECLARED]
    return meaning


def add_command_line_flags(
    parser: argparse.ArgumentParser,
    options: type,
    dest_prefix: str = "",
    describe: Callable[[dataclasses.Field[Any]], str] | None = None,
) -> None:
    """One flag per field of `options` that has a command-line form, in declaration order; its
    dest is `dest_prefix` + the field's name; a form without help is described by `describe`."""
    for item in dataclasses.fields(options):
        meaning = declared(item)
        form = meaning.command_line
        if form is None:
            continue
        help_text = form.help if form.help is not None or describe is None else describe(item)
        flag: dict[str, Any] = {"dest": dest_prefix + item.name, "help": help_text}
        if form.kind is Typed.SWITCH:
            flag["action"] = "store_true"
        elif form.kind is Typed.EITHER:
            flag["action"] = argparse.BooleanOptionalAction
        else:
            flag["type"] = form.parse
            flag["metavar"] = form.metavar
            if meaning.choices:
                flag["choices"] = meaning.choices
            if form.kind is Typed.REPEAT:
                flag["action"] = "append"
        parser.add_argument(form.flag, *form.aliases, **flag)
