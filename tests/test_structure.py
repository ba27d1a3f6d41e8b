"""The layout's rules, read from the modules' own imports (function-level ones included; those
under `if TYPE_CHECKING:` are annotations, not imports):

- no import cycle inside an app;
- dependencies run one way, provisioning → inventory → portal: inventory never imports
  provisioning, and the portal core imports neither (only the project's wiring does: settings,
  the root URLs and the Celery app);
- the ledger alone writes lifecycle state, so nothing below it imports what sits above it.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("portal", "inventory", "provisioning")
WIRING = {"portal.settings", "portal.root_urls", "portal.celery"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST, module: str, is_package: bool, modules) -> list[str]:
    """The names an import statement imports, as modules where they are ones."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    names = [f"{base}.{alias.name}" for alias in node.names]
    # `from package import module` imports the module; `from module import name`, the module.
    return [name if name in modules else base for name in names]


def _imports(module: str, source: str, *, is_package: bool = False, modules=MODULES) -> set[str]:
    """The project modules `module` (whose code is `source`) imports."""
    tree = ast.parse(source)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        for name in _imported(node, module, is_package, modules):
            # The nearest project module the name is (or is inside).
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


GRAPH = {
    module: _imports(module, path.read_text(), is_package=path.name == "__init__.py")
    for module, path in MODULES.items()
}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                strong(target)
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strong(node)
    return found


@pytest.mark.parametrize("app", APPS)
def test_no_import_cycle_inside_an_app(app):
    inside = {
        module: {t for t in targets if t.split(".")[0] == app}
        for module, targets in GRAPH.items()
        if module.split(".")[0] == app
    }
    assert _cycles(inside) == []


def _importers(lower: str, higher: tuple[str, ...]) -> dict[str, set[str]]:
    return {
        module: {t for t in targets if t.split(".")[0] in higher}
        for module, targets in GRAPH.items()
        if module.split(".")[0] == lower
        and module not in WIRING
        and any(t.split(".")[0] in higher for t in targets)
    }


def test_dependencies_run_one_way():
    assert _importers("inventory", ("provisioning",)) == {}
    assert _importers("portal", ("inventory", "provisioning")) == {}


def test_the_ledger_imports_nothing_above_it():
    above = {
        "provisioning.runner",
        "provisioning.actions",
        "provisioning.tasks",
        "provisioning.reconciler",
        "provisioning.services",
        "provisioning.views",
        "provisioning.boot.views",
        "provisioning.api.views",
    }
    ledger = {m: t for m, t in GRAPH.items() if m.startswith("provisioning.ledger")}
    assert {m: t & above for m, t in ledger.items() if t & above} == {}


def test_the_reader_sees_the_imports_it_must_see():
    """The checks above would pass on a reader that sees nothing."""
    source = """
from typing import TYPE_CHECKING
from . import b
from .c import thing
if TYPE_CHECKING:
    from .d import Annotation
def later():
    from app.e import helper
"""
    modules = {f"app.{name}": None for name in "abcde"}
    assert _imports("app.a", source, modules=modules) == {"app.b", "app.c", "app.e"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "provisioning.ledger" in GRAPH["provisioning.runner"]
    assert "provisioning.ledger.sql" in GRAPH["provisioning.ledger.steps"]
