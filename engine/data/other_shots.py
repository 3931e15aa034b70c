"""Other shots of the same physical part: where a training image's second view may come from.

Inspection data often holds one part shot several times (under other lightings, in other
sessions); ``hatchery analyze`` finds those shots and writes them as groups (``path,group``).
A view pair cut from two shots of one part shares what the part is — its surface, its
defects — and differs in what the lighting did (``augment.other_shot_prob``; measured on
generated parts under three lightings it lowered anomaly AUROC, docs/benchmarks.md section
8, so plans leave it off). A partner must have the image's own size: the shots are then
aligned (one camera), so the geometry of a crop means the same place in both, as the local
objective assumes. ``part_of`` names each image's part for ``memory.exclude_own_keys``.

    shots = OtherShots.from_groups_file("groups.csv", "data/", dataset.paths, dataset.shapes)
    partners = shots.draw(batch.indices, probability=1.0, generator=cpu_generator)
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

from engine.analysis.report import read_groups
from engine.errors import HatcheryInputError


class OtherShots:
    """``partners[i]``: dataset indices of the other shots of image i's part, of its size;
    ``part_of`` int64 [N]: each image's part (an image no other shares one with is its own)."""

    def __init__(self, partners: Sequence[Sequence[int]], part_of: torch.Tensor) -> None:
        self.partners = [list(each) for each in partners]
        self.part_of = part_of

    @classmethod
    def from_groups(cls, groups: Sequence[str | None],
                    shapes: Sequence[tuple[int, int]]) -> OtherShots:
        """``groups[i]``: image i's group (None: unknown, its own part); ``shapes[i]``: its
        (height, width)."""
        members: dict[tuple[str, tuple[int, int]], list[int]] = defaultdict(list)
        part_ids: dict[str, int] = {}
        part_of = torch.arange(len(groups), dtype=torch.long)  # alone: its own part
        for index, (group, shape) in enumerate(zip(groups, shapes, strict=True)):
            if group is not None:
                members[(group, tuple(shape))].append(index)
                part_of[index] = part_ids.setdefault(group, index)  # its first image's index
        partners: list[list[int]] = [[] for _ in groups]
        for indices in members.values():
            for index in indices:
                partners[index] = [other for other in indices if other != index]
        return cls(partners, part_of)

    @classmethod
    def from_groups_file(cls, groups_file: str | Path, data_root: str | Path,
                         paths: Sequence[str | Path],
                         shapes: Sequence[tuple[int, int]]) -> OtherShots:
        """The groups of ``groups_file`` (paths relative to ``data_root``) for the training
        images at ``paths``. A file that names none of them is refused: it belongs to
        another folder."""
        groups_file = Path(groups_file)
        if not groups_file.is_file():
            raise HatcheryInputError(f"groups file {groups_file} does not exist")
        by_path = read_groups(groups_file)
        relative = [Path(os.path.relpath(path, data_root)).as_posix() for path in paths]
        groups = [by_path.get(path) for path in relative]
        if by_path and not any(group is not None for group in groups):
            raise HatcheryInputError(
                f"groups file {groups_file} names none of the images under {data_root} "
                f"(its first path: {next(iter(by_path))}); paths are relative to the data "
                "folder")
        return cls.from_groups(groups, shapes)

    @property
    def images_with_partner(self) -> int:
        return sum(1 for each in self.partners if each)

    def draw(self, indices: torch.Tensor, probability: float,
             generator: torch.Generator) -> torch.Tensor:
        """int64 [B] dataset indices -> int64 [B]: for each image, with ``probability`` one
        of its other shots (uniformly), else itself; itself when it has none. ``generator``:
        a CPU generator (the same state gives the same draw)."""
        count = indices.shape[0]
        chosen = torch.rand(count, generator=generator) < probability
        picks = torch.rand(count, generator=generator)
        out = indices.clone()
        for row, index in enumerate(indices.tolist()):
            others = self.partners[index]
            if others and chosen[row]:
                out[row] = others[min(len(others) - 1, int(picks[row] * len(others)))]
        return out
