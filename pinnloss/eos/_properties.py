r"""Equilibrium properties of any $E(V)$ model by automatic differentiation.

$P = -E'(V)$, $B = V E''(V)$, $B' = dB/dP = -1 - V E'''(V)/E''(V)$; $V_0$ solves
$E'(V_0) = 0$ by a safeguarded Newton iteration bracketed by the sampled volumes. The
derivatives come from the core engine, `pinnloss._derivatives.derivative`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._cache import cached_jit
from .._derivatives import derivative, scalar_output
from .._validate import is_concrete
from ._data import EV_PER_A3_TO_GPA, UNITS, EVData, batch_bucket, length_bucket
from ._forms import FORM_REGISTRY, AbstractEOS
from ._stderr import format_value, gauss_newton_cov, std_scale, t_quantile

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


_FIELDS = ("v0", "e0", "b0", "b0_gpa", "b1")
_LABELS = {"v0": "V0", "e0": "E0", "b0": "B0", "b0_gpa": "B0", "b1": "B0'"}


class EOSProperties(eqx.Module):
    r"""Equilibrium properties with standard errors.

    Fields: `v0` [Å³/atom], `e0` [eV/atom], `b0` [eV/Å³], `b0_gpa` [GPa], `b1` [-] (scalars,
    or arrays with a leading batch axis for a batched fit), `valid` (a minimum was found
    inside the bracket, with $E''>0$), and:

    - `std`: an `EOSProperties` of standard errors of the same fields (None when no data
      was given, the model is not a classical form, or the fit leaves no degrees of freedom
      and no noise `sigma` was given). They are the Gauss–Newton (Laplace) errors of the
      fit, propagated to the properties by autodiff and scaled for the Student-t with `dof`
      degrees of freedom (see `pinnloss.eos._stderr`): $\pm1$/$\pm2$ std cover about
      68–75 % / 91–95 % of repeated noisy fits.
    - `dof`: residual degrees of freedom, points minus fitted parameters.
    - `sigma_known`: the noise was given (`sigma=`) rather than estimated from residuals.

    `interval(level)` gives exact Student-t (normal when `sigma_known`) intervals.
    """

    v0: Array
    e0: Array
    b0: Array
    b0_gpa: Array
    b1: Array
    valid: Array
    std: EOSProperties | None = None
    dof: Any = None
    sigma_known: bool = eqx.field(static=True, default=False)

    def as_dict(self) -> dict[str, float]:
        """The properties as Python floats (for JSON), without `valid` or `std`.

        Batched properties give lists of floats.
        """
        return {k: np.asarray(getattr(self, k), np.float64).tolist() for k in _FIELDS}

    def interval(self, level: float = 0.68) -> dict[str, tuple]:
        """`{field: (lo, hi)}`: the two-sided confidence interval at `level` (e.g. 0.68, 0.95).

        value ± q·se with se the plain Gauss–Newton standard error and q the two-sided
        Student-t quantile with `dof` degrees of freedom (normal when `sigma_known`).
        """
        if self.std is None:
            raise ValueError(
                "EOSProperties.interval: no standard errors; call eos.properties(fit, data) "
                "with the data of a classical form fitted with more points than parameters "
                "(or give sigma=)."
            )
        level = float(level)
        if not 0.0 < level < 1.0:
            raise ValueError(f"EOSProperties.interval: level must be in (0, 1); got {level}.")
        dofs = np.atleast_1d(np.asarray(self.dof))
        nu = lambda d: None if self.sigma_known else int(d)
        q = np.array([t_quantile(level, nu(d)) / std_scale(nu(d)) for d in dofs])
        q = q.reshape(np.shape(self.dof)) if np.ndim(self.dof) else q[0]
        out = {}
        for k in _FIELDS:
            x = np.asarray(getattr(self, k), np.float64)
            h = q * np.asarray(getattr(self.std, k), np.float64)
            lo, hi = x - h, x + h
            out[k] = (lo.tolist(), hi.tolist()) if np.ndim(x) else (float(lo), float(hi))
        return out

    def __repr__(self) -> str:
        return self._text()

    def __str__(self) -> str:
        return self._text()

    def _text(self) -> str:
        def val(a):
            try:
                return np.asarray(a, np.float64)
            except (TypeError, ValueError, jax.errors.ConcretizationTypeError):
                return None

        x = {k: val(getattr(self, k)) for k in _FIELDS}
        if any(v is None for v in x.values()):
            return f"EOSProperties(traced, shape {jnp.shape(self.v0)})"
        std = self.std
        sd = {k: (None if std is None else val(getattr(std, k))) for k in _FIELDS}
        if std is None:
            head = "EOSProperties (no standard errors)"
        elif self.sigma_known:
            head = "EOSProperties (± standard error, noise sigma given)"
        else:
            dof = np.asarray(self.dof)
            d = int(dof) if dof.ndim == 0 else f"{int(dof.min())}–{int(dof.max())}"
            head = f"EOSProperties (± standard error, t-scaled for {d} residual dof)"
        shape = np.shape(x["v0"])
        if not shape:
            rows = [f"  {_LABELS[k]:<4s}= {format_value(x[k], sd[k], UNITS[k])}" for k in _FIELDS]
            if not bool(np.asarray(self.valid)):
                rows.append("  (not valid: no minimum inside the sampled volumes)")
            return head + "\n" + "\n".join(rows)
        n = int(np.prod(shape))
        rows = []
        for i in range(min(n, 8)):
            cells = [
                format_value(x[k].ravel()[i], None if sd[k] is None else sd[k].ravel()[i], UNITS[k])
                for k in ("v0", "b0_gpa", "b1")
            ]
            rows.append(f"  [{i}] V0 = {cells[0]}, B0 = {cells[1]}, B0' = {cells[2]}")
        if n > 8:
            rows.append(f"  ... ({n - 8} more)")
        return f"{head}, {n} curves\n" + "\n".join(rows)


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
    return jax.lax.stop_gradient(v0), valid


def _props_at(model, v0):
    """(v0, e0, b0, b1) at a converged minimum `v0`, differentiable in the model.

    One Newton step on the root, outside the search loop: exact first derivatives of $V_0$
    with respect to the model's parameters (implicit function theorem,
    $dV_0 = -d(E')/E''$) under `jax.grad`/`jacfwd`, and no change in value ($E'(V_0) = 0$).
    """
    hv = _d2(model)(v0)
    v0 = v0 - _d1(model)(v0) / jnp.where(hv > 0, hv, 1.0)
    e0 = _scalar_fn(model)(v0)
    e2 = _d2(model)(v0)
    e3 = _d3(model)(v0)
    return v0, e0, v0 * e2, -1.0 - v0 * e3 / e2


def _core(model, lo, hi) -> EOSProperties:
    v0, valid = _newton_min(model, lo, hi)
    v0, e0, b0, b1 = _props_at(model, v0)
    valid = valid & jnp.isfinite(v0)
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


_GRID = 65  # volumes on which E'' is sampled to find a turnover inside the data


def _with_params(form, names, theta):
    return eqx.tree_at(
        lambda f: tuple(getattr(f, k) for k in names),
        form,
        tuple(theta[i] for i in range(len(names))),
    )


def _diagnose_one(form, names, v, e, lo, hi, at_v0: bool):
    """Properties, residuals, their Jacobians and E'' on a grid, for one form (shifted frame).

    `at_v0`: the form's `v0` field is its stationary point by construction (the classical
    forms of `FORM_REGISTRY`): the minimum is checked there, with the same test as `_core` (a sign
    change of E' across the range, E'' > 0) plus V0 inside the range, instead of searching
    for it: a much smaller compiled program. Other forms search as `properties` does.
    """
    theta = jnp.stack([jnp.asarray(getattr(form, k), v.dtype) for k in names])

    def residuals(th):
        return _with_params(form, names, th).energy(v) - e

    if at_v0:
        v0 = jax.lax.stop_gradient(jnp.asarray(form.v0, v.dtype))
        g = _d1(form)
        valid = (g(lo) < 0) & (g(hi) > 0) & (v0 >= lo) & (v0 <= hi)
    else:
        v0, valid = _newton_min(form, lo, hi)

    def props(th):  # at the converged V0: no derivative through a search loop
        y = jnp.stack(_props_at(_with_params(form, names, th), v0))
        return y, y

    P, y = jax.jacfwd(props, has_aux=True)(theta)
    valid = valid & (y[2] > 0) & jnp.all(jnp.isfinite(y))
    p = EOSProperties(
        v0=y[0], e0=y[1], b0=y[2], b0_gpa=y[2] * EV_PER_A3_TO_GPA, b1=y[3], valid=valid
    )
    grid = lo + (hi - lo) * jnp.linspace(0.0, 1.0, _GRID, dtype=v.dtype)
    return (
        p,
        residuals(theta),
        jax.jacfwd(residuals)(theta),
        P,
        jax.vmap(_d2(form))(grid),
    )


# traced once per shape; with the compilation cache on, stored (jax.export) for later sessions
_diagnose_batch = cached_jit(
    "eos-diagnose", eqx.filter_vmap(_diagnose_one, in_axes=(0, None, 0, 0, 0, 0, None))
)


@dataclass(frozen=True)
class Diagnosis:
    """Host-side (NumPy) results of `diagnose` for B curves (internal).

    `props`: v0, e0 (absolute), b0, b1, valid, each `(B,)`; `residuals`/`jac`: per curve,
    the residuals $E(V_i) - E_i$ [eV/atom] of its real points and their `(N, p)` Jacobian
    with respect to the form's parameters `names`; `pjac`: `(B, 4, p)` Jacobian of
    (v0, e0, b0, b1); `e2`: $E''$ on `grid` (`(B, G)`, the sampled volume range);
    `finite`: all parameters finite.
    """

    names: tuple
    props: dict
    residuals: list
    jac: list
    pjac: np.ndarray
    e2: np.ndarray
    grid: np.ndarray
    volumes: list
    energies: list
    finite: np.ndarray


def as_items(where, data) -> tuple[list[EVData], bool]:
    """`data` as a list of `EVData` and whether it was a list (a batch)."""
    if isinstance(data, EVData):
        return [data], False
    if isinstance(data, Sequence) and data and all(isinstance(d, EVData) for d in data):
        return list(data), True
    raise ValueError(
        f"{where}: data must be an EVData or a list of them (one per batch member); got "
        f"{type(data).__name__}."
    )


def diagnose(form: AbstractEOS, items: list[EVData]) -> Diagnosis:
    """One compiled, vmapped pass over the curves of a (batched) form: see `Diagnosis`.

    `form` holds absolute energies with a leading axis of length `len(items)` on its fields
    (or none for one curve). Curves are padded to a bucketed length with zero weights, so a
    few compiled programs serve all lengths. Members with non-finite parameters (a failed
    fit) are evaluated on harmless stand-ins and flagged by `finite`.
    """
    names = tuple(form.params())
    B = len(items)
    leaves = {k: np.broadcast_to(np.asarray(getattr(form, k), np.float64), (B,)) for k in names}
    shift = np.array([d.energy_shift for d in items])
    leaves["e0"] = leaves["e0"] - shift
    finite = np.all([np.isfinite(a) for a in leaves.values()], axis=0)
    ref = {k: (a[finite][0] if finite.any() else None) for k, a in leaves.items()}
    stand_in = {"e0": 0.0, "v0": 1.0, "b0": 1.0, "b1": 4.0}
    safe = {
        k: np.where(finite, a, ref[k] if ref[k] is not None else stand_in.get(k, 0.0))
        for k, a in leaves.items()
    }
    # pad the batch (copies of the first curve) and the curves (zero weights) to buckets
    bp = batch_bucket(B)
    pad_b = lambda a: np.concatenate([a, np.repeat(a[:1], bp - B, axis=0)])
    batch = type(form)(**{k: jnp.asarray(pad_b(a)) for k, a in safe.items()})
    n = length_bucket(max(len(d) for d in items))
    v = pad_b(np.stack([np.pad(d.volume, (0, n - len(d)), mode="edge") for d in items]))
    e = pad_b(np.stack([np.pad(d.energy, (0, n - len(d))) for d in items]))
    lo = np.array([d.volume.min() for d in items])
    hi = np.array([d.volume.max() for d in items])
    dt = jnp.result_type(float)
    p, r, J, P, e2 = _diagnose_batch(
        batch,
        names,
        jnp.asarray(v, dt),
        jnp.asarray(e, dt),
        jnp.asarray(pad_b(lo), dt),
        jnp.asarray(pad_b(hi), dt),
        type(form) in {s.cls for s in FORM_REGISTRY.specs()},
    )
    p, r, J, P, e2 = jax.tree.map(lambda a: a[:B], (p, r, J, P, e2))
    f64 = lambda a: np.asarray(a, np.float64)
    r, J = f64(r), f64(J)
    offset = np.zeros(B)
    if np.asarray(form.e0).dtype != np.float64:
        # an absolute E0 held in float32 (jax_enable_x64 off) is off by up to ~|E0| 2^-24:
        # a constant offset of every residual, not misfit. Residuals and E0 at the
        # least-squares E0 (exact to the float32 precision of the shifted energies).
        for i, d in enumerate(items):
            offset[i] = r[i, : len(d)].mean()
            r[i, : len(d)] -= offset[i]
    ok = np.asarray(p.valid).astype(bool) & finite
    nan = lambda a: np.where(finite, f64(a), np.nan)
    props = {
        "v0": nan(p.v0),
        "e0": nan(f64(p.e0) + shift - offset),
        "b0": nan(p.b0),
        "b1": nan(p.b1),
        "valid": ok,
    }
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _GRID)
    return Diagnosis(
        names=names,
        props=props,
        residuals=[r[i, : len(d)] for i, d in enumerate(items)],
        jac=[J[i, : len(d)] for i, d in enumerate(items)],
        pjac=f64(P),
        e2=f64(e2),
        grid=grid,
        volumes=[d.volume for d in items],
        energies=[d.energy for d in items],
        finite=finite,
    )


def point_weights(where, items, sigma, weights):
    """Per-curve weights, and whether they are $1/\\sigma^2$ of a known noise."""
    if sigma is not None and weights is not None:
        raise ValueError(f"{where}: give sigma= (noise in eV/atom) or weights=, not both.")
    B = len(items)
    given = sigma if sigma is not None else weights
    name = "sigma" if sigma is not None else "weights"
    if given is None:
        return [np.ones(len(d)) for d in items], False
    if isinstance(given, (list, tuple)) and len(given) == B and B > 1:
        per = [np.asarray(g, np.float64) for g in given]
    else:
        a = np.asarray(given, np.float64)
        per = [a[i] for i in range(B)] if a.ndim == 2 else [a] * B
    out = []
    for i, (g, d) in enumerate(zip(per, items, strict=True)):
        if g.ndim > 1 or (g.ndim == 1 and g.shape[0] != len(d)):
            raise ValueError(
                f"{where}: {name} must be a scalar or one value per point ({len(d)} for curve "
                f"{i}); got shape {g.shape}."
            )
        g = np.broadcast_to(g, (len(d),))
        if not np.all(np.isfinite(g)):
            raise ValueError(f"{where}: {name} must be finite; curve {i} has NaN or inf.")
        if sigma is not None:
            if np.any(g <= 0):
                raise ValueError(
                    f"{where}: sigma must be positive (the energy noise per point, eV/atom); "
                    f"curve {i} has {float(g.min())!r}."
                )
            out.append(1.0 / g**2)
        else:
            if np.any(g < 0) or not np.any(g > 0):
                raise ValueError(f"{where}: weights must be non-negative and not all zero.")
            out.append(np.array(g))
    return out, sigma is not None


def standard_errors(diag: Diagnosis, weights, sigma_known: bool) -> list:
    """Per curve `(std, dof)`: std a dict of the t-scaled standard errors, or None."""
    out = []
    for i in range(len(diag.residuals)):
        C, dof = gauss_newton_cov(
            diag.jac[i], diag.residuals[i], weights[i], sigma_known=sigma_known
        )
        if C is None or not diag.finite[i]:
            out.append((None, dof))
            continue
        P = diag.pjac[i]
        se = np.sqrt(np.clip(np.diag(P @ C @ P.T), 0.0, None))
        k = std_scale(None if sigma_known else dof)
        sd = dict(zip(("v0", "e0", "b0", "b1"), se * k, strict=True))
        sd["b0_gpa"] = sd["b0"] * EV_PER_A3_TO_GPA
        out.append((sd, dof))
    return out


def _member(form, i):
    return jax.tree.map(lambda a: a[i], form)


def _form_properties(form, data, sigma, weights, check) -> EOSProperties:
    items, batched = as_items("properties", data)
    shape = tuple(np.shape(np.asarray(form.v0)))
    if batched != bool(shape) or (batched and shape != (len(items),)):
        want = "one EVData" if not shape else f"a list of {shape[0]} EVData (one per curve)"
        got = f"a list of {len(items)}" if batched else "one EVData"
        raise ValueError(
            f"properties: a form with parameter shape {shape} needs {want}; got {got}."
        )
    w, known = point_weights("properties", items, sigma, weights)
    diag = diagnose(form, items)
    pr = diag.props
    if check:
        bad = np.nonzero(~pr["valid"] & diag.finite)[0]
        if bad.size:
            i = int(bad[0])
            member = _member(form, i) if batched else form
            d = items[i]
            name = f"{d.label or f'curve {i}'}: " if batched else ""
            more = f" ({bad.size} curves in all fail this way or similar)" if bad.size > 1 else ""
            raise ValueError(
                "properties: "
                + name
                + _invalid_reason(member, d.volume.min(), d.volume.max(), d.energy_shift)
                + more
            )
    ses = standard_errors(diag, w, known)
    vals = {k: pr[k] for k in ("v0", "e0", "b0", "b1")}
    vals["b0_gpa"] = vals["b0"] * EV_PER_A3_TO_GPA
    dof = np.array([d for _, d in ses])
    std = None
    if any(sd is not None for sd, _ in ses):
        nan = dict.fromkeys(_FIELDS, np.nan)
        std = {k: np.array([(sd or nan)[k] for sd, _ in ses]) for k in _FIELDS}
    valid = pr["valid"]
    if not batched:
        vals = {k: np.float64(a[0]) for k, a in vals.items()}
        valid = np.bool_(valid[0])
        std = None if std is None else {k: np.float64(a[0]) for k, a in std.items()}
        dof = int(dof[0])
    std_props = None if std is None else EOSProperties(**std, valid=np.bool_(True))
    return EOSProperties(**vals, valid=valid, std=std_props, dof=dof, sigma_known=known)


def _invalid_reason(model, lo, hi, shift=0.0) -> str:
    g_lo, g_hi = (float(-x) for x in pressure(model, jnp.array([lo, hi])))
    if not (g_lo < 0 < g_hi):
        return (
            "no energy minimum inside the sampled volumes "
            f"[{float(lo):.6g}, {float(hi):.6g}] Å³ (dE/dV = {g_lo:.3g} and {g_hi:.3g} "
            "eV/Å³ at the ends; a minimum needs < 0 then > 0). Sample volumes on both sides "
            "of the equilibrium instead of extrapolating V0."
        )
    return (
        "the model is not convex at its stationary point inside the sampled volumes "
        "(E'' <= 0); no physical equilibrium."
    )


def _is_data_list(data) -> bool:
    return (
        isinstance(data, Sequence)
        and not isinstance(data, str)
        and len(data) > 0
        and isinstance(data[0], EVData)
    )


def properties(
    model, data=None, *, bracket=None, check: bool = True, sigma=None, weights=None
) -> EOSProperties:
    r"""$V_0$, $E_0$, $B_0$ (eV/Å³ and GPa) and $B_0'$ of any $E(V)$ model, with standard errors.

    $V_0$ solves $E'(V_0)=0$ by Newton's method on the model's own derivatives, safeguarded
    by bisection inside the sampled volume range $[V_{min}, V_{max}]$ of `data` (or
    `bracket`); $B_0 = V_0 E''(V_0)$ and $B_0' = -1 - V_0 E'''(V_0)/E''(V_0)$. For a model
    that predicts energies relative to its data (`EnergyNet`), `e0` adds
    `data.energy_shift` back, in float64 on the host, so it is absolute.

    Standard errors (`.std`, for a classical form with its `data`): the Gauss–Newton
    (Laplace) covariance of the form's parameters, $C = \hat\sigma^2 (J^\top W J)^{-1}$ with
    $J$ the Jacobian of the residuals $E(V_i) - E_i$ and
    $\hat\sigma^2 = \sum_i w_i r_i^2 / (N - p)$ (or $W = \mathrm{diag}(1/\sigma_i^2)$ and
    $\hat\sigma = 1$ when `sigma` is given), propagated to the properties by `jax.jacfwd`
    of this very map: $C_Y = P C P^\top$ with $P = \partial Y/\partial\theta$. With
    $\sigma$ estimated from $N - p$ residuals the errors follow a Student-t, so `std` is
    scaled by $k_{N-p}$ (1.33 for 7 points and 4 parameters; see
    `pinnloss.eos._stderr`) and `interval(level)` uses t quantiles. The errors assume the
    form is right and the residuals are noise: `eos.assess` checks that.

    Bootstrap (`eos.bootstrap`) resamples the points and refits: on 7-point curves it
    overestimates the spread of B0 3–5×. Seed ensembles (`eos.seed_ensemble`) measure how
    much a neural $E(V)$ is left undetermined by its data, not the noise in the data.

    Works on forms and nets alike, eagerly or under `jit`/`vmap` (then no checks run and no
    standard errors; a failed member has `valid == False`). A batched form (fields with a
    leading axis, from `fit_eos` on a list) takes the list of its `EVData`.

    Args:
        model: callable $E(V)$ on one scalar volume, or a (batched) classical form with
            absolute energies, as `fit_eos` returns it (a form in the data's shifted frame
            would show every residual offset by `data.energy_shift`).
        data: `EVData` (a list of them for a batched form), or an array of volumes giving
            the bracket.
        bracket: `(v_lo, v_hi)` instead of `data` (then no standard errors).
        check: raise `ValueError` when the minimum is not inside the bracket (eager only).
        sigma: the energy noise per point [eV/atom], scalar or one per point (a list, one
            per curve, for a batch): standard errors from it instead of the residuals.
        weights: the point weights the form was fitted with (`fit_eos(weights=...)`).

    Example:
        >>> p = properties(eos.fit_eos(data), data)
        >>> print(p)                          # values ± standard errors, with units
        >>> p.std.b0_gpa, p.interval(0.95)["b0_gpa"]

    Reference: F. D. Murnaghan, Proc. Natl. Acad. Sci. 30, 244 (1944) for $B$ and $B'$;
    W. H. Press et al., Numerical Recipes, 3rd ed. (2007), §15.5 for the covariance.
    """
    if (
        isinstance(model, AbstractEOS)
        and bracket is None
        and (isinstance(data, EVData) or _is_data_list(data))
        and is_concrete(model)
    ):
        return _form_properties(model, data, sigma, weights, check)
    if sigma is not None or weights is not None:
        raise ValueError(
            "properties: sigma= and weights= give standard errors of classical forms fitted "
            f"to data (eos.fit_eos results, with their EVData); got {type(model).__name__}."
        )
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
        raise ValueError("properties: " + _invalid_reason(model, lo, hi))
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
