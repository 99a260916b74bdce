"""Argument checks: the one home of the checks the public entry points make.

A value the user passed is *concrete* when no leaf of it is a JAX tracer — a Python number,
a NumPy array or a concrete `jax.Array` is concrete even inside `jax.jit`. Concrete values
are checked with NumPy when the term or loss is built, and a bad one raises a `ValueError`
that names the function (or term), the argument and what was wrong. A traced value cannot
be inspected at build time; its check is attached with `eqx.error_if`, so it runs inside
`jit`, `vmap`, `lax.map` and `grad` and raises when the compiled code runs.

Checks are decided on the value *as passed*, never on `jnp.asarray` of it: since JAX 0.10
converting a constant inside traced code gives a tracer.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

__all__ = [
    "is_tracer",
    "is_concrete",
    "host_value",
    "float_dtype",
    "check_int",
    "check_scalar",
    "as_float",
    "as_data",
    "check_positive",
    "check_same_shape",
    "check_leading",
    "broadcast_weights",
    "cholesky",
    "psd_sqrt",
]


def is_tracer(x) -> bool:
    """True when `x` itself is a JAX tracer."""
    return isinstance(x, jax.core.Tracer)


def is_concrete(tree) -> bool:
    """True when no leaf of `tree` is a JAX tracer (its values can be read now)."""
    return not any(is_tracer(leaf) for leaf in jax.tree_util.tree_leaves(tree))


def host_value(where: str, name: str, value) -> np.ndarray | None:
    """`value` as a NumPy array when it is concrete, else `None`; not an array: `ValueError`."""
    if not is_concrete(value):
        return None
    try:
        out = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"{where}: {name} must be an array or a number; got {type(value).__name__}."
        ) from e
    return out


def float_dtype(where: str, name: str, dtype) -> np.dtype:
    """The floating dtype a value of `dtype` is computed in; complex or non-numeric refused.

    Integers and bools are promoted to JAX's default float (float64 with x64 enabled), so
    an int32 residual never overflows when squared and a bool mask is a 0/1 number.
    """
    dtype = np.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise ValueError(
            f"{where}: {name} must be real; got complex dtype {dtype} "
            "(split it into real and imaginary parts)."
        )
    if jnp.issubdtype(dtype, jnp.floating):
        return np.dtype(jax.dtypes.canonicalize_dtype(dtype))
    if jnp.issubdtype(dtype, jnp.integer) or dtype == np.bool_:
        return np.dtype(jnp.result_type(float))
    raise ValueError(f"{where}: {name} must be numeric; got dtype {dtype}.")


def check_int(where: str, name: str, value, *, minimum: int, kind: str | None = None) -> int:
    """`value` as an int, or a `ValueError` naming `where` and `name` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        if kind is None:
            kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
                minimum, f"an integer >= {minimum}"
            )
        raise ValueError(f"{where}: {name} must be {kind}; got {value!r}.")
    return int(value)


def _fail_if(arr: Array, pred: Array, msg: str) -> Array:
    """`arr` with a run-time check attached: raise `msg` when `pred` is true."""
    return eqx.error_if(arr, pred, msg)


def _sign(a: Array) -> Array:
    """An array with the sign of `a` that is non-zero for subnormals (XLA on CPU flushes them)."""
    return jnp.frexp(a)[0]


def _to_jax(value, host: np.ndarray, dtype: np.dtype) -> Array:
    if isinstance(value, jax.Array) and value.dtype == dtype:
        return value
    return jnp.asarray(host.astype(dtype, copy=False))


def _first_bad(bad: np.ndarray) -> str:
    if bad.ndim == 0:
        return ""
    return f", the first at index {tuple(np.argwhere(bad)[0].tolist())}"


def check_scalar(
    where: str,
    name: str,
    x,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    finite: bool = True,
) -> Array:
    """`x` as a real floating scalar array, checked now when concrete, by `error_if` when traced.

    Example:
        >>> check_scalar("ZeroPressure", "v0", -1.0, positive=True)
        ValueError: ZeroPressure: v0 must be positive; got -1.0.
    """
    host = host_value(where, name, x)
    if host is not None:
        dtype = float_dtype(where, name, host.dtype)
        if host.shape != ():
            raise ValueError(f"{where}: {name} must be a scalar; got shape {host.shape}.")
        v = host.astype(dtype)
        if finite and not np.isfinite(v):
            raise ValueError(f"{where}: {name} must be finite; got {float(host)}.")
        if positive and not v > 0:
            raise ValueError(f"{where}: {name} must be positive; got {float(host)}.")
        if nonnegative and not v >= 0:
            raise ValueError(f"{where}: {name} must be non-negative; got {float(host)}.")
        return _to_jax(x, host, dtype)
    a = jnp.asarray(x)
    dtype = float_dtype(where, name, a.dtype)
    if a.shape != ():
        raise ValueError(f"{where}: {name} must be a scalar; got shape {a.shape}.")
    a = a.astype(dtype)
    if finite:
        a = _fail_if(a, ~jnp.isfinite(a), f"{where}: {name} must be finite.")
    if positive:
        a = _fail_if(a, ~(_sign(a) > 0), f"{where}: {name} must be positive.")
    if nonnegative:
        a = _fail_if(a, ~(_sign(a) >= 0), f"{where}: {name} must be non-negative.")
    return a


