r"""Fitting classical equations of state: `fit_eos`.

Start: a linear least-squares cubic in $x = V^{-2/3}$ (third-order Birch–Murnaghan is
exactly such a cubic, so for that form the start is already the answer). Finish: nonlinear
least squares through the core solver (`pl.least_squares` on `pl.DataMSE`), on volumes and
energies rescaled to O(1) so that every parameter and the stopping tolerances are well
scaled. Many curves of the same length fit in one compiled, vmapped call.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._lsq import least_squares
from .._terms import DataMSE
from ._data import EVData, check_precision
from ._forms import AbstractEOS, BirchMurnaghan4, form_class
from ._quality import accept

__all__ = ["fit_eos", "cubic_guess"]


def cubic_guess(volume: Array, energy: Array, weights: Array | None = None):
    r"""Birch–Murnaghan parameters from a (weighted) linear least-squares cubic in $V^{-2/3}$.

    Fits $E = \sum_{k=0}^{3} c_k t^k$ with $t$ the standardised $x = V^{-2/3}$, takes the
    root of $dE/dx$ where $d^2E/dx^2 > 0$, and converts derivatives in $x$ to $V_0$, $B_0$,
    $B_0'$. Pure JAX: works under `jit` and `vmap`.

    Returns:
        `(e0, v0, b0, b1, ok)`; `ok` is False when the cubic has no minimum (NaNs then).

    Reference: the ACWF verification scripts (Bosoni et al., Nat. Rev. Phys. 6, 45 (2024)).
    """
    v = jnp.asarray(volume)
    e = jnp.asarray(energy)
    x = v ** (-2.0 / 3.0)
    xm = jnp.mean(x)
    xs = jnp.std(x)
    t = (x - xm) / xs
    A = jnp.stack([jnp.ones_like(t), t, t**2, t**3], axis=-1)
    if weights is not None:
        sw = jnp.sqrt(jnp.asarray(weights, e.dtype))
        A, b = A * sw[:, None], e * sw
    else:
        b = e
    q = jnp.linalg.lstsq(A, b)[0]
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    disc = q2**2 - 3.0 * q1 * q3
    den = q2 + jnp.sqrt(jnp.where(disc >= 0, disc, 0.0))
    ok = (disc >= 0) & (den > 0)
    t0 = -q1 / jnp.where(ok, den, 1.0)  # root of dE/dt with d2E/dt2 = 2*den > 0
    x0 = xm + xs * t0
    ok = ok & (x0 > 0)
    x0 = jnp.where(ok, x0, 1.0)
    e0 = q0 + q1 * t0 + q2 * t0**2 + q3 * t0**3
    exx = (2.0 * q2 + 6.0 * q3 * t0) / xs**2
    exxx = 6.0 * q3 / xs**3
    v0 = x0 ** (-1.5)
    dv2 = 4.0 / 9.0 * x0**5 * exx
    dv3 = -20.0 / 9.0 * x0**6.5 * exx - 8.0 / 27.0 * x0**7.5 * exxx
    b0 = dv2 / x0**1.5
    b1 = -1.0 - x0 ** (-1.5) * dv3 / dv2
    nan = jnp.nan
    return (
        jnp.where(ok, e0, nan),
        jnp.where(ok, v0, nan),
        jnp.where(ok, b0, nan),
        jnp.where(ok, b1, nan),
        ok,
    )


def energy_terms(vn, yn, w) -> DataMSE:
    """The `DataMSE` of (a batch of) rescaled curves, built and checked once, on the host.

    Built outside `vmap`, so its checks run now, on concrete data: a term built from traced
    data carries `eqx.error_if` checks, whose host callbacks also keep the compiled fit out
    of the persistent compilation cache (the CLI's second run would compile again).
    """
    return DataMSE(jnp.asarray(vn), jnp.asarray(yn), weights=jnp.asarray(w), name="energy")


def _fit_one(cls, objective: DataMSE, w, max_steps, tol):
    vn, yn = objective.x, objective.y
    e0, v0, b0, b1, ok = cubic_guess(vn, yn, w)
    # a harmless start where the cubic has no minimum; flagged invalid below
    safe = lambda a, d: jnp.where(ok, a, d)
    e0, v0, b0, b1 = safe(e0, 0.0), safe(v0, jnp.mean(vn)), safe(b0, 1.0), safe(b1, 4.0)
    if cls is BirchMurnaghan4:
        b2 = -((b1 - 4.0) * (b1 - 3.0) + 35.0 / 9.0) / b0
        form = cls(e0, v0, b0, b1, b2)
    else:
        form = cls(e0, v0, b0, b1)
    # no throw: a curve that fails is flagged (and explained) by fit_eos, not raised mid-batch
    res = least_squares(form, objective, max_steps=max_steps, tol=tol, throw=False)
    return res.model, ok, res.loss


_fit_batch = eqx.filter_jit(
    eqx.filter_vmap(_fit_one, in_axes=(None, 0, 0, None, None)),
)


def _as_list(data) -> tuple[list[EVData], bool]:
    if isinstance(data, EVData):
        return [data], False
    if isinstance(data, Sequence) and data and all(isinstance(d, EVData) for d in data):
        return list(data), True
    raise ValueError(
        "fit_eos: data must be an EVData (eos.EVData(...) or eos.load(...)) or a list of them; "
        f"got {type(data).__name__}."
    )


def fit_eos(
    data: EVData | Sequence[EVData],
    form="birch_murnaghan",
    *,
    weights=None,
    max_steps: int = 50,
    tol: float = 1e-12,
    check: bool = True,
) -> AbstractEOS:
    r"""Fit an equation of state to energy–volume data by nonlinear least squares.

    Minimises $\frac1N\sum_i [E(V_i) - E_i]^2$ over the form's parameters with
    `pl.least_squares` on a `pl.DataMSE`, started from `cubic_guess`. The fit runs on
    shifted energies and O(1)-scaled volumes; the returned form has absolute parameters
    (its `e0` includes `data.energy_shift`).

    Args:
        data: one `EVData`, or a list of them with the same number of points: these are fitted
            together in one compiled, vmapped call and the returned form has a leading batch
            axis on every field (`forms.v0[i]` is curve `i`).
        form: `"birch_murnaghan"`/`"bm"`, `"bm4"`, `"vinet"`, `"murnaghan"`,
            `"poirier_tarantola"`/`"pt"`, or a form class.
        weights: optional per-point weights, shape `(N,)` (or `(B, N)` for a batch).
        max_steps, tol: passed to `pl.least_squares`.
        check: raise `ValueError` when a curve has no minimum inside its sampled volumes,
            a non-positive $B_0$ or non-finite parameters. With `check=False` such curves
            get NaN parameters (and a warning) instead: never an extrapolated $V_0$.

    Returns:
        The fitted form (`BirchMurnaghan`, `Vinet`, …).

    Example:
        >>> bm = fit_eos(eos.load("cu.csv"))
        >>> bm.v0, bm.b0 * eos.EV_PER_A3_TO_GPA, bm.b1
        >>> many = fit_eos([eos.load(f, key=k) for k in keys])   # batched

    Reference: F. Birch, Phys. Rev. 71, 809 (1947); E. Bosoni et al., Nat. Rev. Phys. 6, 45
    (2024) for the linear start.
    """
    if isinstance(form, str) and form.strip().lower() in ("net", "flexible"):
        from ._flex import fit_flexible  # the flexible form (smoothing spline), see _flex.py

        return fit_flexible(data, weights=weights, check=check)
    cls = form_class(form)
    items, batched = _as_list(data)
    n = {len(d) for d in items}
    if len(n) != 1:
        raise ValueError(
            f"fit_eos: batched curves must have the same number of points; got {sorted(n)}. "
            "Fit groups of equal length separately."
        )
    n = n.pop()
    if n < cls.n_params:
        raise ValueError(
            f"fit_eos: {cls.__name__} has {cls.n_params} parameters and needs at least "
            f"{cls.n_params} points; got {n}."
        )
    for d in items:
        check_precision("fit_eos", d)
    v = np.stack([d.volume for d in items])
    e = np.stack([d.energy for d in items])
    c = v.mean(axis=1)  # volume scale
    s = np.ptp(e, axis=1)  # energy scale
    if (s == 0).any():
        i = int(np.argmax(s == 0))
        raise ValueError(f"fit_eos: curve {i} has all energies equal; nothing to fit.")
    if weights is None:
        w = np.ones_like(v)
    else:
        w = np.broadcast_to(np.asarray(weights, dtype=np.float64), v.shape)
        if not np.isfinite(w).all() or (w < 0).any() or (w.sum(axis=1) == 0).any():
            raise ValueError("fit_eos: weights must be finite, non-negative and not all zero.")
    vn = v / c[:, None]
    yn = e / s[:, None]
    fitted, ok, _ = _fit_batch(cls, energy_terms(vn, yn, w), jnp.asarray(w), max_steps, tol)

    p = {k: np.asarray(a, dtype=np.float64) for k, a in fitted.params().items()}
    out = {
        "e0": p["e0"] * s + np.array([d.energy_shift for d in items]),
        "v0": p["v0"] * c,
        "b0": p["b0"] * s / c,
        "b1": p["b1"],
    }
    if "b2" in p:
        out["b2"] = p["b2"] * c / s
    # refuse what properties() refuses (NaN with check=False), FitQualityWarning for doubts
    out = accept(cls, items, out, np.asarray(ok), weights, check, batched)
    if not jax.config.jax_enable_x64:
        big = max(abs(d.energy_shift) for d in items)
        if big * 2.0**-23 > 1e-6:
            warnings.warn(
                f"fit_eos: jax_enable_x64 is off, so the returned form holds E0 (|E0| ~ {big:.3g} "
                f"eV) in float32, to ~{big * 2.0**-23:.1g} eV. V0, B0 and B0' were fitted on "
                "shifted energies and are unaffected; E0 + data.energy_shift is exact in "
                "properties(). Enable float64 for an exact E0.",
                stacklevel=2,
            )
    if not batched:
        out = {k: a[0] for k, a in out.items()}
    return cls(**out)
