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

import contextlib

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
    "check_weight",
    "check_weight_product",
    "as_float",
    "as_data",
    "check_positive",
    "check_same_shape",
    "check_leading",
    "broadcast_weights",
    "cholesky",
    "psd_sqrt",
    "fail_if",
    "runtime_message",
    "plain_errors",
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


# marks the message of a run-time check of ours, so that `plain_errors` recognises it (a
# prefix in the message itself: no registry of messages, no module state)
_MARK = "pinnloss: "


def fail_if(arr: Array, pred: Array, msg: str) -> Array:
    """`arr` with a run-time check attached: raise `msg` when `pred` is true.

    `eqx.error_if` with the message marked (`pinnloss: ...`) so that `plain_errors` can
    shorten it.
    """
    return eqx.error_if(arr, pred, _MARK + msg)


def runtime_message(err: BaseException) -> str | None:
    """The message of the pinnloss run-time check that `err` carries, else `None`.

    A check attached with `eqx.error_if` that fires inside compiled code surfaces as an
    `equinox.EquinoxRuntimeError` (under `eqx.filter_jit`) or a `jax.errors.JaxRuntimeError`
    (under `jax.jit`), 20-40 lines of stack and advice around the one line that matters.
    """
    head = f"EquinoxRuntimeError: {_MARK}"
    text = str(err)
    at = text.find(head)
    if at < 0:
        return None
    return text[at + len(head) :].split("\n", 1)[0].strip() or None


_RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, eqx.EquinoxRuntimeError)


@contextlib.contextmanager
def plain_errors():
    """Re-raise a run-time refusal of ours as a one-line `ValueError` with only its message.

    Wrap host code that runs compiled programs (the driver between chunks, `pl.sweep`,
    `eos.fit_eos`): a refused input (a negative traced weight, a label of 5) then reads
    `ValueError: Objective: term weight must be non-negative.` instead of a 22-line
    `JaxRuntimeError`. Other run-time errors pass through unchanged. Also a decorator.

    Example:
        >>> with plain_errors():
        ...     sol = _chunk(...)
    """
    try:
        yield
    except _RUNTIME_ERRORS as e:
        msg = runtime_message(e)
        if msg is None:
            raise
        raise ValueError(msg) from None


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
        h64 = host.astype(np.float64)
        with np.errstate(over="ignore", under="ignore"):
            v = host.astype(dtype)
        if finite and not np.isfinite(h64):
            raise ValueError(f"{where}: {name} must be finite; got {float(host)}.")
        if positive and not h64 > 0:
            raise ValueError(f"{where}: {name} must be positive; got {float(host)}.")
        if nonnegative and not h64 >= 0:
            raise ValueError(f"{where}: {name} must be non-negative; got {float(host)}.")
        if finite and not np.isfinite(v):
            raise ValueError(
                f"{where}: {name} {float(host):g} overflows {dtype} (largest "
                f"{float(np.finfo(dtype).max):.3g})."
            )
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
        a = fail_if(a, ~jnp.isfinite(a), f"{where}: {name} must be finite.")
    if positive:
        a = fail_if(a, ~(_sign(a) > 0), f"{where}: {name} must be positive.")
    if nonnegative:
        a = fail_if(a, ~(_sign(a) >= 0), f"{where}: {name} must be non-negative.")
    return a


def _weight_range(where: str, name: str, v: float, dtype: np.dtype) -> None:
    """Refuse a weight `v` that is not 0 or a normal number of `dtype`."""
    info = np.finfo(dtype)
    if abs(v) > float(info.max):
        raise ValueError(
            f"{where}: {name} {v:g} overflows {dtype} (largest {info.max:.3g}); rescale the "
            "terms" + (" or enable float64." if dtype != np.float64 else ".")
        )
    if 0 < abs(v) < float(info.tiny):
        raise ValueError(
            f"{where}: {name} {v:g} is below the smallest normal {dtype} number "
            f"({info.tiny:.3g}): XLA flushes it to zero, which would silently drop the term; "
            "give 0 to drop a term, or rescale the terms."
        )