def as_float(where: str, name: str, value) -> Array:
    """`value` as a real floating array (ints and bools promoted, complex refused); no value checks.

    For the pure losses, which run inside training loops: only dtype and shape, which are
    known at trace time, are checked.
    """
    a = value if is_tracer(value) else jnp.asarray(value)
    dtype = float_dtype(where, name, a.dtype)
    return a if a.dtype == dtype else a.astype(dtype)


def as_data(where: str, name: str, value, *, min_ndim: int = 1, promote: bool = True) -> Array:
    """`value` as a non-empty real floating array of finite numbers.

    Ints and bools are promoted to the default float (kept as they are with
    `promote=False`); complex or non-numeric data, fewer than `min_ndim` axes, an empty
    array and NaN or inf are refused — with a `ValueError` now when `value` is concrete,
    with `eqx.error_if` (NaN or inf) when it is traced.
    """
    host = host_value(where, name, value)
    raw = host.dtype if host is not None else jnp.asarray(value).dtype
    dtype = float_dtype(where, name, raw)
    if not promote and not jnp.issubdtype(raw, jnp.floating):
        dtype = np.dtype(jax.dtypes.canonicalize_dtype(raw))
    if host is not None:
        shape = host.shape
    else:
        arr = jnp.asarray(value)
        shape = arr.shape
    if len(shape) < min_ndim:
        raise ValueError(
            f"{where}: {name} must have a leading axis of points (ndim >= {min_ndim}); "
            f"got shape {shape}."
        )
    if 0 in shape:
        what = "give at least one point" if min_ndim >= 1 else "it must hold at least one value"
        raise ValueError(f"{where}: {name} is empty (shape {shape}); {what}.")
    if host is None:
        arr = arr.astype(dtype)
        return _fail_if(arr, ~jnp.all(jnp.isfinite(arr)), f"{where}: {name} contains NaN or inf.")
    bad = ~np.isfinite(host.astype(np.float64))
    if bad.any():
        raise ValueError(
            f"{where}: {name} contains {int(bad.sum())} NaN or inf value(s){_first_bad(bad)}."
        )
    cast = host.astype(dtype)
    if not np.all(np.isfinite(cast)):
        raise ValueError(
            f"{where}: {name} overflows {dtype} (largest magnitude {np.abs(host).max():.3g}); "
            "rescale it or enable float64."
        )
    return _to_jax(value, host, dtype)


def check_positive(where: str, name: str, value, arr: Array) -> Array:
    """`arr` (converted from `value`) with every entry required to be positive."""
    host = host_value(where, name, value)
    if host is not None:
        if not np.all(host > 0):
            raise ValueError(f"{where}: {name} must be positive; the smallest is {host.min()}.")
        return arr
    return _fail_if(arr, ~jnp.all(_sign(arr) > 0), f"{where}: {name} must be positive.")


def check_same_shape(fn: str, a, b, names=("predictions", "targets")) -> None:
    """Raise a `ValueError` naming `fn` when `a` and `b` differ in shape."""
    sa, sb = jnp.shape(a), jnp.shape(b)
    if sa != sb:
        hint = ""
        if len(sa) + 1 == len(sb) and sb[-1:] == (1,) or len(sb) + 1 == len(sa) and sa[-1:] == (1,):
            hint = " (an (N,) array against an (N, 1) array would broadcast to (N, N))"
        raise ValueError(
            f"{fn}: {names[0]} has shape {sa} but {names[1]} has shape {sb}; "
            f"they must be equal{hint}."
        )


