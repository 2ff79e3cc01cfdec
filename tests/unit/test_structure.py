"""The tool's structure: rooms stacked in layers (each module imports only its own room or those below), no import
circles, the box's mechanism free of grading, and small modules and functions."""
import ast
from pathlib import Path

from tests.conftest import ROOT

GRADER = ROOT / "grader"
# The rooms, lowest first (docs/sandbox.md and ../shared/DESIGN.md): a module may import its own room or a lower one.
LAYERS = [
    {"grader.sandbox", "grader.errors", "grader.files", "grader.i18n"},
    {"grader.spec", "grader.report", "grader.data", "grader.config", "grader.late", "grader.adjust"},
    {"grader.inspection", "grader.judge", "grader.quiz", "grader.pipeline", "grader.notebook"},
    {"grader.batch"},
    {"grader.outputs", "grader.quizbank", "grader.authoring", "grader.grading", "grader.instructor"},
    {"grader.platforms"},
    {"grader.commands", "grader.cli", "grader.cli_base", "grader.cli_gradebook", "grader.cli_summary", "grader.__main__",
     "grader"},
]
MAX_LINES, MAX_FUNCTION_LINES = 500, 60


def _modules() -> dict[str, Path]:
    found = {}
    for path in GRADER.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _room(module: str) -> int:
    best = None
    for level, rooms in enumerate(LAYERS):
        for room in rooms:
            if (module == room or module.startswith(room + ".")) and (best is None or len(room) > len(best[1])):
                best = (level, room)
    assert best is not None, f"{module} belongs to no room: add it to LAYERS"
    return best[0]


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every grader module ``path`` imports, at any depth of its code (a function's import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in modules and n != "grader"}
    return found


def test_no_module_imports_a_room_above_it():
    modules = _modules()
    upward = [f"{name} imports {dep}" for name, path in modules.items() for dep in _imports(path, modules)
              if _room(dep) > _room(name)]
    assert upward == [], upward


def test_no_import_circles():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(name, trail):
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                circles.append(" -> ".join(trail[trail.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, trail + [dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # a package's __init__ importing its own submodules is not a circle of two rooms
    circles = [c for c in circles if len(set(c.split(" -> "))) > 1 and not all(
        part.startswith(c.split(" -> ")[0]) for part in c.split(" -> "))]
    assert circles == [], circles


def test_the_box_knows_nothing_of_grading():
    modules = _modules()
    for name, path in modules.items():
        if name.startswith("grader.sandbox"):
            outside = {dep for dep in _imports(path, modules) if not dep.startswith(("grader.sandbox", "grader.errors",
                                                                                      "grader.files"))}
            assert outside == set(), f"{name} imports {outside}"


def test_modules_and_functions_stay_small():
    big = []
    for name, path in _modules().items():
        source = path.read_text()
        if source.count("\n") > MAX_LINES:
            big.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    big.append(f"{name}.{node.name}: {length} lines")
    assert big == [], big
