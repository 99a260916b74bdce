r"""Equilibrium properties of any $E(V)$ model by automatic differentiation.

$P = -E'(V)$, $B = V E''(V)$, $B' = dB/dP = -1 - V E'''(V)/E''(V)$; $V_0$ solves
$E'(V_0) = 0$ by a safeguarded Newton iteration bracketed by the sampled volumes. The
derivatives come from the core engine, `pinnloss._derivatives.derivative`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._derivatives import derivative, scalar_output
from .._validate import is_concrete
from ._data import EV_PER_A3_TO_GPA, EVData

__all__ = [
    "EOSProperties",
    "properties",
    "pressure",
    "bulk_modulus",
    "bulk_modulus_derivative",
    "energy_offset",
    "rms",
]


def _scalar_fn(model):
    """`model` on one volume, its output checked to be one energy (shape () or (1,))."""
    return scalar_output(model, "eos", "one energy per volume")


# dE/dV, d2E/dV2, d3E/dV3 from the one derivative engine (nested grad for orders 1-2,
# Taylor mode for the third, which B0' needs).
def _d1(model):
    return derivative(_scalar_fn(model), 1)


def _d2(model):
    return derivative(_scalar_fn(model), 2)


def _d3(model):
    return derivative(_scalar_fn(model), 3)


def _pressure_at(model, v):
    return -_d1(model)(v)


def _bulk_at(model, v):
    return v * _d2(model)(v)


def _b1_at(model, v):
    return -1.0 - v * _d3(model)(v) / _d2(model)(v)


@eqx.filter_jit
def _map_jit(fn, model, flat):
    return jax.vmap(lambda x: fn(model, x))(flat)


def _map(fn, model, v):
    v = jnp.asarray(v)
    if not jnp.issubdtype(v.dtype, jnp.inexact):
        v = v.astype(jnp.result_type(float))
    return jnp.reshape(_map_jit(fn, model, jnp.ravel(v)), v.shape)


def pressure(model, volume: ArrayLike) -> Array:
    r"""Pressure $P(V) = -dE/dV$ [eV/Å³] of `model` at `volume` (any shape).

    Multiply by `EV_PER_A3_TO_GPA` (160.2177) for GPa.

    Example:
        >>> pressure(BirchMurnaghan(0.0, 11.95, 0.88, 5.05), 11.0)   # > 0 under compression
    """
    return _map(_pressure_at, model, volume)


def bulk_modulus(model, volume: ArrayLike) -> Array:
    r"""Bulk modulus $B(V) = -V\,dP/dV = V\,E''(V)$ [eV/Å³] at `volume` (any shape).

    Example:
        >>> bulk_modulus(bm, bm.v0)   # == bm.b0
    """
    return _map(_bulk_at, model, volume)


def bulk_modulus_derivative(model, volume: ArrayLike) -> Array:
    r"""$B'(V) = dB/dP = -1 - V E'''(V)/E''(V)$ (dimensionless) at `volume` (any shape).

    Example:
        >>> bulk_modulus_derivative(bm, bm.v0)   # == bm.b1
    """
    return _map(_b1_at, model, volume)


class EOSProperties(eqx.Module):
    """Equilibrium properties: `v0` [Å³/atom], `e0` [eV/atom], `b0` [eV/Å³], `b0_gpa` [GPa],
    `b1` [-], and `valid` (a minimum was found inside the bracket, with $E''>0$)."""

    v0: Array
    e0: Array
    b0: Array
    b0_gpa: Array
    b1: Array
    valid: Array

    def as_dict(self) -> dict[str, float]:
        """The properties as Python floats (for JSON), without `valid`."""
        return {k: float(getattr(self, k)) for k in ("v0", "e0", "b0", "b0_gpa", "b1")}


def _newton_min(model, lo, hi, iters: int = 60):
    """Safeguarded Newton on E'(V) = 0 inside [lo, hi]; returns (v0, valid)."""
    g = _d1(model)
    h = _d2(model)
    dtype = jnp.result_type(lo, hi, float)
    lo = jnp.asarray(lo, dtype)
    hi = jnp.asarray(hi, dtype)
    # start from the lowest energy on a grid: a good, bracketed first guess
    grid = lo + (hi - lo) * jnp.linspace(0.0, 1.0, 33, dtype=dtype)
    e = jax.vmap(_scalar_fn(model))(grid)
    x0 = grid[jnp.argmin(e)]
    g_lo, g_hi = g(lo), g(hi)
    bracketed = (g_lo < 0) & (g_hi > 0)

    def body(_, state):
        a, b, x = state
        gx = g(x)
        hx = h(x)
        # shrink the bracket with the sign of E'(x)
        a = jnp.where(gx < 0, x, a)
        b = jnp.where(gx > 0, x, b)
        newton = x - gx / jnp.where(hx > 0, hx, 1.0)
        ok = (hx > 0) & (newton > a) & (newton < b) & jnp.isfinite(newton)
        x_new = jnp.where(ok, newton, 0.5 * (a + b))
        x_new = jnp.where(gx == 0, x, x_new)
        return a, b, x_new

    _, _, v0 = jax.lax.fori_loop(0, iters, body, (lo, hi, x0))
    valid = bracketed & (h(v0) > 0) & jnp.isfinite(v0)
    return v0, valid


