"""Reuse the compiled fit loop for a fresh but identical Optax optimizer.

An Optax transformation is a pair of closures; `eqx.filter_jit` hashes closures by
identity, so `pl.fit(model, obj, optax.adam(1e-3), ...)` written inline would compile the
whole loop again on every call (~1 s). `canonical(opt)` computes a structural fingerprint
— the code objects of the closures and the values of everything they capture, recursively
— and returns the first optimizer seen with that fingerprint, so the compiled loop is
found again. Anything whose behaviour is not pinned down by the fingerprint (arrays,
lists, dicts, arbitrary objects captured by a closure) makes the optimizer uncacheable and
it is used as given: a false hit is impossible by construction, a miss only costs a compile.
"""

from __future__ import annotations

import functools
import types
from typing import Any

_SCALARS = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis))
_REGISTRY: dict[Any, Any] = {}
_MAX_ENTRIES = 256


class _Unhashable(Exception):
    pass


def _fp(obj, depth: int = 0):
    if depth > 50:
        raise _Unhashable
    if isinstance(obj, _SCALARS):
        # type too: 1 == 1.0 == True must not collide; NaN never equals itself (a miss)
        return (type(obj), obj)
    if isinstance(obj, tuple):  # includes NamedTuples such as GradientTransformation
        return ("tuple", type(obj), tuple(_fp(x, depth + 1) for x in obj))
    if isinstance(obj, functools.partial):
        return (
            "partial",
            _fp(obj.func, depth + 1),
            _fp(tuple(obj.args), depth + 1),
            _fp(tuple(sorted(obj.keywords.items())), depth + 1),
        )
    if isinstance(obj, types.FunctionType):
        cells = ()
        if obj.__closure__:
            try:
                cells = tuple(_fp(c.cell_contents, depth + 1) for c in obj.__closure__)
            except ValueError:  # an empty cell
                raise _Unhashable from None
        return (
            "function",
            obj.__code__,
            id(obj.__globals__),
            _fp(obj.__defaults__ or (), depth + 1),
            _fp(tuple(sorted((obj.__kwdefaults__ or {}).items())), depth + 1),
            cells,
        )
    if isinstance(obj, (types.BuiltinFunctionType, types.ModuleType, type)):
        return ("object", id(obj), obj)  # module-level singletons: identity is behaviour
    try:
        import numpy as np

        if isinstance(obj, np.dtype):
            return ("dtype", str(obj))
    except ImportError:  # pragma: no cover
        pass
    raise _Unhashable


def fingerprint(optimizer) -> Any | None:
    """A hashable structural fingerprint of `optimizer`, or None if it has none."""
    try:
        fp = _fp(optimizer)
        hash(fp)
    except (_Unhashable, TypeError, RecursionError):
        return None
    return fp


def canonical(optimizer):
    """The first optimizer seen with `optimizer`'s fingerprint (itself if none)."""
    fp = fingerprint(optimizer)
    if fp is None:
        return optimizer
    hit = _REGISTRY.get(fp)
    if hit is not None:
        return hit
    if len(_REGISTRY) >= _MAX_ENTRIES:
        _REGISTRY.pop(next(iter(_REGISTRY)))
    _REGISTRY[fp] = optimizer
    return optimizer
