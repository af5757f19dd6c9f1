"""The package's layering: imports point one way, with no cycles and no imports inside functions.

The layers (``../ARCHITECTURE`` in the docs; README "Layout"), bottom up: ``errors``; ``kernels``;
``data``; ``stats``; ``backtest`` and ``alpha``; ``evaluation``; ``mining`` and ``envs``;
``agents``; ``jobs``; ``experiments``, ``workflow`` and ``demo``; ``cli``. A module imports only
modules of its own package or of lower layers; ``executors`` is infrastructure that imports
nothing of quantrl but ``errors``. Nothing in ``quantrl`` but the CLI (which resolves strategy names)
imports ``strategies``, and nothing imports ``benchmarks`` or the tests; ``strategies`` imports
the library, never the CLI. A function may import only optional dependencies.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: dict[str, int] = {
    "errors": 0,
    "memory": 0,
    "display": 0,
    "progress": 0,
    "executors": 0,
    "kernels": 1,
    "data": 2,
    "stats": 3,
    "backtest": 4,
    "alpha": 4,
    "evaluation": 5,
    "mining": 6,
    "envs": 6,
    "agents": 7,
    "jobs": 8,
    "experiments": 9,
    "workflow": 9,
    "demo": 9,
    "cli": 10,
}
"""Top-level part of ``quantrl`` -> its layer; a part imports only lower layers (and itself)."""

INFRASTRUCTURE = {"executors": {"errors"}}
"""Parts that may import only the named parts of quantrl, whatever their layer."""

OPTIONAL_IMPORTS = {"ray", "vectorbt", "lightgbm", "httpx"}
"""Optional dependencies: the only modules a function body may import."""

FORBIDDEN_FOR_LIBRARY = {"strategies", "benchmarks", "tests", "notebooks"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(module: str, path: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(module-level imports, imports inside functions) as (imported module, line)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top: list[tuple[str, int]] = []
    inner: list[tuple[str, int]] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child, is_package)
                names = [target]
                # "from quantrl.x import y" may import the submodule quantrl.x.y
                names += [f"{target}.{a.name}" for a in child.names]
            else:
                visit(child, nested)
                continue
            (inner if in_function else top).extend((n, child.lineno) for n in names)

    visit(tree, False)
    return top, inner


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (itself or its nearest parent), if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> tuple[dict[str, Path], dict[str, set[str]], list[str]]:
    modules = {**_sources("quantrl"), **_sources("strategies")}
    edges: dict[str, set[str]] = defaultdict(set)
    inner_problems: list[str] = []
    for module, path in modules.items():
        top, inner = _imports(module, path)
        for name, _ in top:
            target = _known(name, modules)
            if target and target != module:
                edges[module].add(target)
        for name, line in inner:
            root = name.split(".")[0]
            if root not in OPTIONAL_IMPORTS:
                inner_problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return modules, edges, inner_problems


def _layer_problem(source: str, target: str) -> str | None:
    if source.startswith("quantrl") and target.split(".")[0] in FORBIDDEN_FOR_LIBRARY:
        cli_resolves_strategies = source.startswith("quantrl.cli") and target == "strategies"
        return None if cli_resolves_strategies else "the library imports the gallery or tooling"
    if source.startswith("strategies"):
        return "strategies imports the CLI" if target.startswith("quantrl.cli") else None
    if not target.startswith("quantrl"):
        return None
    src, dst = _part(source), _part(target)
    if src in ("", dst) or dst == "":
        # the package facade (quantrl/__init__) may import anything below the CLI
        return "the package facade imports the CLI" if src == "" and dst == "cli" else None
    if src not in LAYERS:
        return f"{source} is in no layer (add it to LAYERS)"
    if dst not in LAYERS:
        return f"{target} is in no layer (add it to LAYERS)"
    if src in INFRASTRUCTURE:
        return None if dst in INFRASTRUCTURE[src] else f"infrastructure {src} imports {dst}"
    if dst in INFRASTRUCTURE:
        return None
    if LAYERS[dst] >= LAYERS[src]:
        return f"layer {src} ({LAYERS[src]}) imports {dst} ({LAYERS[dst]})"
    return None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def _package_parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or through others."""
    _, edges, _ = _graph()
    # a package's __init__ importing its own submodules is how packages re-export; an import of
    # a submodule also runs its parents' __init__, which is not a dependency of the importer
    pruned = {s: {t for t in ts if t not in _package_parents(s)} for s, ts in edges.items()}
    assert _cycles(pruned) == []


def test_layers_point_one_way() -> None:
    """Every import goes to the same part or a lower layer; the library never imports strategies."""
    _, edges, _ = _graph()
    problems = sorted(
        f"{s} -> {t}: {why}"
        for s, targets in edges.items()
        for t in targets
        if (why := _layer_problem(s, t))
    )
    assert problems == []


def test_imports_inside_functions_only_for_optional_dependencies() -> None:
    """A function body imports only optional dependencies (ray, vectorbt, the LLM client...)."""
    _, _, inner = _graph()
    assert inner == []


def test_checker_catches_a_cycle_and_an_upward_edge() -> None:
    """The checks themselves can fail."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _layer_problem("quantrl.data.panel", "quantrl.backtest.engine") is not None
    assert _layer_problem("quantrl.jobs.sweep", "strategies") is not None
    assert _layer_problem("quantrl.executors.executor", "quantrl.data") is not None
    assert _layer_problem("quantrl.backtest.engine", "quantrl.kernels.portfolio") is None
    assert _layer_problem("strategies.momentum", "quantrl.cli.app") is not None
    assert _layer_problem("quantrl.cli.backtest", "strategies") is None
    assert _layer_problem("quantrl.demo.job", "strategies") is not None
    assert _layer_problem("quantrl.demo.job", "quantrl.cli.demo") is not None
    assert _layer_problem("quantrl.demo.steps", "quantrl.agents.training") is None