def check_leading(where: str, x: Array, y: Array, names=("x", "y")) -> None:
    """Raise a `ValueError` naming `where` when `x` and `y` differ in their leading axis."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{where}: {names[0]} has {x.shape[0]} points (shape {x.shape}) but {names[1]} "
            f"has {y.shape[0]} (shape {y.shape}); they must have the same leading axis."
        )


def broadcast_weights(where: str, weights, shape: tuple[int, ...]) -> Array:
    """Weights broadcast to residuals of `shape`: per sample (leading axis) or per element.

    Weights must be finite, non-negative and not all zero (checked now when concrete, by
    `error_if` when traced).
    """
    shape = tuple(shape)
    host = host_value(where, "weights", weights)
    w = as_float(where, "weights", weights)
    if (
        w.ndim > len(shape)
        or w.shape != shape[: w.ndim]
        and w.shape != shape[len(shape) - w.ndim :]
    ):
        raise ValueError(
            f"{where}: weights of shape {w.shape} do not match residuals of shape {shape}; "
            "give one weight per sample (leading axis) or one per element."
        )
    if host is not None:
        wn = host.astype(np.float64)
        if not np.all(np.isfinite(wn)):
            raise ValueError(f"{where}: weights contain NaN or inf.")
        if np.any(wn < 0):
            raise ValueError(f"{where}: weights must be non-negative; smallest is {wn.min()}.")
        if not np.any(wn > 0):
            raise ValueError(f"{where}: all weights are zero; nothing would be fitted.")
    else:
        w = _fail_if(w, ~jnp.all(jnp.isfinite(w)), f"{where}: weights contain NaN or inf.")
        w = _fail_if(w, jnp.any(_sign(w) < 0), f"{where}: weights must be non-negative.")
        w = _fail_if(w, ~jnp.any(_sign(w) > 0), f"{where}: all weights are zero.")
    if w.shape != shape[len(shape) - w.ndim :]:
        # leading-axis weights: (N,) on (N, d) -> (N, 1)
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    return jnp.broadcast_to(w, shape)


def _square(where: str, arg: str, shape) -> None:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{where}: {arg} must be a square matrix; got shape {tuple(shape)}.")


def _symmetric(m: np.ndarray) -> bool:
    return np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * max(np.abs(m).max(), 1e-300))


def cholesky(where: str, cov, arg: str = "cov") -> Array:
    """Lower Cholesky factor of a symmetric positive definite `cov`, refusing any other.

    A concrete `cov` is factored in float64 and the factor cast to the dtype the caller
    computes in (`cov`'s own floating dtype): an ill-conditioned covariance that a float32
    factorisation would turn into NaN still gives a finite factor, and one whose factor is
    not finite in that dtype is refused. A traced `cov` is factored in its own dtype and a
    non-finite factor raises at run time.
    """
    host = host_value(where, arg, cov)
    if host is None:
        c = as_float(where, arg, cov)
        _square(where, arg, c.shape)
        scale = jnp.max(jnp.abs(c))
        c = _fail_if(
            c,
            jnp.any(jnp.abs(c - c.T) > 1e-10 * scale + 1e-300),
            f"{where}: {arg} is not symmetric.",
        )
        chol = jnp.linalg.cholesky(c)
        return _fail_if(
            chol,
            ~jnp.all(jnp.isfinite(chol)),
            f"{where}: {arg} is not positive definite in {c.dtype} "
            "(its Cholesky factor is not finite).",
        )
    dtype = float_dtype(where, arg, host.dtype)
    _square(where, arg, host.shape)
    cn = host.astype(np.float64)
    if not np.all(np.isfinite(cn)):
        raise ValueError(f"{where}: {arg} contains NaN or inf.")
    if not _symmetric(cn):
        raise ValueError(f"{where}: {arg} is not symmetric.")
    try:
        chol = np.linalg.cholesky(cn)
    except np.linalg.LinAlgError:
        eig = np.linalg.eigvalsh(cn).min()
        raise ValueError(
            f"{where}: {arg} is not positive definite (smallest eigenvalue {eig:.3g})."
        ) from None
    factor = chol.astype(dtype)
    if not (np.all(np.isfinite(factor)) and np.all(np.diag(factor) > 0)):
        raise ValueError(
            f"{where}: {arg} is too ill-conditioned for {dtype}: its Cholesky factor is not "
            "finite and positive there; give it in float64 or regularise it."
        )
    return jnp.asarray(factor)


def psd_sqrt(where: str, matrix, arg: str = "R") -> Array:
    r"""A factor $S$ with $S^\top S = R$ for a symmetric positive semi-definite $R$.

    Concrete: refused when not finite, not symmetric or with an eigenvalue below
    $-10^{-10}\max|R|$. Traced: the same checks by `error_if`.
    """
    host = host_value(where, arg, matrix)
    m = as_float(where, arg, matrix)
    _square(where, arg, m.shape)
    if host is not None:
        mn = host.astype(np.float64)
        if not np.all(np.isfinite(mn)):
            raise ValueError(f"{where}: {arg} contains NaN or inf.")
        if not _symmetric(mn):
            raise ValueError(f"{where}: {arg} is not symmetric.")
        lo = np.linalg.eigvalsh(mn).min()
        if lo < -1e-10 * max(np.abs(mn).max(), 1e-300):
            raise ValueError(f"{where}: {arg} is not positive semi-definite (eigenvalue {lo:.3g}).")
        lam, u = jnp.linalg.eigh(m)
    else:
        m = _fail_if(m, ~jnp.all(jnp.isfinite(m)), f"{where}: {arg} contains NaN or inf.")
        scale = jnp.max(jnp.abs(m))
        m = _fail_if(
            m,
            jnp.any(jnp.abs(m - m.T) > 1e-10 * scale + 1e-300),
            f"{where}: {arg} is not symmetric.",
        )
        lam, u = jnp.linalg.eigh(m)
        lam = _fail_if(
            lam,
            jnp.min(lam) < -1e-10 * scale,
            f"{where}: {arg} is not positive semi-definite.",
        )
    return jnp.sqrt(jnp.clip(lam, 0.0))[:, None] * u.T
