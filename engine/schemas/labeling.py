"""The suggest job's configuration: which images of a dataset version to label next
(``engine.labeling.suggest``). Torch-free."""

from __future__ import annotations

from pydantic import Field

from engine.schemas.eval import Device
from engine.schemas.types import Int, StrictModel


class SuggestJobConfig(StrictModel):
    """``data``: the dataset version (its labeled items are the labels, the others the
    candidates); ``checkpoint``: the pretrain job whose backbone embeds the images; ``k``:
    images to suggest."""

    data: str = Field(min_length=1, max_length=4096)
    checkpoint: str = Field(min_length=1, max_length=4096)
    k: Int = Field(20, ge=1, le=1000)
    device: Device = "auto"