def _subnormal(a: Array) -> Array:
    """True where `a` is non-zero but below the smallest normal number (read from the bits)."""
    m, e = jnp.frexp(a)
    return (m != 0) & (e < jnp.finfo(a.dtype).minexp + 1)


def check_weight(where: str, name: str, value, *, reciprocal: bool = False) -> Array:
    r"""A term weight: a real scalar, finite, $\ge 0$ (or $> 0$), and 0 or a *normal* number.

    The weight is computed in the promotion of its dtype with the default float (float64
    when x64 is enabled, else float32); a value that overflows that dtype (1e308 in
    float32) or lies below its smallest normal number (1e-310 in float64, 1e-40 in
    float32: XLA on CPU flushes such numbers to zero and the term would silently vanish)
    is refused. An array of one element (`np.ones(1) * term`) is a scalar. With
    `reciprocal=True` (`term / w`) the weight must be positive and `1 / w` is returned,
    held to the same range. Checked now when concrete, by `error_if` when traced.

    Example:
        >>> check_weight("Objective", "term weight", 1e-310)
        ValueError: Objective: term weight 1e-310 is below the smallest normal float64 ...
    """
    default = np.dtype(jnp.result_type(float))
    host = host_value(where, name, value)
    shape = host.shape if host is not None else jnp.shape(value)
    if int(np.prod(shape)) != 1:
        raise ValueError(
            f"{where}: {name} must be a scalar (or an array of one element); got shape "
            f"{tuple(shape)}."
        )
    kind = "positive" if reciprocal else "non-negative"
    if host is not None:
        dtype = np.promote_types(float_dtype(where, name, host.dtype), default)
        v = float(host.reshape(()).astype(np.float64))
        if not np.isfinite(v):
            raise ValueError(f"{where}: {name} must be finite; got {v}.")
        if not (v > 0 if reciprocal else v >= 0):
            raise ValueError(f"{where}: {name} must be {kind}; got {v:g}.")
        _weight_range(where, name, v, dtype)
        if reciprocal:
            v = 1.0 / v
            _weight_range(where, f"1 / {name} =", v, dtype)
            return jnp.asarray(v, dtype)
        return jnp.asarray(host.reshape(()).astype(dtype))
    a = jnp.asarray(value)
    dtype = np.promote_types(float_dtype(where, name, a.dtype), default)
    a = a.reshape(()).astype(dtype)
    a = fail_if(a, ~jnp.isfinite(a), f"{where}: {name} must be finite.")
    bad = ~(_sign(a) > 0) if reciprocal else _sign(a) < 0
    a = fail_if(a, bad, f"{where}: {name} must be {kind}.")
    a = fail_if(
        a,
        _subnormal(a),
        f"{where}: {name} is below the smallest normal {dtype} number (it would be flushed "
        "to zero, silently dropping the term); give 0 to drop a term, or rescale.",
    )
    if not reciprocal:
        return a
    info = np.finfo(dtype)
    # |w| > 1/tiny: 1/w below the normal range; |w| < 1/max: 1/w overflows
    out_of_range = (jnp.abs(a) > 1.0 / info.tiny) | (jnp.abs(a) < 1.0 / info.max)
    a = fail_if(
        a,
        out_of_range,
        f"{where}: 1 / {name} is outside the normal range of {dtype}; rescale the terms.",
    )
    return 1.0 / a


