"""The names of uploaded images: one rule for multipart uploads, archives and presigned uploads.

A name is the item's path in the dataset. It is kept as given or refused with the reason —
never silently rewritten onto another item: no absolute paths, no '..', no empty or '.'
segments (``a//b.jpg`` would land on ``a/b.jpg`` and replace it), no invisible control or
direction characters (U+202E shows ``gnp.exe`` as ``exe.png``), and no more than
``MAX_PATH`` characters (cutting the name would drop its extension). Windows separators are
read as ``/``, and a leading ``./`` is dropped.
"""

from __future__ import annotations

import posixpath
import unicodedata
from pathlib import PurePosixPath

MAX_PATH = 1000


def path_problem(name: str) -> str:
    """Why ``name`` cannot be an item's path; "" when it can (see ``item_path``)."""
    name = _posix(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "unsafe path (absolute)"
    hidden = [char for char in name if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")]
    if hidden:
        return (f"the name holds invisible control or direction characters "
                f"(U+{ord(hidden[0]):04X})")
    parts = name.split("/")
    if not name or ".." in parts:
        return "unsafe path ('..' or empty)"
    canonical = posixpath.join(*[part for part in parts if part not in ("", ".")] or [""])
    if not canonical:
        return "unsafe path (empty)"
    if canonical != name:
        return f"not a plain relative path: did you mean {canonical}?"
    if len(name) > MAX_PATH:
        return f"the name is longer than {MAX_PATH} characters"
    return ""


def item_path(name: str) -> str | None:
    """``name`` as an item's path (``/`` separators, no leading ``./``), or None when
    ``path_problem`` refuses it."""
    return None if path_problem(name) else _posix(name)


def _posix(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def safe_relative(path: str) -> PurePosixPath:
    """``path`` as a relative path that stays inside a folder (no root, '.' or '..')."""
    parts = [part for part in PurePosixPath(path.replace("\\", "/")).parts
             if part not in ("", ".", "..", "/")]
    return PurePosixPath(*parts) if parts else PurePosixPath("image")


def view_path(path: str, image_format: str) -> PurePosixPath:
    """Where an item uploaded as ``path`` lies in a worker's ``files`` view of its version
    (a suffix added from its format when it has none): how a job's results name it."""
    relative = safe_relative(path)
    return relative if relative.suffix else relative.with_suffix(f".{image_format.lower()}")
