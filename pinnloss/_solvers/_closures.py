"""Optax transformations as pytrees, so a compiled loop is reused soundly.

An Optax transformation is a pair of closures. `eqx.filter_jit` would hash them by
identity: the same `optax.adam(1e-3)` written inline twice compiles twice. Here every
closure becomes a module whose children are its cell contents (arrays are dynamic, other
values static) and whose static key is the function's *behaviour*: its code object, the
values of its defaults, and the values of the module globals it reads (recursively for
global functions, to a small depth). Two closures with equal keys compute the same thing,
so they may share a compiled loop; a function that reads a global whose value cannot be
keyed (an array, a list, an arbitrary object) gets a key equal only to itself, so it is
never confused with another — the price is a recompile, never a stale result.

The idea of turning closures into pytrees is Equinox's (`equinox.internal.closure_to_pytree`,
used by Optimistix's OptaxMinimiser); that one compares functions by source text, which
misses a change of a global the function reads (and of default values). This version keys
on values instead.
"""

from __future__ import annotations

import builtins
import functools
import types
from typing import Any

import equinox as eqx
import jax
import numpy as np

__all__ = ["closures_to_pytree"]

_SCALARS = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis))
_MAX_DEPTH = 4


class _Unkeyable(Exception):
    pass


def _code_names(code: types.CodeType) -> set[str]:
    """Global (and attribute) names a code object and its nested code objects may read."""
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def _value_key(v, depth: int, seen: set[int]):
    if isinstance(v, _SCALARS):
        return (type(v), v)  # 1 == 1.0 == True must not collide
    if isinstance(v, (types.ModuleType, type, types.BuiltinFunctionType)):
        return ("is", id(v), v)  # module-level singletons: identity is behaviour
    if isinstance(v, np.dtype):
        return ("dtype", str(v))
    if isinstance(v, (tuple, frozenset)):
        return (type(v), tuple(_value_key(x, depth, seen) for x in v))
    if isinstance(v, types.FunctionType):
        if depth >= _MAX_DEPTH or id(v) in seen:
            return ("is", id(v), v)
        return ("fn", _function_key(v, depth + 1, seen | {id(v)}))
    if isinstance(v, functools.partial):
        return (
            "partial",
            _value_key(v.func, depth, seen),
            _value_key(tuple(v.args), depth, seen),
            _value_key(tuple(sorted(v.keywords.items())), depth, seen),
        )
    if isinstance(v, _Closure):
        return ("closure", v.key)
    raise _Unkeyable(type(v).__name__)


def _function_key(fn: types.FunctionType, depth: int = 0, seen: set[int] | None = None):
    seen = seen if seen is not None else {id(fn)}
    glob = fn.__globals__
    reads = []
    for name in sorted(_code_names(fn.__code__)):
        if name in glob:
            reads.append((name, _value_key(glob[name], depth, seen)))
        elif not hasattr(builtins, name):
            reads.append((name, ("missing",)))
    cells = ()
    if fn.__closure__ and depth > 0:  # top-level cells become pytree children instead
        try:
            cells = tuple(_value_key(c.cell_contents, depth, seen) for c in fn.__closure__)
        except ValueError:  # an empty cell
            raise _Unkeyable("empty cell") from None
    return (
        fn.__code__,
        tuple(reads),
        _value_key(fn.__defaults__ or (), depth, seen),
        _value_key(tuple(sorted((fn.__kwdefaults__ or {}).items())), depth, seen),
        cells,
    )


class _Key:
    """A function's static key: equal for functions that compute the same thing."""

    __slots__ = ("fn", "key")

    def __init__(self, fn: types.FunctionType):
        self.fn = fn
        try:
            key = _function_key(fn)
            hash(key)
        except (_Unkeyable, TypeError, RecursionError):
            key = None  # equal only to itself: never reused across conversions
        self.key = key

    def __hash__(self):
        return hash(self.key) if self.key is not None else id(self)

    def __repr__(self):  # no address: checkpoint fingerprints must agree across processes
        return f"<function {self.fn.__module__}.{self.fn.__qualname__}>"

    def __eq__(self, other):
        if not isinstance(other, _Key):
            return NotImplemented
        if self.key is None or other.key is None:
            return self is other
        return self.key == other.key


class _Opaque:
    """An unhashable, non-array cell value: static, equal only to itself."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return id(self.value)

    def __eq__(self, other):
        return isinstance(other, _Opaque) and other.value is self.value

    def __repr__(self):
        return f"<opaque {type(self.value).__qualname__}>"


def _make_cell(value):
    return (lambda: value).__closure__[0]


class _Closure(eqx.Module):
    """A closure as a pytree: call it like the function it was made from."""

    key: _Key = eqx.field(static=True)
    cells: tuple | None

    def __call__(self, *args, **kwargs):
        fn = self.key.fn
        closure = None
        if self.cells is not None:
            closure = tuple(_make_cell(_unwrap(c)) for c in self.cells)
        g = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, closure)
        g.__kwdefaults__ = fn.__kwdefaults__
        return g(*args, **kwargs)


def _unwrap(tree):
    return jax.tree_util.tree_map(
        lambda x: x.value if isinstance(x, _Opaque) else x,
        tree,
        is_leaf=lambda x: isinstance(x, (_Opaque, _Closure)),
    )


def _convert_leaf(x):
    if isinstance(x, types.FunctionType):
        cells = None
        if x.__closure__ is not None:
            try:
                contents = [c.cell_contents for c in x.__closure__]
            except ValueError:  # an empty cell: keep the function as it is
                return _Opaque(x)
            cells = tuple(closures_to_pytree(c) for c in contents)
        return _Closure(_Key(x), cells)
    if eqx.is_array(x) or isinstance(x, (_Closure, _Opaque)):
        return x
    try:
        hash(x)
    except TypeError:
        return _Opaque(x)
    return x


def closures_to_pytree(tree: Any) -> Any:
    """`tree` with every function closure replaced by a `_Closure` module (see module doc)."""
    return jax.tree_util.tree_map(_convert_leaf, tree, is_leaf=lambda x: isinstance(x, _Closure))
