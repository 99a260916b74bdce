"""Layers run one way: imports between pinnloss modules, read from the source with `ast`.

Function-level imports count like module-level ones, and relative imports are resolved, so
`from ..eos import x` inside a function is seen as an import of `pinnloss.eos`.
"""

import ast
from pathlib import Path

import pytest

import pinnloss
from pinnloss import cli, eos

PKG = Path(pinnloss.__file__).resolve().parent


def _module_files() -> dict[str, tuple[Path, bool]]:
    """`{"pinnloss.eos._fit": (path, is_package), ...}` for every .py file in the package."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _module_files()


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """`(target module, imported name or None, line)` for every pinnloss import in `module`.

    The target is the module named, not its parent packages (importing `pinnloss.eos._fit`
    runs `pinnloss/__init__.py` first, but that is not an import by `pinnloss.eos._fit`).
    """
    path, is_pkg = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):  # walks into functions and classes too
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pinnloss" or alias.name.startswith("pinnloss."):
                    out.append((alias.name, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_pkg else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not (base == "pinnloss" or base.startswith("pinnloss.")):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    out.append((sub, None, node.lineno))
                else:
                    out.append((base, alias.name, node.lineno))
    return out


GRAPH = {m: sorted({t for t, _, _ in _imports(m) if t != m}) for m in MODULES}


def _is_eos(module: str) -> bool:
    return module == "pinnloss.eos" or module.startswith("pinnloss.eos.")


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_import_reader_sees_imports():
    # guards the tests below against passing because the reader found nothing
    assert "pinnloss.eos._fit" in MODULES and "pinnloss" in MODULES
    assert "pinnloss._lsq" in GRAPH["pinnloss.eos._fit"]  # `from .._lsq import ...`
    assert "pinnloss.eos.plot" in GRAPH["pinnloss.eos"]  # `from . import plot`
    assert "pinnloss.eos._properties" in GRAPH["pinnloss.eos.plot"]
    assert "pinnloss._cache" in GRAPH["pinnloss.cli"]  # a function-level import
    assert "pinnloss.eos" in GRAPH["pinnloss"] and "pinnloss.eos" in GRAPH["pinnloss.cli"]
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def test_only_eos_the_cli_and_the_package_import_eos():
    allowed = {"pinnloss", "pinnloss.cli"}
    bad = [
        f"{m} line {line}: imports {t}" + (f".{n}" if n else "")
        for m in MODULES
        if not (_is_eos(m) or m in allowed)
        for t, n, line in _imports(m)
        if _is_eos(t) or (t == "pinnloss" and n == "eos")
    ]
    assert not bad, "core modules must not import pinnloss.eos:\n" + "\n".join(bad)


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, f"import cycles between pinnloss modules: {cycles}"


def test_solver_layers_import_downward_only():
    """data -> terms -> solvers -> driver -> entry points / sweep: nothing imports upward."""
    order = [
        "pinnloss._validate",
        "pinnloss._derivatives",
        "pinnloss._terms",
        "pinnloss._solution",
        "pinnloss._solvers._base",
        "pinnloss._solvers._lm",
        "pinnloss.parallel._checkpoint",
        "pinnloss._driver",
        "pinnloss._solve",
        "pinnloss.parallel._sweep",
    ]
    bad = [
        f"{m} imports {t}"
        for i, m in enumerate(order)
        for t in GRAPH.get(m, ())
        if t in order[i + 1 :]
    ]
    assert not bad, bad


def test_extras_and_parallel_sit_outside_the_core():
    """What only examples use (`pinnloss.extras`) is imported by nothing but the package's
    lazy table; the parallel layer (`pinnloss.parallel`) only by the driver (the checkpoint
    format), the package, the launcher shim and `eos` (a sweep of E(V) fits)."""
    assert "pinnloss.parallel._sweep" in MODULES and "pinnloss.extras._samples" in MODULES
    inside = lambda m, pkg: m == pkg or m.startswith(pkg + ".")
    bad = [
        f"{m} imports {t}"
        for m in MODULES
        for t in GRAPH[m]
        if inside(t, "pinnloss.extras") and not (inside(m, "pinnloss.extras") or m == "pinnloss")
    ]
    users = {
        m
        for m in MODULES
        if not inside(m, "pinnloss.parallel")
        for t in GRAPH[m]
        if inside(t, "pinnloss.parallel")
    }
    allowed = {"pinnloss", "pinnloss.launch", "pinnloss._driver", "pinnloss.eos._flex"}
    assert not bad, bad
    assert users <= allowed, sorted(users - allowed)
    # and the driver uses only the checkpoint format from it, never the sweep
    assert [t for t in GRAPH["pinnloss._driver"] if inside(t, "pinnloss.parallel")] == [
        "pinnloss.parallel._checkpoint"
    ]
    assert "pinnloss.pde._balancing" in GRAPH["pinnloss.balancing"]  # pl.balancing: a thin module


# The CLI composes public functions; the compilation cache is the one private module it may
# use (it is an application's setting, not part of the library's API).
_CLI_MAY_IMPORT = {"pinnloss._cache"}


def _private(module: str) -> bool:
    return any(p.startswith("_") for p in module.split(".")[1:])


def _private_name(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")  # dunders (__version__) are public


def test_cli_uses_public_names_only():
    imports = _imports("pinnloss.cli")
    bad = [
        f"line {line}: {t}" + (f".{n}" if n else "")
        for t, n, line in imports
        if (_private(t) and t not in _CLI_MAY_IMPORT)
        or (n is not None and _private_name(n) and t not in _CLI_MAY_IMPORT)
    ]
    # and no private attribute of a pinnloss module, e.g. `eos._properties.energy_offset`
    path, _ = MODULES["pinnloss.cli"]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound.add(alias.asname or alias.name.split(".")[0])
    bound &= {"pinnloss", "pl", "eos", "plot", "losses"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private_name(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                bad.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert bound, "the CLI should import pinnloss"
    assert not bad, "the CLI uses private parts of pinnloss:\n" + "\n".join(bad)


def test_one_table_of_form_names():
    names = list(eos.FORM_REGISTRY)
    parser = cli._parser()
    for name in [*names, "net"]:  # the CLI accepts exactly the registry's names and "net"
        args = parser.parse_args(["fit", "--form", name])
        cli._check_form(args, parser)
    with pytest.raises(SystemExit):
        cli._check_form(parser.parse_args(["fit", "--form", "not_a_form"]), parser)
    assert all(n in cli._form_help() for n in ("bm", "vinet", "sj", "net"))
    for name in names:  # fit_eos reads the same registry
        cls = eos.FORM_REGISTRY[name].cls
        assert getattr(eos, cls.__name__) is cls
    # no other module spells a form name out (defaults excepted): no second table
    defaults = {"birch_murnaghan", "bm"}
    spelled = {
        str(path.relative_to(PKG.parent))
        for m, (path, _) in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in set(names) - defaults
    }
    assert spelled == {"pinnloss/eos/_forms.py"}
