"""Lazy public names for a package (PEP 562): `import pinnloss` stays cheap.

`pinnloss/__init__.py` and `pinnloss/eos/__init__.py` each list their public submodules and
name → private-module table and take their module `__getattr__` and `__dir__` from `attach`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def attach(
    package: str, submodules: tuple[str, ...], exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`, loading each name's module on first use.

    A loaded name is cached in the package's namespace, so later look-ups bypass
    `__getattr__`; `__dir__` lists the loaded names and every public one (tab completion).
    """

    def __getattr__(name: str) -> Any:
        if name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        elif name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
