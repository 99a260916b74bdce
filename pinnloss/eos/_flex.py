r"""A flexible equation of state that earns its place: `fit_eos(data, form="net")`.

The model is a smoothing spline in $x = V^{-2/3}$ whose unpenalised part is a cubic in $x$,
i.e. exactly the third-order Birch–Murnaghan family:

$$E(V) = E_{shift} + s_E\Big[\sum_{k=0}^{3} d_k t^k + \sum_i c_i\,|t - t_i|^{7}\Big],\qquad
t = \frac{V^{-2/3} - \bar x}{h_x},$$

the minimiser of $\sum_i w_i\,[E(V_i) - E_i]^2 + \lambda \int (\partial_t^4 E)^2\,dt$ over all
functions (Wahba 1990): a one-hidden-layer network with one $|t - t_i|^7$ unit per data
point whose output weights are fitted in closed form. The smoothness prior acts on the fourth
derivative, so $\lambda \to \infty$ gives back the Birch–Murnaghan fit and $\lambda \to 0$
interpolates; $\lambda$ is chosen by K-fold cross-validation (leave-one-out up to 10 points)
over a grid, all of it in one compiled `pl.sweep`. Outside the data the model continues as a
cubic in $x$ (Birch–Murnaghan-like). Its uncertainty comes from an ensemble: refits, each
with its own cross-validated $\lambda$, to the fitted curve plus Gaussian noise of the
size the residuals show (a parametric bootstrap).

Reference: G. Wahba, *Spline Models for Observational Data*, SIAM (1990), ch. 1 and 4.
"""

from __future__ import annotations

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ..parallel._sweep import sweep
from ._data import EVData, check_precision
from ._properties import EOSProperties, _core
from ._summary import Ensemble, summarise

__all__ = ["FlexibleEOS", "FlexReport", "fit_flexible", "LAMBDA_GRID"]

_ORDER = 4  # penalised derivative; the null space is a cubic in x = Birch–Murnaghan
_POWER = 2 * _ORDER - 1
_MAX_FOLDS = 10
#: The default grid of the smoothing strength λ (on the scaled problem, see `fit_flexible`).
LAMBDA_GRID = tuple(float(x) for x in 10.0 ** np.arange(-12.0, 6.01, 0.5))
_KEYS = ("v0", "e0", "b0", "b0_gpa", "b1")


def _kernel(u):
    """$|u|^7$ written as $u^6 |u|$: smooth enough for E''' and Taylor mode (jet)."""
    return u**6 * jnp.abs(u)


class FlexReport(eqx.Module):
    r"""How a `FlexibleEOS` was chosen, all in plain numbers (arrays).

    Attributes:
        lam: the chosen smoothing strength λ (scaled problem).
        lam_grid, cv_grid: every λ tried and its cross-validated RMS [meV/atom].
        cv_rms: the cross-validated RMS at `lam` [meV/atom].
        cv_rms_cubic: the cross-validated RMS at the largest λ, i.e. of the Birch–Murnaghan
            limit [meV/atom]: the flexible model earns its place where `cv_rms` is smaller.
        rms: the RMS residual of the fit on all points [meV/atom].
        dof: effective number of parameters, trace of the smoother matrix (4 = Birch–Murnaghan,
            N = interpolation).
        sigma: noise level estimated from the residuals, $\sqrt{RSS/(N - dof)}$ [meV/atom].
        n_folds: cross-validation folds (N = leave-one-out).
        samples: `EOSProperties` of every ensemble member (arrays; `valid` marks members with
            a minimum inside the data).
        member_lam: λ chosen by each member's own cross-validation.
    """

    lam: Array
    lam_grid: Array
    cv_grid: Array
    cv_rms: Array
    cv_rms_cubic: Array
    rms: Array
    dof: Array
    sigma: Array
    n_folds: int = eqx.field(static=True)
    samples: EOSProperties
    member_lam: Array

    def as_dict(self) -> dict[str, float | int]:
        """The choice of the model as Python numbers (for JSON); RMS values in meV/atom."""
        return {
            "lambda": float(self.lam),
            "folds": int(self.n_folds),
            "cv_rms_mev_per_atom": float(self.cv_rms),
            "cv_rms_birch_murnaghan_limit_mev_per_atom": float(self.cv_rms_cubic),
            "rms_mev_per_atom": float(self.rms),
            "effective_parameters": float(self.dof),
            "noise_mev_per_atom": float(self.sigma),
        }


