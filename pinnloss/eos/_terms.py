r"""Physics terms for $E(V)$ models, built from derivatives of the model (`_derivatives`).

Each is a squared term (`pl.AbstractSquareTerm`): its residuals are exposed to the
Levenberg–Marquardt solver and its value is the mean of their squares. Targets are arrays,
so sweeping or vmapping them never recompiles.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._derivatives import derivative, scalar_output
from .._terms import AbstractSquareTerm
from .._validate import as_data, check_positive, check_scalar

__all__ = ["ZeroPressure", "BulkModulus", "BulkModulusDerivative", "PressureData"]


def _dE(model, order: int) -> Callable:
    """$d^kE/dV^k$ of an E(V) model returning shape `()` or `(1,)` per volume."""
    return derivative(scalar_output(model, "eos", "one energy per volume"), order)


class ZeroPressure(AbstractSquareTerm):
    r"""Zero pressure at the equilibrium volume: $r = E'(V_0)$ [eV/Å³].

    Example:
        >>> term = ZeroPressure(v0=11.95)
        >>> term(model)   # E'(11.95)**2
    """

    v0: Array
    name: str = eqx.field(static=True, default="zero_pressure")

    def __init__(self, v0: ArrayLike, *, name: str = "zero_pressure"):
        self.v0 = check_scalar("ZeroPressure", "v0", v0, positive=True)
        self.name = name

    def residuals(self, model) -> Array:
        return jnp.reshape(_dE(model, 1)(self.v0), (1,))


class BulkModulus(AbstractSquareTerm):
    r"""The bulk modulus at $V_0$: $r = V_0 E''(V_0) - B_0$, with $B_0$ in eV/Å³.

    (1 eV/Å³ = 160.2177 GPa; divide a value in GPa by `EV_PER_A3_TO_GPA`.)

    Example:
        >>> BulkModulus(v0=11.95, b0=0.88)(model)
    """

    v0: Array
    b0: Array
    name: str = eqx.field(static=True, default="bulk_modulus")

    def __init__(self, v0: ArrayLike, b0: ArrayLike, *, name: str = "bulk_modulus"):
        self.v0 = check_scalar("BulkModulus", "v0", v0, positive=True)
        self.b0 = check_scalar("BulkModulus", "b0", b0, positive=True)
        self.name = name

    def residuals(self, model) -> Array:
        return jnp.reshape(self.v0 * _dE(model, 2)(self.v0) - self.b0, (1,))


class BulkModulusDerivative(AbstractSquareTerm):
    r"""The pressure derivative of the bulk modulus at $V_0$:
    $r = -1 - V_0 E'''(V_0)/E''(V_0) - B_0'$.

    Example:
        >>> BulkModulusDerivative(v0=11.95, b1=5.0)(model)
    """

    v0: Array
    b1: Array
    name: str = eqx.field(static=True, default="bulk_modulus_derivative")

    def __init__(self, v0: ArrayLike, b1: ArrayLike, *, name: str = "bulk_modulus_derivative"):
        self.v0 = check_scalar("BulkModulusDerivative", "v0", v0, positive=True)
        self.b1 = check_scalar("BulkModulusDerivative", "b1", b1)
        self.name = name

    def residuals(self, model) -> Array:
        v0 = self.v0
        return jnp.reshape(-1.0 - v0 * _dE(model, 3)(v0) / _dE(model, 2)(v0) - self.b1, (1,))


class PressureData(AbstractSquareTerm):
    r"""Measured pressures: $r_i = -E'(V_i) - P_i$, with $P_i$ in eV/Å³.

    Example:
        >>> PressureData(volume=[11.0, 12.0], pressure=[0.08, -0.01])(model)
    """

    volume: Array
    pressure: Array
    name: str = eqx.field(static=True, default="pressure_data")

    def __init__(self, volume: ArrayLike, pressure: ArrayLike, *, name: str = "pressure_data"):
        where = "PressureData"
        v = as_data(where, "volume", volume)
        p = as_data(where, "pressure", pressure)
        for nm, a in (("volume", v), ("pressure", p)):
            if a.ndim != 1:
                raise ValueError(
                    f"{where}: {nm} must be a non-empty 1-D array; got shape {a.shape}."
                )
        if v.shape != p.shape:
            raise ValueError(
                f"{where}: volume has shape {v.shape} but pressure has shape {p.shape}; "
                "give one pressure per volume."
            )
        v = check_positive(where, "volumes", volume, v)
        self.volume, self.pressure = v, p
        self.name = name

    def residuals(self, model) -> Array:
        return -jax.vmap(_dE(model, 1))(self.volume) - self.pressure
