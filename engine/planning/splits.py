"""Splits that keep the shots of one physical part together.

Every image belongs to a group (``hatchery analyze``'s groups file: shots of one part under
several lightings, repeats, duplicates; an image alone is its own group). A split assigns
whole groups, so no part is seen in training and measured again in validation. Within each
class, groups are shuffled with a fixed seed and the first ``val_fraction`` of the class's
images (rounded, at least one group when the class has two) go to validation.

    train, val = grouped_split(paths, groups, classes, val_fraction=0.3, seed=0)
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

# The share of the images held out for validation when nobody split the data.
VAL_FRACTION = 0.3


def grouped_split(paths: list[str], groups: dict[str, str], classes: dict[str, str],
                  val_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """paths -> (train, val), each sorted. ``groups``: path -> group (a path missing from it
    is its own group); ``classes``: path -> class, stratifying the split (a group takes the
    class most of its images have)."""
    members: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        members[groups.get(path, f"self:{path}")].append(path)
    by_class: dict[str, list[str]] = defaultdict(list)
    for group, images in sorted(members.items()):
        majority = Counter(classes.get(path, "") for path in images).most_common(1)[0][0]
        by_class[majority].append(group)
    rng = random.Random(seed)
    val: list[str] = []
    for class_groups in by_class.values():
        rng.shuffle(class_groups)
        total = sum(len(members[group]) for group in class_groups)
        wanted = round(total * val_fraction)
        if len(class_groups) >= 2:
            wanted = max(wanted, 1)
        taken = 0
        for group in class_groups[:-1]:  # the last group always trains
            if taken >= wanted:
                break
            val += members[group]
            taken += len(members[group])
    chosen = set(val)
    return sorted(p for p in paths if p not in chosen), sorted(val)