class FlexibleEOS(eqx.Module):
    r"""A smoothing-spline $E(V)$ with a Birch–Murnaghan null space, from `fit_eos(form="net")`.

    Callable on one volume [Å³/atom]; returns the absolute energy [eV/atom], like the classical
    forms, so `eos.properties`, `eos.rms` and `eos.plot` work on it unchanged. How it was chosen
    (λ, cross-validated RMS, ensemble) is in `report`; `uncertainty()` summarises the ensemble
    and `summary()` gives printable lines.

    Example:
        >>> flex = eos.fit_eos(data, form="net")
        >>> eos.properties(flex, data).b0_gpa, flex.uncertainty().std.b0_gpa
        >>> print(flex.summary())
    """

    centres: Array
    coef: Array
    poly: Array
    x_mid: Array
    x_half: Array
    e_scale: Array
    e_shift: Array
    member_coef: Array
    member_poly: Array
    report: FlexReport

    def _scaled(self, v, coef, poly):
        t = (v ** (-2.0 / 3.0) - self.x_mid) / self.x_half
        k = _kernel(t - self.centres)
        return jnp.dot(k, coef) + poly[0] + t * (poly[1] + t * (poly[2] + t * poly[3]))

    def __call__(self, v: ArrayLike) -> Array:
        v = jnp.asarray(v)
        if v.shape != ():
            raise ValueError(
                f"FlexibleEOS: call on one scalar volume (vmap for many); got shape {v.shape}."
            )
        return self.e_shift + self.e_scale * self._scaled(v, self.coef, self.poly)

    def member_energies(self, volume: ArrayLike) -> Array:
        """Absolute energies [eV/atom] of every ensemble member at `volume` (any shape).

        Returns an array of shape `(n_members, *volume.shape)`.

        Example:
            >>> spread = flex.member_energies(vols).std(axis=0)   # eV/atom
        """
        v = jnp.asarray(volume)
        flat = jnp.ravel(v).astype(jnp.result_type(v, float))
        out = jax.vmap(lambda c, p: jax.vmap(lambda x: self._scaled(x, c, p))(flat))(
            self.member_coef, self.member_poly
        )
        return jnp.reshape(self.e_shift + self.e_scale * out, (-1, *v.shape))

    def uncertainty(self) -> Ensemble:
        """Mean and standard deviation of V0, E0, B0, B0' over the ensemble (`eos.Ensemble`).

        It estimates the spread caused by noise of the size the residuals show, including the
        choice of λ; it does not know about errors shared by every point (a systematic error
        of the method that produced the energies).
        """
        s = self.report.samples
        samples = {k: np.asarray(getattr(s, k)) for k in _KEYS}
        return summarise(samples, np.asarray(s.valid), "FlexibleEOS.uncertainty")

    def summary(self) -> str:
        """A few printable lines: λ, cross-validated RMS (vs the Birch–Murnaghan limit),
        effective parameters, noise, and the ensemble spread of B0 and B0'."""
        r = self.report
        lines = [
            f"smoothing spline in V^(-2/3), Birch–Murnaghan null space; lambda = "
            f"{float(r.lam):.3g} chosen by {r.n_folds}-fold cross-validation",
            f"cross-validated RMS {float(r.cv_rms):.4g} meV/atom (Birch–Murnaghan limit "
            f"{float(r.cv_rms_cubic):.4g}); {float(r.dof):.3g} effective parameters of "
            f"{int(self.centres.size)} points; noise estimate {float(r.sigma):.3g} meV/atom",
        ]
        try:
            u = self.uncertainty()
            lines.append(
                f"ensemble of {u.n_valid}/{u.n}: V0 ± {float(u.std.v0):.2g} Å³/atom, "
                f"B0 ± {float(u.std.b0_gpa):.2g} GPa, B0' ± {float(u.std.b1):.2g}"
            )
        except ValueError as e:
            lines.append(f"ensemble: {e}")
        return "\n".join(lines)


def _basis(t, centres):
    """Rows $[\\,|t - t_i|^7 \\;|\\; 1, t, t^2, t^3]$ at the points `t`."""
    k = _kernel(t[:, None] - centres[None, :])
    return jnp.concatenate([k, jnp.vander(t, _ORDER, increasing=True)], axis=1)


