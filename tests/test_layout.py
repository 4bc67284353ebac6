"""The package's shape: no import cycles, MLflow only in covers.tracking, a leaf utils module,
stage packages that never import the shell above them. Read from the source (every import,
function-level ones included), so a lazy import cannot hide a cycle."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "covers"


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module this file imports (absolute names), at any depth of the file."""
    me = module_name(path)
    pkg = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # `from covers.x import y` may be a module
    return out


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    g = {}
    for name, path in files.items():
        g[name] = {m for m in imports_of(path) if m in files and m != name}
    return g


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_cycle_finder_finds_a_planted_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(g) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve(tmp_path):
    assert imports_of(PKG / "utils.py") <= {"__future__", "multiprocessing", "os", "pathlib", "pathlib.Path",
                                            "typing", "typing.Any", "mmap", "numpy", "inspect",
                                            "__future__.annotations"}


def test_no_import_cycles_between_modules():
    assert find_cycle(graph()) is None, f"import cycle: {' -> '.join(find_cycle(graph()))}"


def test_no_import_cycles_between_packages():
    pkgs: dict[str, set[str]] = {}
    for a, deps in graph().items():
        pa = ".".join(a.split(".")[:2])
        pkgs.setdefault(pa, set()).update(".".join(b.split(".")[:2]) for b in deps)
    for p in pkgs:
        pkgs[p].discard(p)
    for d in list(pkgs.values()):
        for p in d:
            pkgs.setdefault(p, set())
    assert find_cycle(pkgs) is None, f"package cycle: {' -> '.join(find_cycle(pkgs))}"


def test_only_tracking_imports_mlflow():
    users = sorted(module_name(p) for p in PKG.rglob("*.py")
                   if any(m == "mlflow" or m.startswith("mlflow.") for m in imports_of(p)))
    assert users and all(u.startswith("covers.tracking.") for u in users), users
    assert "covers.tracking" not in users  # its __init__ stays light: `covers cache info` needs no MLflow


def test_utils_is_a_leaf_and_stages_never_import_the_shell():
    g = graph()
    assert not {m for m in g["covers.utils"] if m.startswith("covers")}
    stages = ("covers.data", "covers.features", "covers.norm", "covers.index", "covers.split", "covers.scorers",
              "covers.evaluation", "covers.pipeline", "covers.cache", "covers.config")
    for mod, deps in g.items():
        if mod.startswith(stages):
            bad = {d for d in deps if d.startswith(("covers.app", "covers.tracking"))}
            assert not bad, f"{mod} imports the shell/tracking: {bad}"
        if mod.startswith("covers.tracking"):
            assert not {d for d in deps if d.startswith("covers.app")}, mod