def _core(model, lo, hi) -> EOSProperties:
    v0, valid = _newton_min(model, lo, hi)
    e0 = _scalar_fn(model)(v0)
    e2 = _d2(model)(v0)
    e3 = _d3(model)(v0)
    b0 = v0 * e2
    b1 = -1.0 - v0 * e3 / e2
    return EOSProperties(v0=v0, e0=e0, b0=b0, b0_gpa=b0 * EV_PER_A3_TO_GPA, b1=b1, valid=valid)


def _bracket(where, data, bracket):
    if bracket is not None:
        lo, hi = bracket
        return lo, hi
    if isinstance(data, EVData):
        return float(data.volume.min()), float(data.volume.max())
    if data is None:
        raise ValueError(
            f"{where}: give the data (or bracket=(v_lo, v_hi)) to bound the search for V0."
        )
    v = np.asarray(data)
    return float(v.min()), float(v.max())


def energy_offset(model, data) -> float:
    """What to add to `model(v)` for absolute energies [eV/atom].

    `data.energy_shift` for models that predict energies relative to their data
    (`EnergyNet`), else 0 (forms from `fit_eos` are absolute).

    Example:
        >>> e_abs = jax.vmap(net)(data.volume) + energy_offset(net, data)
    """
    if getattr(model, "relative_to_data", False) and isinstance(data, EVData):
        return float(data.energy_shift)
    return 0.0


def rms(model, data: EVData) -> float:
    r"""Root-mean-square residual of `model` against `data` in meV/atom.

    $$\mathrm{RMS} = 10^3 \sqrt{\tfrac1N \textstyle\sum_i \big(E(V_i) - E_i\big)^2},$$
    with absolute energies on both sides (`energy_offset` is added to the model's output),
    evaluated in float64 on the host.

    Example:
        >>> rms(eos.fit_eos(data), data)   # meV/atom
    """
    if not isinstance(data, EVData):
        raise ValueError(f"rms: data must be an EVData; got {type(data).__name__}.")
    e_fit = np.asarray(jax.vmap(model)(jnp.asarray(data.volume)), dtype=np.float64)
    e_fit = np.reshape(e_fit, (len(data),))
    res = e_fit + energy_offset(model, data) - data.absolute_energy
    return 1e3 * float(np.sqrt(np.mean(res**2)))


def properties(model, data=None, *, bracket=None, check: bool = True) -> EOSProperties:
    r"""$V_0$, $E_0$, $B_0$ (eV/Å³ and GPa) and $B_0'$ of any $E(V)$ model, by autodiff.

    $V_0$ solves $E'(V_0)=0$ by Newton's method on the model's own derivatives, safeguarded
    by bisection inside the sampled volume range $[V_{min}, V_{max}]$ of `data` (or
    `bracket`); $B_0 = V_0 E''(V_0)$ and $B_0' = -1 - V_0 E'''(V_0)/E''(V_0)$. For a model
    that predicts energies relative to its data (`EnergyNet`), `e0` adds
    `data.energy_shift` back, in float64 on the host, so it is absolute.

    Works on forms and nets alike, eagerly or under `jit`/`vmap` (then no checks run; a
    failed member has `valid == False`).

    Args:
        model: callable $E(V)$ on one scalar volume.
        data: `EVData` or an array of volumes giving the bracket.
        bracket: `(v_lo, v_hi)` instead of `data`.
        check: raise `ValueError` when the minimum is not inside the bracket (eager only).

    Example:
        >>> p = properties(result.model, data)
        >>> p.v0, p.b0_gpa, p.b1

    Reference: F. D. Murnaghan, Proc. Natl. Acad. Sci. 30, 244 (1944) for $B$ and $B'$.
    """
    lo, hi = _bracket("properties", data, bracket)
    shift = energy_offset(model, data)
    tracing = not is_concrete((model, lo, hi))
    if tracing:
        p = _core(model, lo, hi)
        return eqx.tree_at(lambda q: q.e0, p, p.e0 + shift)
    if not float(lo) < float(hi):
        raise ValueError(f"properties: the bracket must satisfy v_lo < v_hi; got ({lo}, {hi}).")
    dt = jnp.result_type(float)
    p = _jit_core(model, jnp.asarray(lo, dt), jnp.asarray(hi, dt))  # arrays: no retrace
    if check and not bool(p.valid):
        g_lo, g_hi = (float(-x) for x in pressure(model, jnp.array([lo, hi])))
        if not (g_lo < 0 < g_hi):
            raise ValueError(
                "properties: no energy minimum inside the sampled volumes "
                f"[{float(lo):.6g}, {float(hi):.6g}] Å³ (dE/dV = {g_lo:.3g} and {g_hi:.3g} "
                "eV/Å³ at the ends; a minimum needs < 0 then > 0). Sample volumes on both sides "
                "of the equilibrium instead of extrapolating V0."
            )
        raise ValueError(
            "properties: the model is not convex at its stationary point "
            f"V = {float(p.v0):.6g} Å³ (E'' <= 0); no physical equilibrium."
        )
    e0 = np.float64(np.asarray(p.e0, dtype=np.float64)) + np.float64(shift)
    return EOSProperties(
        v0=np.float64(p.v0),
        e0=e0,
        b0=np.float64(p.b0),
        b0_gpa=np.float64(p.b0_gpa),
        b1=np.float64(p.b1),
        valid=np.bool_(p.valid),
    )


_jit_core = eqx.filter_jit(_core)