def _coef_map(lam, t, w):
    r"""The linear map $y \mapsto (c, d)$ of the weighted smoothing spline at strength λ.

    Solves $(W K + \lambda I) c + W T d = W y$, $T^\top c = 0$ (Wahba 1990, eq. 1.3.17 with
    weights); a point with $w_i = 0$ gets $c_i = 0$, so masks leave points out exactly.
    """
    n = t.shape[0]
    K = _kernel(t[:, None] - t[None, :])
    T = jnp.vander(t, _ORDER, increasing=True)
    top = jnp.concatenate([w[:, None] * K + lam * jnp.eye(n, dtype=t.dtype), w[:, None] * T], 1)
    bottom = jnp.concatenate([T.T, jnp.zeros((_ORDER, _ORDER), t.dtype)], axis=1)
    rhs = jnp.concatenate([jnp.diag(w), jnp.zeros((_ORDER, n), t.dtype)], axis=0)
    return _solve(jnp.concatenate([top, bottom], 0), rhs)  # (n + 4, n)


def _solve(A, B):
    """`A⁻¹ B` by Gaussian elimination with partial pivoting, in plain XLA operations.

    Not `jnp.linalg.solve`: on CPU that calls LAPACK (OpenBLAS), and the many concurrent
    solves of a sweep hung inside OpenBLAS's thread pool (reproducibly at 31 points on a
    loaded 2-core machine, not with OPENBLAS_NUM_THREADS=1). The systems here are small
    (N + 4 rows), so an unblocked elimination costs nothing.
    """
    m = A.shape[0]
    rows = jnp.arange(m)

    def eliminate(k, carry):
        A, B = carry
        p = jnp.argmax(jnp.where(rows >= k, jnp.abs(A[:, k]), -1.0))
        perm = rows.at[k].set(p).at[p].set(k)
        A, B = A[perm], B[perm]
        f = jnp.where(rows > k, A[:, k] / A[k, k], 0.0)
        return A - f[:, None] * A[k][None, :], B - f[:, None] * B[k][None, :]

    U, C = jax.lax.fori_loop(0, m, eliminate, (A, B))

    def back(i, X):
        k = m - 1 - i
        return X.at[k].set((C[k] - U[k] @ X) / U[k, k])  # rows > k are solved, others zero

    return jax.lax.fori_loop(0, m, back, jnp.zeros_like(C))


def _per_lambda(log_lam, t, w, masks):
    """For one λ: the coefficient map on all points and the cross-validation predictor.

    Returns `(C, P)`: `C @ y` are the coefficients of the fit to all points, `P @ y` the
    prediction at every point from the fold that left it out.
    """
    lam = 10.0**log_lam
    basis = _basis(t, t)
    C = _coef_map(lam, t, w)
    fold_maps = jax.vmap(lambda m: basis @ _coef_map(lam, t, w * m))(masks)  # (K, n, n)
    held = masks == 0  # (K, n): the points each fold predicts
    P = jnp.einsum("kn,knm->nm", held.astype(t.dtype), fold_maps)
    return C, P


def _cv_scores(P, y, w):
    """Weighted CV RMS (scaled units) for each λ; `P` (L, n, n), `y` (..., n) -> (..., L)."""
    pred = np.einsum("lnm,...m->...ln", P, y)
    r2 = (pred - y[..., None, :]) ** 2
    return np.sqrt(np.sum(w * r2, axis=-1) / np.sum(w))


