"""Matplotlib figures of energy–volume fits: E(V) with residuals, and P(V).

Matplotlib is imported when a function is called, not when `pinnloss` is imported.
Each function returns a `matplotlib.figure.Figure`; save it with `fig.savefig("fit.png")`.
Generic figures (the loss history of any fit) live in `pinnloss.plot`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._data import EV_PER_A3_TO_GPA, EVData
from ._forms import AbstractEOS, BirchMurnaghan
from ._properties import energy_offset, pressure, properties

__all__ = ["energy_volume", "pressure_volume"]

#: Line styles and markers per model, so that curves that coincide stay distinguishable.
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P")
#: Two curves closer than this everywhere [meV/atom] get a note in the legend.
_COINCIDE_MEV = 0.05


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(**kw)


def _absolute(model, v: np.ndarray, data) -> np.ndarray:
    """Absolute per-atom energies of `model` at `v` (adds the model's energy shift)."""
    e = np.asarray(jax.vmap(model)(jnp.asarray(v)), dtype=np.float64)
    return e + energy_offset(model, data)


def _models(models) -> list[tuple[str, object]]:
    if isinstance(models, Mapping):
        out = list(models.items())
    elif isinstance(models, Sequence) and not isinstance(models, str):
        out = [(type(m).__name__, m) for m in models]
    else:
        out = [(type(models).__name__, models)]
    if not out:
        raise ValueError("energy_volume: models is empty; give one model, a list or a dict.")
    return out


def _pm(value, std, unit: str = "", digits: int = 7) -> str:
    """`value ± std unit` rounded to the second significant digit of `std` (no std: `digits`)."""
    value = float(value)
    unit = f" {unit}" if unit else ""
    if std is None or not np.isfinite(std) or std <= 0:
        return f"{value:.{digits}g}{unit}"
    decimals = min(12, max(0, 1 - math.floor(math.log10(float(std)))))
    return f"{value:.{decimals}f} ± {float(std):.{decimals}f}{unit}"


def _props(model, data):
    """`eos.properties(model, data)`, or None when the model has no minimum inside the data."""
    try:
        return properties(model, data)
    except ValueError:
        return None


def _stderr_band(model, data: EVData, props, grid: np.ndarray) -> np.ndarray | None:
    """One standard error of a classical form's curve at `grid` [eV/atom], or None.

    The delta method on the Gauss–Newton covariance of the form's parameters, scaled as
    `eos.properties` scales its standard errors (Student-t): $\\sigma_E(V)^2 = g^\\top C g$,
    $g = \\partial E(V)/\\partial\\theta$.
    """
    if not isinstance(model, AbstractEOS) or getattr(props, "std", None) is None:
        return None
    if np.ndim(np.asarray(model.v0)) != 0:
        return None
    from ._stderr import gauss_newton_cov, std_scale

    n = data.volume.size
    J = np.asarray(_param_jacobian(model, jnp.concatenate([data.volume, grid])), np.float64)
    r = _absolute(model, data.volume, data) - data.absolute_energy
    C, dof = gauss_newton_cov(J[:n], r, np.ones_like(r), sigma_known=False)
    if C is None:
        return None
    G = J[n:]
    var = np.einsum("ij,jk,ik->i", G, C, G)
    return std_scale(dof) * np.sqrt(np.maximum(var, 0.0))


@eqx.filter_jit
def _param_jacobian(model, v):
    """$\\partial E(v_i)/\\partial\\theta_j$ for a classical form's parameters `model.params()`."""
    names = tuple(model.params())
    theta = jnp.stack([jnp.asarray(getattr(model, k)) for k in names])

    def curve(th):
        form = eqx.tree_at(
            lambda f: tuple(getattr(f, k) for k in names),
            model,
            tuple(th[i] for i in range(len(names))),
        )
        return form.energy(v)

    return jax.jacfwd(curve)(theta)


def _ensemble_band(ensemble, model, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 16th and 84th percentiles [eV/atom] of curves through each member's properties.

    Each valid member gives a curve of `model`'s class (a 4-parameter classical form, else
    Birch–Murnaghan) with that member's $E_0, V_0, B_0, B_0'$; exact for `eos.bootstrap`
    of such a form, the Birch–Murnaghan curve with the member's properties for a net.
    """
    s = ensemble.samples
    cols = [np.asarray(getattr(s, k), np.float64).ravel() for k in ("e0", "v0", "b0", "b1")]
    ok = np.all(np.isfinite(np.stack(cols)), axis=0)
    if ok.sum() < 2:
        raise ValueError(
            f"energy_volume: the ensemble has {int(ok.sum())} valid members; a band needs 2."
        )
    cls = type(model)
    if not (isinstance(model, AbstractEOS) and set(model.params()) == {"e0", "v0", "b0", "b1"}):
        cls = BirchMurnaghan
    e0, v0, b0, b1 = (c[ok] for c in cols)
    forms = cls(e0=jnp.asarray(e0), v0=jnp.asarray(v0), b0=jnp.asarray(b0), b1=jnp.asarray(b1))
    curves = np.asarray(forms.energy(jnp.asarray(grid)[:, None]), np.float64)  # (grid, n)
    return np.percentile(curves, 16, axis=1), np.percentile(curves, 84, axis=1)


def energy_volume(
    data: EVData,
    models,
    *,
    title: str | None = None,
    pad: float = 0.03,
    ensemble=None,
    band: bool = True,
    annotate: bool = True,
):
    r"""E(V) data with fitted curves (top, meV/atom from $E_0$) and residuals (bottom).

    The top axis shows $E - E_0$ in meV/atom, $E_0$ the first model's minimum
    (`eos.properties`; the lowest data point when it has none inside the data). Each model
    is drawn with its own colour, line style and z-order, $V_0$ is marked on it, and a box
    lists $V_0$, $B_0$ and $B_0'$ with standard errors (`properties(...).std`, when the
    model is a classical form fitted to `data`). Curves that coincide within 0.05 meV/atom
    everywhere say so in the legend. The band is ±1 standard error of the curve (the delta
    method on the form's Gauss–Newton covariance, scaled like `properties`' errors) or,
    with `ensemble`, the 16–84 % range of its members' curves; in the residual panel it is
    drawn around zero, where it is visible next to the residuals.

    Args:
        data: `eos.EVData`.
        models: one model, a list, or `{label: model}`; forms and nets alike.
        title: figure title (default: the data label).
        pad: extend the curve this fraction beyond the sampled volumes.
        ensemble: an `eos.Ensemble` (`eos.bootstrap`, `eos.seed_ensemble`) for the band of
            the first model, instead of its standard errors.
        band: draw the uncertainty band.
        annotate: write $V_0$, $B_0$, $B_0'$ (± errors) and $E_0$ on the figure.

    Returns:
        A `matplotlib.figure.Figure` with two axes.

    Example:
        >>> fig = pinnloss.eos.plot.energy_volume(data, {"BM": bm, "net": net})
        >>> fig.savefig("fit.png", dpi=150)
    """
    if not isinstance(data, EVData):
        raise ValueError(f"energy_volume: data must be an EVData; got {type(data).__name__}.")
    items = _models(models)
    fig = _figure(figsize=(6.4, 6.0), layout="constrained")
    ax, axr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    v = data.volume
    span = v.max() - v.min()
    grid = np.linspace(v.min() - pad * span, v.max() + pad * span, 300)

    props = [_props(m, data) for _, m in items]
    ref = props[0]
    e_ref = float(ref.e0) if ref is not None else float(data.energy_shift)
    mev = lambda e: 1e3 * (np.asarray(e, np.float64) - e_ref)

    curves, lines = _draw_models(ax, axr, items, props, data, grid, mev)
    _label_coinciding(items, curves, lines)
    ax.plot(v, mev(data.absolute_energy), "o", color="k", ms=6, label="data", zorder=30)
    top = float(np.max([mev(c).max() for c in curves] + [mev(data.absolute_energy).max()]))
    ax.set_ylim(bottom=-0.25 * top, top=top * (1.5 + 0.4 * len(items)))  # room for the box

    errors = [getattr(p, "std", None) for p in props]
    if ensemble is not None:
        errors[0] = ensemble.std
    if band and ref is not None:
        _draw_band(ax, axr, items[0], ref, ensemble, data, grid, curves[0], mev)

    axr.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    ax.set_ylabel("E − E₀ [meV/atom]")
    axr.set_ylabel("fit − data [meV/atom]")
    axr.set_xlabel("V [Å³/atom]")
    ax.set_title(title if title is not None else (data.label or "E(V)"))
    fig.legend(  # below the axes: never over the values box or the curves
        *ax.get_legend_handles_labels(), loc="outside lower center", ncols=min(len(items) + 1, 3),
        frameon=False, fontsize="small",
    )  # fmt: skip
    if annotate:
        _values_box(ax, items, props, errors, e_ref)
    return fig


def _draw_models(ax, axr, items, props, data: EVData, grid, mev):
    """Each model's curve (its colour, style and z-order), its V0 mark and its residuals;
    returns the curves (absolute energies on `grid`) and their lines."""
    curves, lines = [], []
    v = data.volume
    for i, ((_, m), p) in enumerate(zip(items, props, strict=True)):
        color, style, marker = f"C{i}", _STYLES[i % 4], _MARKERS[i % len(_MARKERS)]
        z = 3 + i  # later models on top, thinner and dashed: a coinciding curve shows through
        e = _absolute(m, grid, data)
        (line,) = ax.plot(grid, mev(e), style, color=color, lw=max(2.4 - 0.6 * i, 1.0), zorder=z)
        curves.append(e)
        lines.append(line)
        if p is not None:
            ax.axvline(float(p.v0), color=color, ls=style, lw=0.8, alpha=0.7, zorder=1)
            ax.annotate(
                "V₀", xy=(float(p.v0), mev(p.e0)), xytext=(0, -16), textcoords="offset points",
                ha="center", va="top", color=color, fontsize="small", zorder=z + 20,
                arrowprops={"arrowstyle": "->", "color": color, "lw": 1.0},
            )  # fmt: skip
        res = 1e3 * (_absolute(m, v, data) - data.absolute_energy)
        axr.plot(v, res, marker=marker, ls=style, color=color, ms=5, mfc="none", zorder=z)
    return curves, lines


def _label_coinciding(items, curves, lines) -> None:
    """Legend labels, with a note where a curve lies on an earlier one."""
    for i, ((label, _), line) in enumerate(zip(items, lines, strict=True)):
        for j in range(i):
            gap = 1e3 * float(np.max(np.abs(curves[i] - curves[j])))
            if gap < _COINCIDE_MEV:
                label += f"\n(on {items[j][0]}: max |Δ| = {gap:.2g} meV)"
                break
        line.set_label(label)


def _draw_band(ax, axr, first, ref, ensemble, data: EVData, grid, curve, mev) -> None:
    """The first model's band: its ensemble's 16–84 % range, else ±1 standard error; in the
    residual panel around zero."""
    label, model = first
    if ensemble is not None:
        lo_hi = _ensemble_band(ensemble, model, grid)
        what = f"16–84 % of {int(ensemble.n_valid)} ensemble members"
    else:
        s = _stderr_band(model, data, ref, grid)
        lo_hi = None if s is None else (curve - s, curve + s)
        what = "±1 standard error"
    if lo_hi is None:
        return
    lo, hi = lo_hi
    ax.fill_between(grid, mev(lo), mev(hi), color="C0", alpha=0.25, lw=0, zorder=2)
    axr.fill_between(
        grid, 1e3 * (lo - curve), 1e3 * (hi - curve), color="C0", alpha=0.25,
        lw=0, zorder=1, label=f"{label}: {what}",
    )  # fmt: skip
    axr.legend(frameon=False, fontsize="small", loc="upper center")


def _values_box(ax, items, props, errors, e_ref: float) -> None:
    """A box listing E0 and each model's V0, B0, B0' with standard errors."""
    sd = lambda k: None if errors[0] is None else float(getattr(errors[0], k))
    rows = [
        f"E₀ = {_pm(e_ref, sd('e0'), 'eV/atom')} ({items[0][0]})"
        if props[0] is not None
        else "E₀: lowest data point (no minimum inside the data)"
    ]
    for (label, _), p, err in zip(items, props, errors, strict=True):
        if p is None:
            rows.append(f"{label}: no minimum inside the data")
            continue
        sd = lambda k, err=err: None if err is None else float(getattr(err, k))
        rows.append(
            (f"{label}:\n" if len(items) > 1 else "")
            + f"V₀ = {_pm(p.v0, sd('v0'), 'Å³/atom')}\n"
            + f"B₀ = {_pm(p.b0_gpa, sd('b0_gpa'), 'GPa')}\n"
            + f"B₀′ = {_pm(p.b1, sd('b1'))}"
        )
    ax.text(0.02, 0.98, "\n".join(rows), transform=ax.transAxes, va="top", ha="left",
            fontsize="small", zorder=40,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.8", "alpha": 0.9})  # fmt: skip


def pressure_volume(models, volume, *, data: EVData | None = None, title: str | None = None):
    """P(V) = −dE/dV in GPa for one or more models over `volume` (an array or `EVData`).

    Each model has its own colour and line style, so coinciding curves stay visible.

    Args:
        models: one model, a list, or `{label: model}`.
        volume: volumes [Å³/atom] to plot at; with `EVData`, its range, 300 points.
        data: optional `EVData` whose volumes are marked on the zero-pressure line.

    Example:
        >>> fig = pinnloss.eos.plot.pressure_volume(bm, data)
    """
    if isinstance(volume, EVData):
        data = volume if data is None else data
        v = volume.volume
        grid = np.linspace(v.min(), v.max(), 300)
    else:
        grid = np.asarray(volume, dtype=np.float64)
    fig = _figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    items = _models(models)
    for i, (label, m) in enumerate(items):
        p = EV_PER_A3_TO_GPA * np.asarray(pressure(m, jnp.asarray(grid)))
        ax.plot(grid, p, _STYLES[i % 4], color=f"C{i}", label=label, zorder=3 + len(items) - i)
    ax.axhline(0.0, color="0.6", lw=0.8)
    if data is not None:
        ax.plot(
            data.volume, np.zeros_like(data.volume), "|", color="k", ms=12, label="data volumes"
        )
    ax.set_xlabel("V [Å³/atom]")
    ax.set_ylabel("P [GPa]")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return fig
