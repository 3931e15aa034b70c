"""Strict, bounded value types for every job schema. Torch-free.

A config value is what it says or it is refused: no ``true`` for a number (lax pydantic reads
``steps: true`` as one step), no ``"5"`` for a count, no ``5.0`` for a count, and — through
``StrictModel``'s ``allow_inf_nan=False`` — no NaN or infinity anywhere. Bounds are set per
field with ``Field(ge=..., le=...)``; every number a schema accepts has a finite upper bound.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Strict

Int = Annotated[int, Strict()]
# A strict float still takes an int (``epochs: 50``), never a bool or a string.
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]

# Seeds go to torch, numpy and Python alike; numpy takes 32 bits.
MAX_SEED = 2**32 - 1
MAX_STEPS = 10_000_000


class StrictModel(BaseModel):
    """Base for every schema: unknown keys are an error, so a typo never passes silently;
    numbers are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