def fit_flexible(
    data: EVData,
    *,
    weights=None,
    lambdas=None,
    n_members: int = 32,
    seed: int = 0,
    check: bool = True,
) -> FlexibleEOS:
    r"""Fit the flexible E(V) (`fit_eos(data, form="net")`): smoothing spline, CV-chosen λ.

    The volumes are mapped to $t \in [-1, 1]$ (through $x = V^{-2/3}$) and the energies are
    divided by their range, so λ means the same for every crystal. For each λ in `lambdas`
    the fit and its K-fold cross-validation (K = N up to 10 points, else 10 interleaved
    folds) are one small linear solve per fold; all λ run in one compiled `pl.sweep`, and the
    λ with the smallest cross-validated RMS wins. No V0/B0 constraint is used.

    Args:
        data: one `EVData` with at least 6 points (5 per fold are needed for 4 free
            polynomial coefficients and one more).
        weights: optional per-point weights, shape `(N,)` (e.g. $1/\sigma_i^2$).
        lambdas: the grid of λ (default `LAMBDA_GRID`, 1e-12…1e6 in half-decades).
        n_members: ensemble members for `uncertainty()` (0 for none; default 32).
        seed: seed of the ensemble's noise (NumPy), for reproducible error bars.
        check: raise `ValueError` when the fit has no minimum inside the data.

    Returns:
        A `FlexibleEOS`; `report` holds λ, the CV scores, effective parameters, noise.

    Example:
        >>> flex = eos.fit_eos(data, form="net")
        >>> flex.report.lam, flex.report.cv_rms     # chosen λ, CV RMS in meV/atom

    Reference: G. Wahba, Spline Models for Observational Data (SIAM, 1990).
    """
    where = "fit_eos(form='net')"
    n_members, grid = _check_flexible(where, data, n_members, lambdas)
    n = len(data)
    w = _flex_weights(where, weights, n)
    t, x_mid, x_half = _unit_interval(data.volume)
    s = float(np.ptp(data.energy))
    if s == 0.0:
        raise ValueError(f"{where}: all energies are equal; nothing to fit.")
    y = data.energy / s
    k = min(n, _MAX_FOLDS)
    dt = jnp.result_type(float)
    tj = jnp.asarray(t, dt)
    C, P = _fold_solves(grid, tj, jnp.asarray(w, dt), k)
    cv = _cv_scores(P, y, w)
    if not np.isfinite(cv).any():
        raise ValueError(f"{where}: every λ gave a non-finite cross-validation score.")
    best = int(np.nanargmin(cv))
    coef, fit, dof, rss, sigma = _at_lambda(C[best], tj, y, w)
    if best == 0 and grid.size > 1:
        warnings.warn(
            f"{where}: cross-validation chose the smallest λ in the grid ({grid[0]:.3g}), so "
            "the model nearly interpolates the points; give a grid reaching lower λ, or "
            "check the data for outliers.",
            stacklevel=4,
        )
    pick, mcoef = _members(C, P, fit, coef, best, w, sigma, n_members, seed)
    arr = lambda a: jnp.asarray(a, dt)
    fields = dict(
        centres=tj,
        coef=arr(coef[:n]),
        poly=arr(coef[n:]),
        x_mid=arr(x_mid),
        x_half=arr(x_half),
        e_scale=arr(s),
        e_shift=arr(data.energy_shift),
        member_coef=arr(mcoef[:, :n]),
        member_poly=arr(mcoef[:, n:]),
    )
    # the fit itself and every member in one compiled, vmapped `properties`
    lo, hi = float(data.volume.min()), float(data.volume.max())
    p, samples = _all_properties(FlexibleEOS(**fields, report=None), arr(lo), arr(hi))
    report = FlexReport(
        lam=arr(grid[best]),
        lam_grid=arr(grid),
        cv_grid=arr(1e3 * s * cv),
        cv_rms=arr(1e3 * s * cv[best]),
        cv_rms_cubic=arr(1e3 * s * cv[-1]),
        rms=arr(1e3 * s * np.sqrt(rss / np.sum(w))),
        dof=arr(dof),
        sigma=arr(1e3 * s * sigma),
        n_folds=k,
        samples=samples,
        member_lam=arr(grid[pick]),
    )
    _warn_float32(where, data)
    if check and not bool(p.valid):
        raise ValueError(
            f"{where}: the fitted curve has no energy minimum inside the sampled volumes "
            f"[{lo:.6g}, {hi:.6g}] Å³/atom; sample volumes on both sides of the "
            "equilibrium (or pass check=False to keep the fit)."
        )
    return FlexibleEOS(**fields, report=report)


