"""The lazy public surface: every name resolves, static and lazy views agree, import is light."""

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

PACKAGES = ["pinnloss", "pinnloss.eos"]


def _type_checking_names(module) -> set[str]:
    """The names the `if TYPE_CHECKING:` block of a module's source imports."""
    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                names.update(alias.asname or alias.name for alias in imp.names)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))  # tab completion sees every name


@pytest.mark.parametrize("package", PACKAGES)
def test_static_view_matches_lazy_table(package):
    module = importlib.import_module(package)
    assert _type_checking_names(module) == set(module.__all__) - {"__version__"}


@pytest.mark.parametrize("package", PACKAGES)
def test_unknown_name_is_an_attribute_error(package):
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018
    assert not hasattr(module, "no_such_name")


def test_exports_are_the_defining_objects():
    import pinnloss as pl
    from pinnloss import eos
    from pinnloss._fit import fit
    from pinnloss.eos._fit import fit_eos

    assert pl.fit is fit
    assert eos.fit_eos is fit_eos
    assert pl.eos is eos


def test_import_is_light():
    """`import pinnloss` and `import pinnloss.eos` load neither JAX nor matplotlib, scipy, optax."""
    code = (
        "import sys, pinnloss, pinnloss.eos; "
        "print(sorted(m for m in ('jax', 'equinox', 'optax', 'scipy', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_star_import():
    namespace: dict = {}
    exec("from pinnloss.eos import *", namespace)
    assert "fit_eos" in namespace and "BirchMurnaghan" in namespace
