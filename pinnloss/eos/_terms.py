r"""Physics terms for $E(V)$ models, built from `jax.grad` of the model.

Each is a squared term (`pl.AbstractSquareTerm`): its residuals are exposed to the
Levenberg–Marquardt solver and its value is the mean of their squares. Targets are arrays,
so sweeping or vmapping them never recompiles.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._terms import AbstractSquareTerm
from ._properties import _d1, _d2, _d3

__all__ = ["ZeroPressure", "BulkModulus", "BulkModulusDerivative", "PressureData"]


def _scalar(where: str, name: str, x, *, positive: bool = False) -> Array:
    if isinstance(x, jax.core.Tracer):
        return x
    a = jnp.asarray(x)
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        a = a.astype(jnp.result_type(float))
    if a.shape != ():
        raise ValueError(f"{where}: {name} must be a scalar; got shape {a.shape}.")
    v = float(a)
    if not np.isfinite(v):
        raise ValueError(f"{where}: {name} must be finite; got {v}.")
    if positive and v <= 0:
        raise ValueError(f"{where}: {name} must be positive; got {v}.")
    return a


class ZeroPressure(AbstractSquareTerm):
    r"""Zero pressure at the equilibrium volume: $r = E'(V_0)$ [eV/Å³].

    Example:
        >>> term = ZeroPressure(v0=11.95)
        >>> term(model)   # E'(11.95)**2
    """

    v0: Array
    name: str = eqx.field(static=True, default="zero_pressure")

    def __init__(self, v0: ArrayLike, *, name: str = "zero_pressure"):
        self.v0 = _scalar("ZeroPressure", "v0", v0, positive=True)
        self.name = name

    def residuals(self, model) -> Array:
        return jnp.reshape(_d1(model)(self.v0), (1,))


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
        self.v0 = _scalar("BulkModulus", "v0", v0, positive=True)
        self.b0 = _scalar("BulkModulus", "b0", b0, positive=True)
        self.name = name

    def residuals(self, model) -> Array:
        return jnp.reshape(self.v0 * _d2(model)(self.v0) - self.b0, (1,))


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
        self.v0 = _scalar("BulkModulusDerivative", "v0", v0, positive=True)
        self.b1 = _scalar("BulkModulusDerivative", "b1", b1)
        self.name = name

    def residuals(self, model) -> Array:
        v0 = self.v0
        return jnp.reshape(-1.0 - v0 * _d3(model)(v0) / _d2(model)(v0) - self.b1, (1,))


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
        arrays = []
        for nm, x in (("volume", volume), ("pressure", pressure)):
            if isinstance(x, jax.core.Tracer):
                arrays.append(x)
                continue
            a = np.asarray(x, dtype=np.float64)
            if a.ndim != 1 or a.size == 0:
                raise ValueError(
                    f"{where}: {nm} must be a non-empty 1-D array; got shape {a.shape}."
                )
            if not np.isfinite(a).all():
                raise ValueError(f"{where}: {nm} contains NaN or inf.")
            arrays.append(jnp.asarray(a))
        v, p = arrays
        if v.shape != p.shape:
            raise ValueError(
                f"{where}: volume has shape {v.shape} but pressure has shape {p.shape}; "
                "give one pressure per volume."
            )
        if not isinstance(v, jax.core.Tracer) and bool((v <= 0).any()):
            raise ValueError(f"{where}: volumes must be positive.")
        self.volume, self.pressure = v, p
        self.name = name

    def residuals(self, model) -> Array:
        return -jax.vmap(_d1(model))(self.volume) - self.pressure
