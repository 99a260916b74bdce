r"""A fit held to an independent $V_0$ (and $B_0$): `fit_constrained`, what `pinnloss fit --v0
[--b0]` does, so that a script gets the command line's answer."""

from __future__ import annotations

import numpy as np

from .._lsq import least_squares
from .._terms import DataMSE
from ._data import EV_PER_A3_TO_GPA, EVData
from ._forms import AbstractEOS, shift_energy
from ._terms import BulkModulus, ZeroPressure

__all__ = ["fit_constrained", "constrained_objective"]

#: Weight of the zero-pressure term against the energies' mean squared residual.
ZERO_PRESSURE_WEIGHT = 1e2
#: Weight of the bulk-modulus term.
BULK_MODULUS_WEIGHT = 1.0


def constrained_objective(data: EVData, v0, b0=None):
    r"""The objective of `fit_constrained`: the data plus soft constraints at `v0`.

    $$\frac1N\sum_i \big(E(V_i) - E_i\big)^2 + 10^2\,E'(V_0)^2
      + \big(V_0 E''(V_0) - B_0\big)^2,$$
    energies in the frame of `data.energy` (shifted), the last term only with `b0`
    [eV/Å³].

    Example:
        >>> obj = constrained_objective(data, 11.95, 141.0 / eos.EV_PER_A3_TO_GPA)
    """
    obj = DataMSE(data.volume, data.energy, name="energy")
    obj = obj + ZERO_PRESSURE_WEIGHT * ZeroPressure(v0=v0)
    if b0 is not None:
        obj = obj + BULK_MODULUS_WEIGHT * BulkModulus(v0=v0, b0=b0)
    return obj


def fit_constrained(model, data: EVData, *, v0, b0=None):
    r"""Refit `model` to `data` held to an independent equilibrium volume (and bulk modulus).

    Minimises `constrained_objective` (the data's mean squared residual plus
    $10^2 E'(V_0)^2$ and, with `b0`, $(V_0E''(V_0) - B_0)^2$) with `pl.least_squares`,
    from `model`: a classical form from `fit_eos` (absolute energies: it is moved into the
    data's shifted frame for the fit and back) or an `EnergyNet` (already in that frame).
    This is what `pinnloss fit --v0 V0 [--b0 B0]` does, so a script gets the same numbers.

    Args:
        model: the start: a form from `fit_eos(data, ...)`, or an `eos.EnergyNet(data, ...)`.
        data: the `EVData` fitted.
        v0: the equilibrium volume to hold [Å³/atom], inside the data's volumes.
        b0: optionally the bulk modulus at `v0` [eV/Å³] (GPa / `EV_PER_A3_TO_GPA`).

    Returns:
        The refined model, of the type of `model` (forms with absolute energies).

    Example:
        >>> bm = eos.fit_eos(data)
        >>> held = eos.fit_constrained(bm, data, v0=11.9522, b0=141.0 / eos.EV_PER_A3_TO_GPA)

    Reference: the physics terms of `ZeroPressure` and `BulkModulus` (P(V0) = 0,
    B0 = V0 E''(V0); F. Birch, Phys. Rev. 71, 809 (1947)).
    """
    where = "fit_constrained"
    if not isinstance(data, EVData):
        raise ValueError(f"{where}: data must be an EVData; got {type(data).__name__}.")
    lo, hi = float(data.volume.min()), float(data.volume.max())
    try:
        v0 = float(v0)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: v0 must be a number [Å³/atom]; got {v0!r}.") from None
    if not (np.isfinite(v0) and lo <= v0 <= hi):
        raise ValueError(
            f"{where}: v0 = {v0} Å³/atom lies outside the data's volumes [{lo:.6g}, {hi:.6g}]."
        )
    if b0 is not None and not (np.isfinite(float(b0)) and float(b0) > 0):
        raise ValueError(
            f"{where}: b0 must be a positive finite bulk modulus in eV/Å³ (GPa / "
            f"{EV_PER_A3_TO_GPA}); got {b0!r}."
        )
    obj = constrained_objective(data, v0, b0)
    if isinstance(model, AbstractEOS):
        if np.ndim(model.v0):
            raise ValueError(f"{where}: one form for one curve; got a batch {np.shape(model.v0)}.")
        start = shift_energy(model, -data.energy_shift)
        return shift_energy(least_squares(start, obj).model, data.energy_shift)
    if not getattr(model, "relative_to_data", False):
        raise ValueError(
            f"{where}: model must be a form from eos.fit_eos or an eos.EnergyNet built on the "
            f"data; got {type(model).__name__}."
        )
    return least_squares(model, obj).model
