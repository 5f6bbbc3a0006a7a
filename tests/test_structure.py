"""The package's shape, checked from its source: no import cycles, a core without pytest, small modules.

Imports are read with ``ast`` from every module, including imports inside
functions and under ``TYPE_CHECKING``: a cycle dodged with a function-level import
is still a cycle. Importing a module also imports its parent packages' ``__init__``
files, so those edges count too (the root package excepted: every module is under it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_medmodel"
ROOT = "pytest_medmodel"

SKIN = ("plugin", "baselines.snapshot")
"""The pytest-facing modules (a package, or one module); everything else is the plain-Python core."""


def in_skin(name: str) -> bool:
    rest = name.removeprefix(ROOT + ".")
    return any(rest == part or rest.startswith(part + ".") for part in SKIN)


MAX_MODULE_LINES = 360
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (explicitly, or through a parent package)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith(ROOT) and target != name:
                    graph[name].add(target)
    for name in list(graph):  # importing a.b.c runs a.b's __init__ first
        for target in list(graph[name]):
            parent = target.rpartition(".")[0]
            while parent and parent != ROOT:
                if parent != name and not name.startswith(parent + "."):
                    graph[name].add(parent)
                parent = parent.rpartition(".")[0]
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == ROOT:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_function_level_cycle(tmp_path: Path) -> None:
    """The checker itself can fail: a cycle hidden in a function body is found."""
    graph = {"pytest_medmodel.a": {"pytest_medmodel.b"}, "pytest_medmodel.b": {"pytest_medmodel.a"}}
    assert find_cycle(graph) == ["pytest_medmodel.a", "pytest_medmodel.b", "pytest_medmodel.a"]
    source = "def f():\n    from .session import x\n"
    imports = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)]
    assert _resolve("pytest_medmodel.plugin.collect", False, imports[0]) == "pytest_medmodel.plugin.session"


def test_no_module_imports_names_through_the_root_package() -> None:
    """Names come from the module that defines them; the root __init__ only re-exports."""
    offenders = sorted(name for name, deps in import_graph().items() if ROOT in deps and name != ROOT)
    assert offenders == []


def test_the_core_never_imports_pytest_or_the_skin() -> None:
    graph = import_graph()
    core = {name for name in graph if name != ROOT and not in_skin(name)}
    for name in sorted(core):
        path = _modules()[name]
        tree = ast.parse(path.read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {
            (n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0
        }
        assert not imported & {"pytest", "_pytest", "xdist", "syrupy"}, (
            f"{name} imports {imported & {'pytest', 'xdist', 'syrupy'}}"
        )
        skin = sorted(dep for dep in graph[name] if in_skin(dep))
        assert skin == [], f"core module {name} imports the pytest skin: {skin}"


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_and_functions_stay_small(name: str) -> None:
    path = _modules()[name]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path.name}:{node.lineno} {node.name} is {length} lines"


LAYERS = (
    ("registry", "locks", "text_safety", "credentials", "factory_settings", "images"),
    ("suite",),
    ("records", "models", "stats"),
    ("metrics", "perturb", "baselines"),
    ("scoring", "calibration"),
    ("execution", "gates"),
    ("loading", "mutate", "search", "report"),
    ("api", "store", "cli", "__main__"),
    ("plugin",),
)
"""The floors of the package, from the ground up: a part imports only from its own floor or the ones below.

A part is a folder or a module directly under ``pytest_medmodel/``. Data flows one way (suite ->
variants -> requests -> predictions -> metrics -> gates -> report), and the pytest skin is the top floor.
"""


def _part(name: str) -> str:
    return name.removeprefix(ROOT + ".").split(".")[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    floor = {part: level for level, parts in enumerate(LAYERS) for part in parts}
    found = []
    for name, deps in sorted(graph.items()):
        if name == ROOT:
            continue
        for dep in sorted(deps):
            if dep != ROOT and floor[_part(dep)] > floor[_part(name)]:
                found.append(f"{name} -> {dep}")
    return found


def test_every_part_of_the_package_stands_on_a_floor() -> None:
    parts = {_part(name) for name in _modules() if name != ROOT}
    placed = {part for floor in LAYERS for part in floor}
    assert parts - placed == set(), "add the new folder or module to LAYERS"
    assert placed - parts == set(), "LAYERS names a part that no longer exists"


def test_no_import_runs_from_a_lower_floor_up_to_a_higher_one() -> None:
    assert upward_imports(import_graph()) == []


def test_the_floor_check_can_fail() -> None:
    graph = {"pytest_medmodel.suite.types": {"pytest_medmodel.gates.base"}, "pytest_medmodel.gates.base": set()}
    assert upward_imports(graph) == ["pytest_medmodel.suite.types -> pytest_medmodel.gates.base"]
