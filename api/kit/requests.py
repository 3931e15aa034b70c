"""The base of every request body: one validation, whatever the database.

Postgres refuses a NUL character in text and SQLite stores it; Python's JSON reader takes
``NaN`` and ``Infinity``, which no metric or setting may hold. A body is checked for both
before anything else, so the same request gets the same answer in production and in
embedded mode: a 422 that names the field.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from api.kit.problems import Unprocessable


def first_unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """(dotted path, reason) of the first NUL in text or non-finite number in ``value``
    (dicts, lists and scalars, keys included), or None."""
    if isinstance(value, str):
        return (path, "text must not contain NUL (\\u0000) characters") if "\x00" in value \
            else None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "numbers must be finite, not "
                                                        f"{value}")
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = first_unstorable(key, where) or first_unstorable(item, where)
            if found:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = first_unstorable(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def refuse_unstorable(value: Any, path: str = "") -> None:
    """422 naming the field when ``value`` holds a NUL or a non-finite number."""
    found = first_unstorable(value, path)
    if found is not None:
        field, reason = found
        raise Unprocessable(f"{field or 'body'}: {reason}",
                            errors=[{"field": field or "body", "message": reason}])


class RequestModel(BaseModel):
    """Unknown fields are refused; text holds no NUL and numbers are finite, anywhere in
    the body (free-form parts such as a job's config included)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        refuse_unstorable(data)
        return data
