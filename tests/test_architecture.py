"""The architecture holds: no import cycle, the store never plans, and the package
diagram in docs/architecture.md is the one the imports draw.

Imports are read from the source with `ast`, those inside functions included (an
import inside a function still ties two modules together); only imports under
`if TYPE_CHECKING:` are left out, since they never run."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "src", *sorted((ROOT / "plugins").glob("*/src"))]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """Every module of the library and the plugins, by dotted name."""
    found: dict[str, Path] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            parts = list(path.relative_to(source).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run: everywhere but under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str) -> str | None:
    """The known module a dotted name refers to (a module, or a name in one)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """The library and plugin modules `module` imports when it runs."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


#: Top-level modules every layer may use: errors, plain failure messages, hook specs,
#: the version.
CORE = {
    "socialsched.errors",
    "socialsched.failures",
    "socialsched.hookspecs",
    "socialsched.version",
}


def package_of(module: str) -> str:
    """The box of the architecture diagram a module belongs to: its subpackage of
    socialsched (`calendar`, `planning`, ...), `core` for CORE, `scheduling`, `api` for
    the rest of the top level (the `socialsched` package and its public shims), and
    `plugins` for every adapter distribution."""
    parts = module.split(".")
    if parts[0] != "socialsched":
        return "plugins"
    if module in CORE:
        return "core"
    if module == "socialsched.scheduling":
        return "scheduling"
    if module == "socialsched.__main__":
        return "cli"
    if len(parts) > 1 and (ROOT / "src" / "socialsched" / parts[1]).is_dir():
        return "store" if parts[1] == "migrations" else parts[1]
    return "api"


def test_there_is_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    # The check above passes only if it can fail: a two-module cycle is reported.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = "def late():\n    from socialsched.store import Store\n"
    tree = ast.parse(source)
    assert [type(node).__name__ for node in _import_nodes(tree)] == ["ImportFrom"]
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\n"
    assert [type(n).__name__ for n in _import_nodes(ast.parse(guarded))] == ["ImportFrom"]


def test_the_store_never_plans() -> None:
    planning = {m for m in MODULES if package_of(m) == "planning"}
    assert planning, "no socialsched.planning package found"
    reached = {
        (module, target)
        for module, targets in GRAPH.items()
        if package_of(module) == "store"
        for target in targets
        if target in planning
    }
    assert reached == set()


def test_no_module_is_over_600_lines() -> None:
    long = {
        module: n
        for module, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def package_edges() -> set[tuple[str, str]]:
    """Which box imports which (imports of `core`, which every box may use, left out)."""
    return {
        (package_of(module), package_of(target))
        for module, targets in GRAPH.items()
        for target in targets
        if package_of(module) != package_of(target) and package_of(target) != "core"
    }


def diagram_edges() -> set[tuple[str, str]]:
    """The arrows of the mermaid diagram in docs/architecture.md (`a --> b`)."""
    block = re.search(r"```mermaid\n(.*?)```", ARCHITECTURE.read_text(), re.S)
    assert block is not None, "docs/architecture.md has no mermaid diagram"
    return {
        (found.group(1), found.group(2))
        for line in block.group(1).splitlines()
        if (found := re.fullmatch(r"\s*(\w+)\s*-->\s*(\w+)\s*", line))
    }


def test_core_imports_no_other_box() -> None:
    assert {(a, b) for a, b in package_edges() if a == "core"} == set()
    assert {
        (module, target)
        for module in CORE
        for target in GRAPH[module]
        if package_of(target) != "core"
    } == set()


def test_the_architecture_diagram_is_the_one_the_imports_draw() -> None:
    assert diagram_edges() == package_edges()
