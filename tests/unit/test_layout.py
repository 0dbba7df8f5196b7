"""The package layout's arrows run one way: cli -> (worker, api) -> (store, delivery, ops) -> the base modules.

Each rule names what a package may import from `sidecar`; a new import across a
boundary fails here, with the module and the import that crossed it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIDECAR = Path(__file__).resolve().parents[2] / "sidecar"
BASE = {"settings", "errors", "domain", "events", "fanout", "keycache", "masking", "retry", "jsondepth"}
# What each part may import, besides itself. Base modules import only other base modules.
ALLOWED = {
    "delivery": BASE,
    "store": BASE,
    "ops": BASE,
    "worker": BASE | {"store"},
    "api": BASE | {"store"},
    "cli": BASE | {"delivery", "store", "ops", "worker", "api"},
}
# Pure decisions: no I/O, no database, no HTTP.
PURE = {"worker/decide.py": {"domain"}}


def part_of(module: str) -> str:
    return module.split(".")[0]


def sidecar_imports(path: Path) -> set[str]:
    """The `sidecar` modules a file imports, relative to the package (`worker.decide`, `domain`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sidecar":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("sidecar."):
                found.add(node.module.removeprefix("sidecar."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("sidecar.") for a in node.names if a.name.startswith("sidecar.")}
    return found


def files() -> list[Path]:
    return sorted(p for p in SIDECAR.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(SIDECAR)))
def test_imports_run_one_way(path: Path) -> None:
    rel = path.relative_to(SIDECAR)
    own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    allowed = BASE if own in BASE else ALLOWED[own]
    crossing = {m for m in sidecar_imports(path) if part_of(m) != own and part_of(m) not in allowed}
    assert not crossing, f"sidecar/{rel} imports {sorted(crossing)} across the layout's arrows"


@pytest.mark.parametrize("rel, allowed", PURE.items())
def test_decisions_know_nothing_of_io(rel: str, allowed: set[str]) -> None:
    assert sidecar_imports(SIDECAR / rel) <= allowed


def test_every_module_belongs_to_a_part() -> None:
    parts = {p.relative_to(SIDECAR).parts[0].removesuffix(".py") for p in files()}
    assert parts <= BASE | set(ALLOWED), sorted(parts - BASE - set(ALLOWED))


def test_a_crossing_import_is_seen(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sidecar.worker.loop import Worker\nfrom sidecar import store\n", encoding="utf-8")
    assert sidecar_imports(bad) == {"worker.loop", "store"}
