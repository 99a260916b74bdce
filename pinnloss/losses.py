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


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


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


def mse(predictions: ArrayLike, targets: ArrayLike) -> Array:
    r"""Mean squared error, $\frac1N\sum_i (p_i - t_i)^2$, over every element.

    Example:
        >>> mse(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0]))
        Array(2., dtype=float32)
    """
    check_same_shape("mse", predictions, targets)
    r = jnp.asarray(predictions) - jnp.asarray(targets)
    return jnp.mean(r**2)


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
    check_same_shape("weighted_mse", predictions, targets)
    r = jnp.asarray(predictions) - jnp.asarray(targets)
    w = _broadcast_weights("weighted_mse", weights, r.shape)
    return jnp.sum(w * r**2) / jnp.sum(w)


def _broadcast_weights(fn: str, weights, shape) -> Array:
    w = jnp.asarray(weights)
    if (
        w.ndim > len(shape)
        or w.shape != shape[: w.ndim]
        and w.shape != shape[len(shape) - w.ndim :]
    ):
        raise ValueError(
            f"{fn}: weights of shape {w.shape} do not match residuals of shape {shape}; "
            "give one weight per sample (leading axis) or one per element."
        )
    if w.shape != shape[len(shape) - w.ndim :]:
        # leading-axis weights: (N,) on (N, d) -> (N, 1)
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    if _is_concrete(w):
        wn = np.asarray(w)
        if not np.all(np.isfinite(wn)):
            raise ValueError(f"{fn}: weights contain NaN or inf.")
        if np.any(wn < 0):
            raise ValueError(f"{fn}: weights must be non-negative; smallest is {wn.min()}.")
        if not np.any(wn > 0):
            raise ValueError(f"{fn}: all weights are zero; nothing would be fitted.")
    return jnp.broadcast_to(w, shape)


def _cholesky_checked(fn: str, cov, arg: str = "cov") -> Array:
    """Lower Cholesky factor of `cov`, refusing a non-symmetric or non-SPD matrix."""
    c = jnp.asarray(cov)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"{fn}: {arg} must be a square matrix; got shape {c.shape}.")
    if _is_concrete(c):
        cn = np.asarray(c, dtype=np.float64)
        if not np.all(np.isfinite(cn)):
            raise ValueError(f"{fn}: {arg} contains NaN or inf.")
        if not np.allclose(cn, cn.T, rtol=1e-10, atol=1e-12 * np.abs(cn).max()):
            raise ValueError(f"{fn}: {arg} is not symmetric.")
        try:
            np.linalg.cholesky(cn)
        except np.linalg.LinAlgError:
            eig = np.linalg.eigvalsh(cn).min()
            raise ValueError(
                f"{fn}: {arg} is not positive definite (smallest eigenvalue {eig:.3g})."
            ) from None
    return jnp.linalg.cholesky(c)


def whiten(residuals: ArrayLike, cov: ArrayLike) -> Array:
    r"""Whiten residuals by the Cholesky factor $L$ of the noise covariance, $L^{-1} r$.

    `residuals` of shape `(N,)` with `cov` of shape `(N, N)` are correlated across
    samples; residuals of shape `(N, d)` with `cov` of shape `(d, d)` are correlated
    across outputs within each sample. $\Sigma^{-1}$ is never formed: a triangular solve.
    """
    r = jnp.asarray(residuals)
    chol = _cholesky_checked("whiten", cov)
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
    check_same_shape("gls", predictions, targets)
    r = jnp.asarray(predictions) - jnp.asarray(targets)
    return jnp.mean(whiten(r, cov) ** 2)


def _psd_sqrt(fn: str, matrix, arg: str = "R") -> Array:
    """A factor $S$ with $S^\top S = R$ for a symmetric positive semi-definite $R$."""
    m = jnp.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{fn}: {arg} must be a square matrix; got shape {m.shape}.")
    if _is_concrete(m):
        mn = np.asarray(m, dtype=np.float64)
        if not np.all(np.isfinite(mn)):
            raise ValueError(f"{fn}: {arg} contains NaN or inf.")
        if not np.allclose(mn, mn.T, rtol=1e-10, atol=1e-12 * max(np.abs(mn).max(), 1e-300)):
            raise ValueError(f"{fn}: {arg} is not symmetric.")
        lo = np.linalg.eigvalsh(mn).min()
        if lo < -1e-10 * max(np.abs(mn).max(), 1e-300):
            raise ValueError(f"{fn}: {arg} is not positive semi-definite (eigenvalue {lo:.3g}).")
    lam, u = jnp.linalg.eigh(m)
    return jnp.sqrt(jnp.clip(lam, 0.0))[:, None] * u.T


def quadratic(predictions: ArrayLike, targets: ArrayLike, R: ArrayLike) -> Array:
    r"""Mean quadratic form $\frac1N\sum_i (p_i - t_i)^\top R\,(p_i - t_i)$.

    `predictions` and `targets` have shape `(N, d)` (or `(d,)` for one sample) and `R`
    shape `(d, d)`, symmetric positive semi-definite — the LQR imitation loss weighs
    control errors by the controller's cost matrix. With `R = I` this is `d · mse`.
    """
    check_same_shape("quadratic", predictions, targets)
    r = jnp.asarray(predictions) - jnp.asarray(targets)
    s = _psd_sqrt("quadratic", R)
    if r.shape[-1:] != s.shape[:1]:
        raise ValueError(
            f"quadratic: residuals of shape {r.shape} need R of shape ({r.shape[-1]}, "
            f"{r.shape[-1]}); got {jnp.shape(R)}."
        )
    z = r.reshape(-1, s.shape[0]) @ s.T
    return jnp.sum(z**2) / z.shape[0]


def mae(predictions: ArrayLike, targets: ArrayLike) -> Array:
    r"""Mean absolute error, $\frac1N\sum_i |p_i - t_i|$. Not a square: first-order only."""
    check_same_shape("mae", predictions, targets)
    return jnp.mean(jnp.abs(jnp.asarray(predictions) - jnp.asarray(targets)))


def huber(predictions: ArrayLike, targets: ArrayLike, delta: float = 1.0) -> Array:
    r"""Mean Huber loss: $\tfrac12 r^2$ for $|r|\le\delta$, $\delta(|r| - \tfrac12\delta)$ beyond.

    Matches `optax.losses.huber_loss` averaged over elements (Huber 1964).
    """
    check_same_shape("huber", predictions, targets)
    if isinstance(delta, (int, float)) and not delta > 0:
        raise ValueError(f"huber: delta must be positive; got {delta}.")
    r = jnp.abs(jnp.asarray(predictions) - jnp.asarray(targets))
    quad = jnp.minimum(r, delta)
    return jnp.mean(0.5 * quad**2 + delta * (r - quad))


def sigmoid_binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    r"""Mean binary cross-entropy from logits, numerically stable for any logit.

    $\ell(z, y) = \mathrm{softplus}(z) - z y$ with $\mathrm{softplus}(z) = \log(1 + e^z)$
    evaluated stably (`jax.nn.softplus`), never $\log(\sigma(z))$ directly: a confidently
    wrong logit of ±1000 gives a finite loss and the gradient $\sigma(z) - y$ everywhere,
    including $z = 0$ (the $\max(z, 0) + \log(1 + e^{-|z|})$ form has the wrong
    subgradient there).
    """
    check_same_shape("sigmoid_binary_cross_entropy", logits, labels, ("logits", "labels"))
    z = jnp.asarray(logits)
    y = jnp.asarray(labels, dtype=z.dtype)
    return jnp.mean(jax.nn.softplus(z) - z * y)
