"""Pure loss functions on arrays.

Every function takes predictions and targets of the *same* shape and returns a scalar.
Shapes are checked at trace time: `(N,)` against `(N, 1)` — the classic physics-informed
broadcasting bug — is refused with a `ValueError` instead of silently becoming `(N, N)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._validate import (
    _subnormal,
    as_float,
    broadcast_weights,
    check_scalar,
    cholesky,
    host_value,
    psd_sqrt,
)
from ._validate import check_same_shape as check_same_shape
from ._validate import fail_if as _fail_if

__all__ = [
    "mse",
    "weighted_mse",
    "gls",
    "whiten",
    "quadratic",
    "mae",
    "huber",
    "sigmoid_binary_cross_entropy",
]


def _pair(fn: str, a, b, names=("predictions", "targets")) -> tuple[Array, Array]:
    """`a` and `b` of equal, non-empty shape as real floating arrays (ints and bools promoted).

    An empty pair is refused (its mean would be 0/0 = NaN); the shape is static, so this
    holds under `jit` too.
    """
    check_same_shape(fn, a, b, names)
    pa, pb = as_float(fn, names[0], a), as_float(fn, names[1], b)
    if pa.size == 0:
        raise ValueError(
            f"{fn}: {names[0]} and {names[1]} are empty (shape {pa.shape}); a mean over no "
            "elements is undefined."
        )
    return pa, pb


def _normalised(w: Array) -> Array:
    """`w` times the power of two that brings its largest entry into `[0.5, 1)`.

    A weighted mean is unchanged by a common factor, and a power of two is exact. Summing
    the raw weights overflows for weights of 1e308, and XLA on CPU flushes subnormal
    weights to zero (0/0); `frexp` reads their exponent from the bits, so neither happens.
    """
    sg = jax.lax.stop_gradient
    m, e = jnp.frexp(sg(w))
    nonzero = m != 0
    top = jnp.max(jnp.where(nonzero, e, jnp.iinfo(e.dtype).min))
    value = jnp.ldexp(m, jnp.where(nonzero, e - top, 0))
    # the derivative of w * 2**-top; the exponent is clipped to the normal range
    info = jnp.finfo(w.dtype)
    scale = jnp.ldexp(jnp.ones((), w.dtype), jnp.clip(-top, info.minexp, info.maxexp - 1))
    return value + (w - sg(w)) * scale


def _masked_products(w: Array, r: Array) -> Array:
    """`w * r**2`, where a zero weight masks its residual even when the square overflows.

    0 * inf would be NaN: a masked float32 residual of 1e20 made the weighted MSE NaN.
    Only a masked overflow is replaced, so the gradient in `w` at `w = 0` stays `r**2`.
    """
    r2 = r**2
    return w * jnp.where((w == 0) & ~jnp.isfinite(r2), 0, r2)


def _scaled_diff(p: Array, t: Array, n) -> Array:
    """`(p - t) / n` elementwise, also where `p - t` overflows (opposite signs near the top
    of the range: no cancellation there, so `p / n - t / n` is accurate)."""
    d = p - t
    return jnp.where(jnp.isfinite(d), d / n, p / n - t / n)


def _mean_of_squares(r: Array, n=None) -> Array:
    """`sum(r**2) / n` (default `r.size`) as `sum((r / sqrt(n))**2)`: the sum cannot
    overflow when the mean is representable (float32 residuals near 1e19 and above)."""
    n = r.size if n is None else n
    return jnp.sum((r / jnp.sqrt(jnp.asarray(n, r.dtype))) ** 2)


def mse(predictions: ArrayLike, targets: ArrayLike) -> Array:
    r"""Mean squared error, $\frac1N\sum_i (p_i - t_i)^2$, over every element.

    Example:
        >>> mse(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0]))
        Array(2., dtype=float32)
    """
    p, t = _pair("mse", predictions, targets)
    n = jnp.sqrt(jnp.asarray(p.size, p.dtype))
    return jnp.sum(_scaled_diff(p, t, n) ** 2)


def weighted_mse(predictions: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> Array:
    r"""Weighted mean squared error, $\sum_i w_i r_i^2 / \sum_i w_i$.

    The weights broadcast against the residual $r = p - t$ (shape `(N,)` weights on
    `(N, d)` residuals weight whole rows) and the sum of the *broadcast* weights
    normalises, so a 0/1 weight is a mask: the result is the plain MSE of the kept
    entries. Weights must be non-negative and not all zero (checked when concrete).

    Example:
        >>> weighted_mse(jnp.array([1.0, 9.0]), jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0]))
        Array(1., dtype=float32)
    """
    p, t = _pair("weighted_mse", predictions, targets)
    r = p - t
    w = _normalised(broadcast_weights("weighted_mse", weights, r.shape))
    return jnp.sum(_masked_products(w, r)) / jnp.sum(w)


def whiten(residuals: ArrayLike, cov: ArrayLike) -> Array:
    r"""Whiten residuals by the Cholesky factor $L$ of the noise covariance, $L^{-1} r$.

    `residuals` of shape `(N,)` with `cov` of shape `(N, N)` are correlated across
    samples; residuals of shape `(N, d)` with `cov` of shape `(d, d)` are correlated
    across outputs within each sample. $\Sigma^{-1}$ is never formed: a triangular solve.
    """
    r = as_float("whiten", "residuals", residuals)
    if r.size == 0:
        raise ValueError(f"whiten: residuals are empty (shape {r.shape}).")
    chol = cholesky("whiten", cov)
    d = chol.shape[0]
    if r.ndim == 1:
        if r.shape[0] != d:
            raise ValueError(
                f"whiten: residuals of shape {r.shape} need cov of shape ({r.shape[0]}, "
                f"{r.shape[0]}); got {jnp.shape(cov)}."
            )
        return jax.scipy.linalg.solve_triangular(chol, r, lower=True)
    if r.shape[-1] != d:
        raise ValueError(
            f"whiten: residuals of shape {r.shape} need cov of shape ({r.shape[-1]}, "
            f"{r.shape[-1]}) (correlation across outputs); got {jnp.shape(cov)}."
        )
    flat = r.reshape(-1, d)
    w = jax.scipy.linalg.solve_triangular(chol, flat.T, lower=True).T
    return w.reshape(r.shape)


def gls(predictions: ArrayLike, targets: ArrayLike, cov: ArrayLike) -> Array:
    r"""Generalised least squares: the MSE of residuals whitened by the noise covariance.

    $\frac1{N}\, r^\top \Sigma^{-1} r$ computed as $\mathrm{mean}((L^{-1}r)^2)$ with
    $\Sigma = L L^\top$ (see `whiten` for the two shape conventions). A covariance that is
    not symmetric positive definite is refused.

    Example:
        >>> gls(p, t, jnp.eye(3)) == mse(p, t)   # identity covariance
    """
    p, t = _pair("gls", predictions, targets)
    return _mean_of_squares(whiten(p - t, cov))


def quadratic(predictions: ArrayLike, targets: ArrayLike, R: ArrayLike) -> Array:
    r"""Mean quadratic form $\frac1N\sum_i (p_i - t_i)^\top R\,(p_i - t_i)$.

    `predictions` and `targets` have shape `(N, d)` (or `(d,)` for one sample) and `R`
    shape `(d, d)`, symmetric positive semi-definite — the LQR imitation loss weighs
    control errors by the controller's cost matrix. With `R = I` this is `d · mse`.
    """
    p, t = _pair("quadratic", predictions, targets)
    r = p - t
    s = psd_sqrt("quadratic", R)
    if r.shape[-1:] != s.shape[:1]:
        raise ValueError(
            f"quadratic: residuals of shape {r.shape} need R of shape ({r.shape[-1]}, "
            f"{r.shape[-1]}); got {jnp.shape(R)}."
        )
    z = r.reshape(-1, s.shape[0]) @ s.T
    return _mean_of_squares(z, z.shape[0])


def mae(predictions: ArrayLike, targets: ArrayLike) -> Array:
    r"""Mean absolute error, $\frac1N\sum_i |p_i - t_i|$. Not a square: first-order only."""
    p, t = _pair("mae", predictions, targets)
    return jnp.sum(jnp.abs(_scaled_diff(p, t, p.size)))


def huber(predictions: ArrayLike, targets: ArrayLike, delta: float = 1.0) -> Array:
    r"""Mean Huber loss: $\tfrac12 r^2$ for $|r|\le\delta$, $\delta(|r| - \tfrac12\delta)$ beyond.

    Matches `optax.losses.huber_loss` averaged over elements (Huber 1964).
    """
    p, t = _pair("huber", predictions, targets)
    host = host_value("huber", "delta", delta)
    if host is not None and host.shape == () and np.isreal(host) and host.dtype != bool:
        top = float(np.finfo(p.dtype).max)
        if np.isfinite(host.astype(np.float64)) and host.astype(np.float64) > top:
            # no |r| exceeds the largest float: any delta beyond it is quadratic everywhere
            delta = np.asarray(top, p.dtype)
    delta = check_scalar("huber", "delta", delta, positive=True)
    # a subnormal delta is flushed to zero by XLA on CPU: the loss would silently be 0
    msg = "huber: delta is below the smallest normal number of its dtype (XLA flushes it to 0)."
    if host is not None:
        # from the host value: inside jit even a constant delta is a tracer by now
        if abs(float(host.astype(np.float64))) < float(np.finfo(delta.dtype).tiny):
            raise ValueError(msg)
    else:
        delta = _fail_if(delta, _subnormal(delta), msg)
    # each term divided by N before the sum: no overflow of the sum or of p - t
    n = p.size
    r_n = jnp.abs(_scaled_diff(p, t, n))
    delta = delta.astype(r_n.dtype)
    quad = jnp.minimum(jnp.abs(p - t), delta)
    quad_n = quad / n
    return jnp.sum(0.5 * quad * quad_n + delta * (r_n - quad_n))


def sigmoid_binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    r"""Mean binary cross-entropy from logits, numerically stable for any logit.

    $\ell(z, y) = \mathrm{softplus}(z) - z y$ with $\mathrm{softplus}(z) = \log(1 + e^z)$
    evaluated stably (`jax.nn.softplus`), never $\log(\sigma(z))$ directly: a confidently
    wrong logit of ±1000 gives a finite loss and the gradient $\sigma(z) - y$ everywhere,
    including $z = 0$ (the $\max(z, 0) + \log(1 + e^{-|z|})$ form has the wrong
    subgradient there). Matches `optax.losses.sigmoid_binary_cross_entropy` averaged over
    elements.

    Labels are probabilities: a label outside $[0, 1]$ (or NaN) is refused, with a
    `ValueError` when the labels are concrete and by `eqx.error_if` when they are traced
    (a label of 5 would otherwise give a finite, meaningless loss).

    Example:
        >>> sigmoid_binary_cross_entropy(jnp.array([0.0, 2.0]), jnp.array([1.0, 0.0]))
    """
    fn = "sigmoid_binary_cross_entropy"
    z, y = _pair(fn, logits, labels, ("logits", "labels"))
    y = y.astype(z.dtype)
    host = host_value(fn, "labels", labels)
    if host is not None:
        hn = host.astype(np.float64)
        bad = ~((hn >= 0) & (hn <= 1))
        if bad.any():
            i = tuple(np.argwhere(bad)[0].tolist())
            raise ValueError(
                f"{fn}: labels must lie in [0, 1]; got {float(hn[i]):g} at index {i} "
                f"({int(bad.sum())} outside)."
            )
    else:
        y = _fail_if(y, ~jnp.all((y >= 0) & (y <= 1)), f"{fn}: labels must lie in [0, 1].")
    return jnp.sum((jax.nn.softplus(z) - z * y) / z.size)