def _check_flexible(where: str, data, n_members, lambdas) -> tuple[int, np.ndarray]:
    """Refuse what the flexible fit cannot take; `(n_members, sorted λ grid)`."""
    if not isinstance(data, EVData):
        raise ValueError(
            f"{where}: data must be one EVData (eos.EVData or eos.load); got "
            f"{type(data).__name__}. The flexible form fits one curve at a time: loop over "
            "a list."
        )
    n = len(data)
    if n < _ORDER + 2:
        raise ValueError(
            f"{where}: the flexible form needs at least {_ORDER + 2} points (its "
            f"cross-validation leaves points out of a {_ORDER}-parameter Birch–Murnaghan "
            f"core); got {n}. Use a classical form such as 'birch_murnaghan'."
        )
    check_precision(where, data)
    if isinstance(n_members, bool) or int(n_members) != n_members or n_members < 0:
        raise ValueError(f"{where}: n_members must be an integer >= 0; got {n_members!r}.")
    if n_members == 1:
        raise ValueError(f"{where}: n_members must be 0 (no ensemble) or at least 2; got 1.")
    grid = np.asarray(LAMBDA_GRID if lambdas is None else lambdas, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 1 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(
            f"{where}: lambdas must be a non-empty 1-D array of positive finite numbers; got "
            f"{lambdas!r}."
        )
    return int(n_members), np.sort(grid)


def _flex_weights(where: str, weights, n: int) -> np.ndarray:
    """Per-point weights, normalised to mean 1 over the positive ones (ones by default)."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{where}: weights must have shape ({n},); got {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any() or (w > 0).sum() < _ORDER + 2:
        raise ValueError(
            f"{where}: weights must be finite and non-negative, with at least "
            f"{_ORDER + 2} positive."
        )
    return w / w[w > 0].mean()


def _unit_interval(v: np.ndarray):
    """`(t, x_mid, x_half)`: volumes mapped through $x = V^{-2/3}$ onto $t$ in [-1, 1]."""
    x = v ** (-2.0 / 3.0)
    x_mid, x_half = 0.5 * (x.max() + x.min()), 0.5 * (x.max() - x.min())
    return (x - x_mid) / x_half, x_mid, x_half


def _fold_solves(grid: np.ndarray, tj, wj, k: int):
    """`(C, P)` for every λ of `grid` and each of `k` interleaved folds, one compiled call."""
    n = tj.shape[0]
    masks = (np.arange(n)[None, :] % k != np.arange(k)[:, None]).astype(np.float64)
    dt = tj.dtype
    C, P = sweep(
        _per_lambda,
        jnp.log10(jnp.asarray(grid, dt)),
        tj,
        wj,
        jnp.asarray(masks, dt),
        in_axes=(0, None, None, None),
    )
    return np.asarray(C, np.float64), np.asarray(P, np.float64)  # the rest is small: NumPy


def _at_lambda(Cb, tj, y, w):
    """At the chosen λ: coefficients, fitted values, effective parameters (trace of the
    smoother matrix), weighted residual sum of squares and the noise estimate."""
    coef = Cb @ y
    basis = np.asarray(_basis(tj, tj), np.float64)
    fit = basis @ coef
    dof = float(np.trace(basis @ Cb))
    rss = float(np.sum(w * (fit - y) ** 2))
    return coef, fit, dof, rss, float(np.sqrt(rss / max(y.shape[0] - dof, 1e-9)))


def _members(C, P, fit, coef, best, w, sigma, n_members: int, seed: int):
    """The ensemble: `(λ index of each member, coefficients)`; each member is the fit plus
    noise of the estimated size, refitted with its own cross-validated λ."""
    if not n_members:
        return np.array([best]), coef[None, :]
    n = fit.shape[0]
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_members, n)) * sigma / np.sqrt(np.where(w > 0, w, 1.0))
    yb = fit[None, :] + noise
    pick = np.nanargmin(_cv_scores(P, yb, w), axis=-1)  # each member's own λ
    return pick, np.einsum("bpn,bn->bp", C[pick], yb)


def _warn_float32(where: str, data: EVData) -> None:
    big = abs(data.energy_shift)
    if not jax.config.jax_enable_x64 and big * 2.0**-23 > 1e-6:
        warnings.warn(
            f"{where}: jax_enable_x64 is off, so the model adds its energy offset (|E| ~ "
            f"{big:.3g} eV) in float32, to ~{big * 2.0**-23:.1g} eV; V0, B0 and B0' come from "
            "derivatives and are unaffected. Enable float64 for exact absolute energies.",
            stacklevel=5,
        )


@eqx.filter_jit
def _all_properties(model: FlexibleEOS, lo, hi) -> tuple[EOSProperties, EOSProperties]:
    """`properties` of the fit and of every ensemble member, in one vmapped call."""
    coef = jnp.concatenate([model.coef[None], model.member_coef])
    poly = jnp.concatenate([model.poly[None], model.member_poly])

    def one(c, p):
        return _core(eqx.tree_at(lambda m: (m.coef, m.poly), model, (c, p)), lo, hi)

    out = jax.vmap(one)(coef, poly)
    return jax.tree_util.tree_map(lambda a: a[0], out), jax.tree_util.tree_map(lambda a: a[1:], out)
