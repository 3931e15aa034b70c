"""Pydantic validation errors as 'field: message' pairs a person can act on. Torch-free.

A value that fits none of a union's members (``channels: 2`` against ``"auto" | 1 | 3``)
comes back from pydantic as one error per member, each under a location that names the
member (``channels.literal['auto']``); here they become one problem of the field itself.
"""

from __future__ import annotations

from pydantic import ValidationError


def _is_member_tag(part: object) -> bool:
    """A location part that names a union member, not a field: ``literal['auto']``,
    ``function-after[...]``, ``bool``."""
    return isinstance(part, str) and ("[" in part or part in {"bool", "int", "float", "str"})


def field_problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """[(dotted field, message), ...] in pydantic's order, one entry per field."""
    problems: dict[str, list[str]] = {}
    for entry in error.errors():
        parts = [str(part) for part in entry["loc"] if not _is_member_tag(part)]
        field = ".".join([prefix, *parts] if prefix else parts) or (prefix or "config")
        message = entry["msg"].removeprefix("Value error, ")
        if message not in problems.setdefault(field, []):
            problems[field].append(message)
    return [(field, " or ".join(messages)) for field, messages in problems.items()]


def describe(error: ValidationError, prefix: str = "") -> str:
    """The first problem as one line: ``field: message``."""
    field, message = field_problems(error, prefix)[0]
    return f"{field}: {message}"
