"""The emulator stands on its own: it imports nothing of the bot, its modules import one way,
and the rest of the project uses only its public face (the package and ``telegram_rules``).

Imports are read from the source (every ``import``, also inside functions and under
``TYPE_CHECKING``), so a lazy import cannot hide a cycle; one subprocess also checks what
``import emulator`` really loads.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "emulator"
THE_BOT = ("bot", "handlers", "storage")
PUBLIC = {"emulator", "emulator.telegram_rules"}


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports; ``from package import name`` counts as package.name when
    that is a module (the package's ``__init__`` still runs first, so it counts too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module of this project (compared exactly, whatever the file system)."""
    *folders, name = dotted.split(".")
    folder = ROOT.joinpath(*folders)
    return folder.is_dir() and (f"{name}.py" in os.listdir(folder) or (folder / name / "__init__.py").is_file())


def _emulator_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        name = _module_name(path)
        imported = set(_imports(path))
        graph[name] = {m for m in imported if m.split(".")[0] == "emulator" and m != name}
        for module in imported:
            assert module.split(".")[0] not in THE_BOT, f"{name} imports {module}: the emulator must not know the bot"
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done or module not in graph:
            return None
        path.append(module)
        for target in sorted(graph[module]):
            found = visit(target)
            if found:
                return found
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module)
        if found:
            return found
    return None


def test_the_emulator_imports_nothing_of_the_bot_and_no_module_imports_upward() -> None:
    graph = _emulator_graph()
    assert "emulator.emulator" in graph and "emulator.telegram_rules" in graph
    # The package's __init__ and __main__ sit on top; among the rest, no cycle at all.
    insides = {
        name: {target for target in targets if target not in ("emulator", "emulator.__main__")}
        for name, targets in graph.items()
        if name not in ("emulator", "emulator.__main__")
    }
    assert _cycle(insides) is None, f"import cycle in the emulator: {' -> '.join(_cycle(insides) or [])}"
    assert all("emulator" not in targets for targets in insides.values()), "a module imports the package's __init__"


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a made-up graph with a loop is caught."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_rest_of_the_project_uses_only_the_public_face() -> None:
    skipped = {"emulator", "tests", ".venv", "build"}
    offenders: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        top = path.relative_to(ROOT).parts[0]
        if top in skipped or top.startswith("."):
            continue
        for module in _imports(path):
            if module.split(".")[0] == "emulator" and module not in PUBLIC:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_importing_the_emulator_loads_nothing_of_the_bot() -> None:
    script = (
        "import sys, emulator, emulator.telegram_rules, emulator.__main__\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {THE_BOT!r}))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, a fixed script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
