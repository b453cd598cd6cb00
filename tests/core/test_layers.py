"""The direction of imports (docs/architecture.md, "Layout and design"): each layer of core
imports only the layers below it, core never imports Qt, the window or the command line,
and nothing imports in a circle. Imports inside functions count; imports under
`if TYPE_CHECKING:` count for the direction but not for circles (they never run)."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "closeplan_desktop"
ROOT = PACKAGE.name
CORE_LAYERS = ("domain", "security", "store", "usecases", "sync", "tools")
# Third-party packages a layer must not need (the server imports the domain layer).
FORBIDDEN_EXTERNAL = {
    "domain": ("sqlalchemy", "sqlcipher3", "keyring", "alembic", "PySide6", "bcrypt"),
    "security": ("sqlalchemy", "sqlcipher3", "alembic", "PySide6"),
}
NEVER_IN_CORE = (f"{ROOT}.ui", f"{ROOT}.cli", f"{ROOT}.app", f"{ROOT}.server", "PySide6")
SERVER = f"{ROOT}.server"
# What the server takes from the rest of the package: the domain layer (enums, errors,
# ids, money), the PHI envelope format and the password hash format (bcrypt). Never Qt,
# the window, the command line, the store (SQLCipher) or the use cases (the keyring).
SERVER_MAY_IMPORT = (SERVER, f"{ROOT}.core.domain", f"{ROOT}.core.security.crypto",
                     f"{ROOT}.core.security.passwords")
NEVER_IN_SERVER = ("PySide6", "sqlcipher3", "keyring", f"{ROOT}.ui", f"{ROOT}.cli",
                   f"{ROOT}.app", f"{ROOT}.core.store", f"{ROOT}.core.usecases",
                   f"{ROOT}.core.tools")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    runtime: bool  # False under `if TYPE_CHECKING:`


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def edges_of(name: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Edge] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [origin]
            # `from pkg import module` imports the module
            targets += [f"{origin}.{a.name}" for a in node.names
                        if f"{origin}.{a.name}" in modules]
        else:
            continue
        for target in targets:
            found.append(Edge(name, target, node.lineno, node.lineno not in guarded))
    return found


def all_edges() -> list[Edge]:
    modules = all_modules()
    return [e for name, path in modules.items() for e in edges_of(name, path, modules)]


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == [ROOT, "core"] and len(parts) > 2 and parts[2] in CORE_LAYERS:
        return parts[2]
    return None


def test_every_core_module_sits_in_a_layer_and_packages_stay_empty() -> None:
    for name, path in all_modules().items():
        if name.startswith(f"{ROOT}.core."):
            assert layer(name) is not None, f"{name} is in no layer of core"
        if name.startswith(f"{ROOT}.core") and path.name == "__init__.py":
            # The window paints before the database stack loads: no package imports it.
            assert path.read_text(encoding="utf-8").strip() == "", f"{path} is not empty"


def test_core_layers_import_only_downward() -> None:
    wrong = []
    for e in all_edges():
        src, dst = layer(e.source), layer(e.target)
        if src and dst and CORE_LAYERS.index(dst) > CORE_LAYERS.index(src):
            wrong.append(f"{e.source}:{e.line} imports {e.target} ({src} -> {dst})")
    assert not wrong, "\n".join(wrong)


def test_core_never_imports_qt_the_window_or_the_command_line() -> None:
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in all_edges()
             if e.source.startswith(f"{ROOT}.core")
             and any(e.target == n or e.target.startswith(n + ".") for n in NEVER_IN_CORE)]
    assert not wrong, "\n".join(wrong)


def test_lower_layers_need_no_database_or_gui_package() -> None:
    wrong = []
    for e in all_edges():
        src = layer(e.source)
        for banned in FORBIDDEN_EXTERNAL.get(src or "", ()):
            if e.target == banned or e.target.startswith(banned + "."):
                wrong.append(f"{e.source}:{e.line} imports {e.target}")
    assert not wrong, "\n".join(wrong)


# The sync client talks to the server over HTTP only: httpx is imported in core.sync and
# nowhere else in core (the window and the command line go through core.sync too).
HTTP_CLIENT = "httpx"


def test_only_the_sync_layer_talks_http() -> None:
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in all_edges()
             if (e.target == HTTP_CLIENT or e.target.startswith(HTTP_CLIENT + "."))
             and not e.source.startswith(SERVER) and layer(e.source) != "sync"]
    assert not wrong, "\n".join(wrong)


def test_the_sync_layer_sits_above_the_use_cases_and_below_the_tools() -> None:
    """core.sync may use the store and the use cases' rules, never Qt, the window, the
    command line or the server's own code (it speaks to the server over HTTP)."""
    names = [n for n in all_modules() if layer(n) == "sync"]
    assert f"{ROOT}.core.sync.engine" in names and f"{ROOT}.core.sync.transport" in names
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in all_edges()
             if layer(e.source) == "sync" and _within(e.target, NEVER_IN_CORE)]
    assert not wrong, "\n".join(wrong)


def test_window_and_command_line_do_not_import_each_other() -> None:
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in all_edges()
             if (e.source.startswith(f"{ROOT}.ui") and e.target.startswith(f"{ROOT}.cli"))
             or (e.source.startswith(f"{ROOT}.cli") and e.target.startswith(f"{ROOT}.ui"))]
    assert not wrong, "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph, as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_sees_a_circle_and_a_clean_graph() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles() -> None:
    modules = all_modules()
    graph: dict[str, set[str]] = {}
    for e in all_edges():
        # A package's own __init__ is not an edge back: importing a.b runs a/__init__.
        if e.runtime and e.target in modules and e.target != e.source \
                and not e.source.startswith(e.target + "."):
            graph.setdefault(e.source, set()).add(e.target)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


@pytest.mark.parametrize("layer_name", ["domain", "security"])
def test_lower_layers_import_without_the_database_stack(layer_name: str) -> None:
    """Run for real: importing every module of the layer loads none of the packages it
    must not need (the server takes the domain layer without SQLCipher, keyring or Qt)."""
    names = sorted(n for n in all_modules() if layer(n) == layer_name)
    banned = FORBIDDEN_EXTERNAL[layer_name]
    code = (f"import sys\nfor n in {names!r}: __import__(n)\n"
            f"print(sorted(m for m in {banned!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "[]", f"importing the {layer_name} layer loaded {out}"


def _within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def test_the_server_imports_only_the_domain_and_the_envelope_format() -> None:
    # A package on the way to an allowed module (its __init__ is empty) is allowed too.
    parents = {".".join(m.split(".")[:i]) for m in SERVER_MAY_IMPORT
               for i in range(1, m.count(".") + 1)}
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in all_edges()
             if e.source.startswith(SERVER)
             and ((e.target.startswith(ROOT) and not _within(e.target, SERVER_MAY_IMPORT)
                   and e.target not in parents)
                  or _within(e.target, NEVER_IN_SERVER))]
    assert not wrong, "\n".join(wrong)


def test_the_server_imports_without_qt_sqlcipher_or_the_keyring() -> None:
    """Run for real: importing every server module loads nothing of NEVER_IN_SERVER."""
    names = sorted(n for n in all_modules() if n.startswith(SERVER))
    assert f"{SERVER}.db.pool" in names
    code = (f"import sys\nfor n in {names!r}: __import__(n)\n"
            f"print(sorted(m for m in sys.modules if any(m == b or m.startswith(b + '.') "
            f"for b in {NEVER_IN_SERVER!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "[]", f"importing the server loaded {out}"
