"""Matplotlib figures of energy–volume fits: E(V) with residuals, and P(V).

Matplotlib is imported when a function is called, not when `pinnloss` is imported.
Each function returns a `matplotlib.figure.Figure`; save it with `fig.savefig("fit.png")`.
Generic figures (the loss history of any fit) live in `pinnloss.plot`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._data import EV_PER_A3_TO_GPA, EVData
from ._properties import energy_offset, pressure

__all__ = ["energy_volume", "pressure_volume"]


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(**kw)


def _absolute(model, v: np.ndarray, data) -> np.ndarray:
    """Absolute per-atom energies of `model` at `v` (adds the model's energy shift)."""
    e = np.asarray(jax.vmap(model)(jnp.asarray(v)), dtype=np.float64)
    return e + energy_offset(model, data)


def _models(models) -> list[tuple[str, object]]:
    if isinstance(models, Mapping):
        return list(models.items())
    if isinstance(models, Sequence) and not isinstance(models, str):
        return [(type(m).__name__, m) for m in models]
    return [(type(models).__name__, models)]


def energy_volume(data: EVData, models, *, title: str | None = None, pad: float = 0.03):
    """E(V) data with fitted curves (top) and residuals in meV/atom (bottom).

    Energies are plotted relative to `data.energy_shift` (the lowest data point), in eV/atom.

    Args:
        data: `eos.EVData`.
        models: one model, a list, or `{label: model}`; forms and nets alike.
        title: figure title (default: the data label).
        pad: extend the curve this fraction beyond the sampled volumes.

    Returns:
        A `matplotlib.figure.Figure` with two axes.

    Example:
        >>> fig = pinnloss.eos.plot.energy_volume(data, {"BM": bm, "net": net})
        >>> fig.savefig("fit.png", dpi=150)
    """
    fig = _figure(figsize=(6.0, 5.5), layout="constrained")
    ax, axr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    v, e = data.volume, data.energy
    span = v.max() - v.min()
    grid = np.linspace(v.min() - pad * span, v.max() + pad * span, 300)
    ax.plot(v, e, "o", color="k", label="data", zorder=3)
    for i, (label, m) in enumerate(_models(models)):
        color = f"C{i}"
        ax.plot(grid, _absolute(m, grid, data) - data.energy_shift, "-", color=color, label=label)
        res = 1e3 * (_absolute(m, v, data) - data.absolute_energy)
        axr.plot(v, res, "o-", color=color, ms=4, label=label)
    axr.axhline(0.0, color="0.6", lw=0.8)
    ax.set_ylabel(f"E − ({data.energy_shift:.6f}) [eV/atom]")
    axr.set_ylabel("fit − data [meV/atom]")
    axr.set_xlabel("V [Å³/atom]")
    ax.legend(frameon=False)
    ax.set_title(title if title is not None else (data.label or "E(V)"))
    return fig


def pressure_volume(models, volume, *, data: EVData | None = None, title: str | None = None):
    """P(V) = −dE/dV in GPa for one or more models over `volume` (an array or `EVData`).

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
    for i, (label, m) in enumerate(_models(models)):
        p = EV_PER_A3_TO_GPA * np.asarray(pressure(m, jnp.asarray(grid)))
        ax.plot(grid, p, color=f"C{i}", label=label)
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