def check_weight_product(where: str, names, weights: Array, w: Array) -> Array:
    """`weights * w`, refusing a product that overflows or underflows the weights' dtype.

    `1e308 * (1e308 * term)` would carry the weight inf (and 0 · inf = NaN for a term of
    value 0); `1e-200 * (1e-200 * term)` a weight flushed to zero. Each factor alone is
    fine, so the product is checked: now when both are concrete, by `error_if` when traced.
    """
    prod = weights * w
    info = np.finfo(prod.dtype)
    if is_concrete((weights, w)):
        a = np.asarray(weights, np.float64)
        b = float(np.asarray(w, np.float64))
        with np.errstate(over="ignore", under="ignore"):
            p = a * b
        over = np.abs(p) > info.max
        under = (a != 0) & (b != 0) & (np.abs(p) < info.tiny)
        for bad, what in ((over, "overflows"), (under, "underflows")):
            if bad.any():
                i = int(np.argwhere(bad)[0][0])
                raise ValueError(
                    f"{where}: the weight {b:g} times the weight {a[i]:g} already on term "
                    f"{names[i]!r} {what} {prod.dtype} (its normal range is "
                    f"{info.tiny:.3g} to {info.max:.3g}); combine the weights into one "
                    "number in range, or rescale the terms."
                )
        return prod
    tiny = jnp.asarray(info.tiny, prod.dtype)
    bad = ~jnp.all(jnp.isfinite(prod)) | jnp.any(
        (_sign(weights) != 0) & (_sign(w) != 0) & ((jnp.abs(prod) < tiny) | _subnormal(prod))
    )
    return fail_if(
        prod,
        bad,
        f"{where}: a product of term weights overflows or underflows {prod.dtype}; combine "
        "the weights into one number in range, or rescale the terms.",
    )


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
        return fail_if(arr, ~jnp.all(jnp.isfinite(arr)), f"{where}: {name} contains NaN or inf.")
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
    return fail_if(arr, ~jnp.all(_sign(arr) > 0), f"{where}: {name} must be positive.")


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
    `error_if` when traced). A weighted mean is unchanged by a common factor, so concrete
    weights that the computing dtype cannot hold (float64 weights of 1e308 or 1e-310 in
    float32) are scaled by a power of two (exact) to a largest weight in `[0.5, 1)` first.
    """
    shape = tuple(shape)
    host = host_value(where, "weights", weights)
    # a concrete value is converted only after the range checks (no overflowing cast)
    w = as_float(where, "weights", weights) if host is None else host
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
        dtype = float_dtype(where, "weights", host.dtype)
        wn = host.astype(np.float64)
        if not np.all(np.isfinite(wn)):
            raise ValueError(f"{where}: weights contain NaN or inf.")
        if np.any(wn < 0):
            raise ValueError(f"{where}: weights must be non-negative; smallest is {wn.min()}.")
        if not np.any(wn > 0):
            raise ValueError(f"{where}: all weights are zero; nothing would be fitted.")
        info = np.finfo(dtype)
        if np.any(wn > info.max) or np.any((wn > 0) & (wn < info.tiny)):
            w = jnp.asarray(np.ldexp(wn, -np.frexp(wn.max())[1]).astype(dtype))
        else:
            w = _to_jax(weights, host, dtype)
    else:
        w = fail_if(w, ~jnp.all(jnp.isfinite(w)), f"{where}: weights contain NaN or inf.")
        w = fail_if(w, jnp.any(_sign(w) < 0), f"{where}: weights must be non-negative.")
        w = fail_if(w, ~jnp.any(_sign(w) > 0), f"{where}: all weights are zero.")
    if w.shape != shape[len(shape) - w.ndim :]:
        # leading-axis weights: (N,) on (N, d) -> (N, 1)
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    return jnp.broadcast_to(w, shape)


def _square(where: str, arg: str, shape) -> None:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{where}: {arg} must be a square matrix; got shape {tuple(shape)}.")


def _symmetric(m: np.ndarray) -> bool:
    return np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * max(np.abs(m).max(), 1e-300))


# whitening by a Cholesky factor computed in precision eps is accurate to about cond * eps
# (relative, on the whitened sum of squares): refuse covariances where that exceeds this
COND_RTOL = 1e-3


def _cond_message(where: str, arg: str, lam, dtype) -> str:
    lam = np.sort(np.asarray(lam, np.float64))
    eps = float(np.finfo(dtype).eps)
    cond = lam[-1] / lam[0] if lam[0] > 0 else np.inf
    shown = (
        ", ".join(f"{v:.3g}" for v in lam)
        if lam.size <= 6
        else (f"{lam[0]:.3g}, {lam[1]:.3g}, ..., {lam[-1]:.3g}")
    )
    return (
        f"{where}: {arg} is too ill-conditioned to whiten accurately in {np.dtype(dtype)}: "
        f"eigenvalues {shown}, condition number {cond:.3g}. Whitening by its Cholesky factor "
        f"is accurate only to about cond * eps = {cond * eps:.2g} relative (eps = {eps:.3g}); "
        f"it is refused above {COND_RTOL:g}, i.e. cond > {COND_RTOL / eps:.3g}. Regularise it "
        "(add a small multiple of the identity) or drop the nearly redundant directions."
    )


def cholesky(where: str, cov, arg: str = "cov") -> Array:
    r"""Lower Cholesky factor of a symmetric positive definite `cov`, refusing any other.

    A concrete `cov` is factored in float64 and the factor cast to the dtype the caller
    computes in (`cov`'s own floating dtype): an ill-conditioned covariance that a float32
    factorisation would turn into NaN still gives a finite factor, and one whose factor is
    not finite in that dtype is refused. A traced `cov` is factored in its own dtype and a
    non-finite factor raises at run time.

    Conditioning: a factor computed in precision $\epsilon$ is the exact factor of
    $\Sigma + E$ with $\|E\| \lesssim \epsilon\|\Sigma\|$ (Higham 2002, *Accuracy and Stability
    of Numerical Algorithms*, Thm 10.3), so $r^	op\Sigma^{-1}r$ carries a relative error
    up to about $\kappa(\Sigma)\,\epsilon$ (measured: 0.2-0.4 of that bound, n = 3-50).
    A covariance with $\kappa(\Sigma)\,\epsilon > 10^{-3}$ is refused, the eigenvalues in the
    message ($\epsilon$ of float64 for a concrete `cov`, factored on the host in float64:
    $\kappa > 4.5\cdot10^{12}$; of `cov`'s dtype when traced: $\kappa > 8.4\cdot10^{3}$ in
    float32). Eigenvalues 1, 1e-9, 4e-18 ($\kappa = 2.5\cdot10^{17}$) made GLS off by 2x.
    A pseudo-inverse is no way out: it changes the model of the noise.
    """
    host = host_value(where, arg, cov)
    if host is None:
        c = as_float(where, arg, cov)
        _square(where, arg, c.shape)
        scale = jnp.max(jnp.abs(c))
        c = fail_if(
            c,
            jnp.any(jnp.abs(c - c.T) > 1e-10 * scale + 1e-300),
            f"{where}: {arg} is not symmetric.",
        )
        chol = jnp.linalg.cholesky(c)
        chol = fail_if(
            chol,
            ~jnp.all(jnp.isfinite(chol)),
            f"{where}: {arg} is not positive definite in {c.dtype} "
            "(its Cholesky factor is not finite).",
        )
        lam = jnp.linalg.eigvalsh(c)
        eps = float(np.finfo(c.dtype).eps)
        return fail_if(
            chol,
            ~(lam[0] * COND_RTOL > lam[-1] * eps),
            f"{where}: {arg} is too ill-conditioned to whiten accurately in {c.dtype}: its "
            f"condition number exceeds {COND_RTOL / eps:.3g} (whitening is accurate only to "
            f"about cond * eps, refused above {COND_RTOL:g}); regularise it (add a small "
            "multiple of the identity).",
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
    lam = np.linalg.eigvalsh(cn)
    if not lam[0] * COND_RTOL > lam[-1] * np.finfo(np.float64).eps:
        raise ValueError(_cond_message(where, arg, lam, np.float64))
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
        m = fail_if(m, ~jnp.all(jnp.isfinite(m)), f"{where}: {arg} contains NaN or inf.")
        scale = jnp.max(jnp.abs(m))
        m = fail_if(
            m,
            jnp.any(jnp.abs(m - m.T) > 1e-10 * scale + 1e-300),
            f"{where}: {arg} is not symmetric.",
        )
        lam, u = jnp.linalg.eigh(m)
        lam = fail_if(
            lam,
            jnp.min(lam) < -1e-10 * scale,
            f"{where}: {arg} is not positive semi-definite.",
        )
    return jnp.sqrt(jnp.clip(lam, 0.0))[:, None] * u.T
