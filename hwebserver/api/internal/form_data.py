"""A parsed form and what its parsers share: the result, the errors, the memory budget.

Kept apart from the parsers (forms.py: urlencoded, multipart.py: multipart) so that each
parser, and Request, can name these without importing the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..uploads import UploadedFile

DEFAULT_FORM_MEMORY = 32 * 1024 * 1024  # FORM_MEMORY_SIZE


class FormError(ValueError):
    """A form body that cannot be parsed; the server answers it with 400."""


class FormTooLarge(FormError):
    """A form whose text would take more memory than FORM_MEMORY_SIZE; answered with 413.
    (Files never do: past the budget they go to disk.)"""


def too_much_text(memory_limit: int) -> FormTooLarge:
    return FormTooLarge(f"the form's fields need more than {memory_limit} bytes of memory")


# What a kept field or file costs beside its bytes (dict entry, str or UploadedFile objects),
# charged against FORM_MEMORY_SIZE so that many tiny fields count too.
FIELD_OVERHEAD = 100
FILE_OVERHEAD = 600


class FormMemory:
    """What one form keeps in memory, by field: a repeated name replaces its earlier value,
    so its earlier cost is given back."""

    __slots__ = ("_costs", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._costs: dict[tuple[bool, str], int] = {}  # (is a file, name) -> cost

    def left(self) -> int:
        return self.limit - self.used

    def keep(self, name: str, cost: int, is_file: bool = False) -> None:
        """Charge a field kept under `name`; FormTooLarge past the limit."""
        key = (is_file, name)
        self.used += cost - self._costs.get(key, 0)
        self._costs[key] = cost
        if self.used > self.limit:
            raise too_much_text(self.limit)


class FormData:
    """The parsed form of one request: text fields and uploaded files (the last of a repeated
    name wins, as for query parameters)."""

    __slots__ = ("fields", "files")

    def __init__(
        self, fields: dict[str, str] | None = None, files: dict[str, UploadedFile] | None = None
    ) -> None:
        self.fields: dict[str, str] = fields if fields is not None else {}
        self.files: dict[str, UploadedFile] = files if files is not None else {}


class FormParser(Protocol):
    def write(self, data: bytes) -> None: ...

    def finish(self) -> FormData: ...

    def close(self) -> None: ...
