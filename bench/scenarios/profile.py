"""Shares of a py-spy profile (`py-spy record -f raw`: one line per stack, "frame;frame;… count").

Two views of the same samples. By library: the package of the innermost frame, so time
inside aiohttp counts for aiohttp whoever called it. By part of the sidecar: the
innermost frame that is this project's code, so aiohttp's work for an attempt counts
for sidecar/delivery/attempt.py; samples with no sidecar frame go under the innermost module
that is not the event loop's. Samples inside the import system count as imports
(start-up) in both views.
"""

from __future__ import annotations

import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
IMPORTS = "imports (start-up)"


def _file(frame: str) -> str:
    match = FRAME.match(frame.strip())
    return match.group("file") if match else frame


def _module_path(path: str) -> str:
    """py-spy names files relative to their sys.path entry (`aiohttp/client.py`, `hmac.py`);
    absolute paths are cut the same way."""
    for marker in ("site-packages/", "/lib/python3.", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = path.split("/", 1)[1] if "/" in path else path
    if "/sidecar/" in path:
        path = "sidecar/" + path.split("/sidecar/", 1)[1]
    return path


def _library(path: str) -> str:
    if "importlib" in path:
        return IMPORTS
    module = _module_path(path)
    if module.startswith("sidecar/"):
        return "sidecar (this project)"
    head = module.split("/", 1)[0]
    return head.removesuffix(".py")


def _is_sidecar(path: str) -> bool:
    return _module_path(path).startswith("sidecar/")


def _sidecar_part(files: list[str]) -> str:
    if any("importlib" in f for f in files):
        return IMPORTS
    for path in reversed(files):
        if _is_sidecar(path):
            return _module_path(path)
    for path in reversed(files):
        if _library(path) not in ("asyncio", "uvloop", "runners", "<string>"):
            return f"{_library(path)} (no sidecar frame)"
    return "event loop (no sidecar frame)"


def shares(raw: str) -> tuple[dict[str, float], dict[str, float], int]:
    """(share by library, share by part of the sidecar, samples) of a raw py-spy profile."""
    by_library: Counter[str] = Counter()
    by_part: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        files = [_file(frame) for frame in stack.split(";")]
        library = IMPORTS if any("importlib" in f for f in files) else _library(files[-1])
        by_library[library] += count
        by_part[_sidecar_part(files)] += count
        total += count
    scale = 1 / total if total else 0.0
    return ({k: v * scale for k, v in by_library.most_common()},
            {k: v * scale for k, v in by_part.most_common()}, total)
