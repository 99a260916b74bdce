"""The documentation site (mkdocs.yml, docs/): what `mkdocs build --strict` needs from the code.

CI builds the site; these checks are the fast part that needs no MkDocs: every page of the
navigation exists, every `::: name` of the API reference is a public name that imports,
every public class and function of `pinnloss` and `pinnloss.eos` is in the reference, every
Python snippet of the pages parses, and the solver written in the solver-protocol guide runs
through `pl.solve` as the page says.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_hooks" not in p.parts)


def _nav_files() -> list[str]:
    """The files named under `nav:` in mkdocs.yml (a page path ends each nav line)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1]
    return re.findall(r"^\s+- (?:.*: )?([\w./-]+\.(?:md|ipynb))\s*$", nav, flags=re.M)


def _targets() -> list[tuple[str, str]]:
    """(page, dotted name) of every mkdocstrings `::: name` directive."""
    out = []
    for page in PAGES:
        for name in re.findall(r"^::: ([\w.]+)\s*$", page.read_text(encoding="utf-8"), re.M):
            out.append((page.relative_to(DOCS).as_posix(), name))
    return out


def _resolve(name: str):
    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def test_nav_pages_exist():
    files = _nav_files()
    assert len(files) >= 20, files  # the parser found the navigation
    for f in files:
        # notebooks are published from the repository's notebooks/ (docs/_hooks/notebooks.py)
        path = ROOT / f if f.startswith("notebooks/") else DOCS / f
        assert path.is_file(), f"mkdocs.yml nav names {f}, which does not exist ({path})"
    assert len(set(files)) == len(files), "a page is in the navigation twice"


def test_notebooks_rendered_not_executed():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+execute: false\b", text, re.M), "notebooks must not run in the build"
    assert re.search(r"^\s+font: false\b", text, re.M), "no web fonts fetched at build time"
    published = {f for f in _nav_files() if f.startswith("notebooks/")}
    assert published == {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_reference_targets_are_public_names():
    targets = _targets()
    assert len(targets) > 50, targets
    for page, name in targets:
        assert name.split(".")[0] == "pinnloss", (page, name)
        private = [p for p in name.split(".") if p.startswith("_")]
        assert not private, f"{page}: `::: {name}` goes through a private module {private}"
        try:
            _resolve(name)
        except AttributeError as err:
            pytest.fail(f"{page}: `::: {name}` is not a public name ({err})")


def _documented() -> tuple[set[str], list]:
    names = {name for _, name in _targets()}
    return names, [_resolve(n) for n in names]


@pytest.mark.parametrize("module", ["pinnloss", "pinnloss.eos"])
def test_every_public_class_and_function_is_in_the_reference(module):
    names, objects = _documented()
    mod = importlib.import_module(module)
    missing = []
    for attr in mod.__all__:
        full = f"{module}.{attr}"
        obj = getattr(mod, attr)
        if full in names or any(obj is o for o in objects):  # FitResult is Solution
            continue
        if inspect.ismodule(obj) and (
            any(n.startswith(full + ".") for n in names)  # name by name (pinnloss.eos.plot)
            or all(any(getattr(obj, a) is o for o in objects) for a in obj.__all__)
        ):
            continue  # a submodule whose names are documented (pl.extras: pl.per_sample_*)
        if not (inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj)):
            continue  # constants (FORM_REGISTRY, LAMBDA_GRID, ...) are described in prose
        missing.append(full)
    assert not missing, (
        f"public names missing from the API reference (add `::: NAME` to a page of "
        f"docs/api/): {missing}"
    )


def _snippets(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)


def test_python_snippets_parse():
    count = 0
    for page in PAGES:
        for i, code in enumerate(_snippets(page)):
            count += 1
            try:
                ast.parse(code)
            except SyntaxError as err:
                pytest.fail(f"{page.relative_to(ROOT)}, python block {i + 1}: {err}")
    assert count >= 10


def test_solver_protocol_example_runs():
    """The 30-line solver of docs/guides/solvers.md, run through pl.solve: it converges to
    the least-squares line, and a step budget that runs out is reported, not raised."""
    import pinnloss as pl

    blocks = _snippets(DOCS / "guides" / "solvers.md")
    code = next(b for b in blocks if "class BacktrackingGD" in b)
    namespace: dict = {}
    exec(compile(code, "docs/guides/solvers.md", "exec"), namespace)
    solver = namespace["BacktrackingGD"]()
    rng = np.random.default_rng(0)
    x = jnp.linspace(-1.0, 1.0, 32)
    y = 2.0 * x + 1.0 + 0.1 * jnp.asarray(rng.normal(size=32))
    model = namespace["eqx"].nn.Linear("scalar", "scalar", key=jax.random.key(0))
    sol = pl.solve(model, pl.DataMSE(x, y), solver, max_steps=300)
    assert sol.result == pl.RESULTS.converged_gtol, sol.reason
    slope, intercept = np.polyfit(np.asarray(x), np.asarray(y), 1)  # an independent fit
    np.testing.assert_allclose(float(sol.model.weight[0, 0]), slope, rtol=1e-6)
    np.testing.assert_allclose(float(sol.model.bias[0]), intercept, rtol=1e-6)
    steps = int(sol.steps)
    np.testing.assert_allclose(sol.history["total"][0], float(pl.DataMSE(x, y)(model)), rtol=1e-12)
    short = pl.solve(model, pl.DataMSE(x, y), solver, max_steps=2)
    assert short.result == pl.RESULTS.max_steps_reached and int(short.steps) == 2 < steps
