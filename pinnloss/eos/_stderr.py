r"""Standard errors of fitted equations of state: Gauss–Newton covariance and Student-t scales.

Pure NumPy/`math` on the host (no SciPy): the covariance of a least-squares fit,
$C = \hat\sigma^2 (J^\top W J)^{-1}$, and Student-t quantiles from the closed forms of the
t distribution for integer degrees of freedom (Abramowitz & Stegun 26.7.3–4).

Why a t-aware scale: with $\hat\sigma^2 = \sum_i w_i r_i^2 / (N - p)$ estimated from the
residuals of a 7-point, 4-parameter fit, $(\hat\theta - \theta)/\mathrm{se}$ follows a
Student-t with $N - p = 3$ degrees of freedom, not a normal: $\pm1$/$\pm2$ se cover only
61 %/86 % of the truth. The reported `std` is the plain standard error times
$k_\nu = t_\nu(0.6827)^{2/3}\,[t_\nu(0.9545)/2]^{1/3}$ (two-sided quantiles), a geometric
mean of the scales that would make $\pm1$ std hold 68.27 % and $\pm2$ std hold 95.45 %,
weighted towards the first (its target band, 60–78 %, is the narrower): for $\nu = 3$,
$k = 1.33$ and $\pm1$/$\pm2$ std cover 72.5 %/92.4 % of a t distribution (measured on
ACWF curves by noise injection: see benchmarks/eos_calibration.py); $k \to 1$ as
$\nu \to \infty$, and $k = 1$ when the noise $\sigma$ is given (the errors are then
normal). Intervals at a stated level (`EOSProperties.interval`) use the exact t quantile.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["t_coverage", "t_quantile", "std_scale", "gauss_newton_cov", "format_value"]


def t_coverage(x: float, nu: float | None) -> float:
    r"""$P(|T| < x)$ for a Student-t with `nu` degrees of freedom (`None`/inf: normal).

    Exact for integer `nu` (Abramowitz & Stegun 26.7.3 and 26.7.4), with
    $\theta = \arctan(x/\sqrt\nu)$.
    """
    x = abs(float(x))
    if nu is None or math.isinf(nu):
        return math.erf(x / math.sqrt(2.0))
    nu = int(nu)
    if nu < 1:
        raise ValueError(f"t_coverage: nu must be a positive integer; got {nu}.")
    th = math.atan(x / math.sqrt(nu))
    s, c2 = math.sin(th), math.cos(th) ** 2
    if nu % 2:  # odd: (2/pi) {theta + sin cos [1 + 2/3 cos^2 + (2*4)/(3*5) cos^4 + ...]}
        if nu == 1:
            return 2.0 * th / math.pi
        term, total = math.cos(th), 0.0
        for k in range(1, (nu - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        return min(1.0, 2.0 / math.pi * (th + s * total))
    term, total = 1.0, 0.0  # even: sin [1 + 1/2 cos^2 + (1*3)/(2*4) cos^4 + ...]
    for k in range(1, nu // 2 + 1):
        total += term
        term *= c2 * (2 * k - 1) / (2 * k)
    return min(1.0, s * total)


def t_quantile(level: float, nu: float | None) -> float:
    """The half-width `x` with $P(|T| < x) = $ `level` (two-sided), by bisection."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"t_quantile: level must lie strictly between 0 and 1; got {level}.")
    lo, hi = 0.0, 1.0
    while t_coverage(hi, nu) < level:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_coverage(mid, nu) < level:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    return 0.5 * (lo + hi)


_ONE, _TWO = math.erf(1.0 / math.sqrt(2.0)), math.erf(2.0 / math.sqrt(2.0))


def std_scale(nu: float | None) -> float:
    r"""The t-aware factor $k_\nu = t_\nu(0.6827)^{2/3}[t_\nu(0.9545)/2]^{1/3}$ (1 for `None`)."""
    if nu is None or math.isinf(nu):
        return 1.0
    return t_quantile(_ONE, nu) ** (2.0 / 3.0) * (t_quantile(_TWO, nu) / 2.0) ** (1.0 / 3.0)


def gauss_newton_cov(J, r, w, *, sigma_known: bool):
    r"""Covariance of least-squares parameters, $\hat\sigma^2 (J^\top W J)^{-1}$, and its dof.

    Args:
        J: `(N, p)` Jacobian of the residuals with respect to the parameters.
        r: `(N,)` residuals at the optimum. w: `(N,)` weights (0 drops a point).
        sigma_known: the weights are $1/\sigma_i^2$ of a known noise: $\hat\sigma^2 = 1$.
            Else $\hat\sigma^2 = \sum w r^2 / (N_{w>0} - p)$.

    Returns:
        `(C, dof)`; `C` is None when the fit has no residual degrees of freedom (and the
        noise is not given) or $J^\top W J$ is singular.
    """
    J, r, w = (np.asarray(a, np.float64) for a in (J, r, w))
    keep = w > 0
    J, r, w = J[keep], r[keep], w[keep]
    n, p = J.shape
    dof = n - p
    if not np.all(np.isfinite(J)) or not np.all(np.isfinite(r)):
        return None, dof
    if sigma_known:
        s2 = 1.0
    else:
        if dof <= 0:
            return None, dof
        s2 = float(np.sum(w * r**2)) / dof
    Jw = J * np.sqrt(w)[:, None]
    d = np.linalg.norm(Jw, axis=0)  # column scaling: e0 in eV, v0 in Å³, b1 dimensionless
    if np.any(d == 0):
        return None, dof
    A = (Jw / d).T @ (Jw / d)
    if np.linalg.cond(A) > 1e14:
        return None, dof
    C = np.linalg.inv(A) / np.outer(d, d) * s2
    return 0.5 * (C + C.T), dof


def format_value(value, std=None, unit: str = "") -> str:
    """`value ± std unit`, with the value rounded to the second significant digit of `std`."""
    value = float(value)
    unit = f" {unit}" if unit else ""
    if std is None or not np.isfinite(std) or std <= 0 or not np.isfinite(value):
        return f"{value:.8g}{unit}"
    std = float(std)
    decimals = max(0, 1 - int(math.floor(math.log10(std))))
    if decimals > 12:
        return f"{value:.12g} ± {std:.2g}{unit}"
    return f"{value:.{decimals}f} ± {std:.{decimals}f}{unit}"
