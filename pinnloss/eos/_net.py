"""A small neural E(V) whose input and output scaling come from the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray

from ._data import EVData, check_precision

__all__ = ["EnergyNet"]


class EnergyNet(eqx.Module):
    r"""An MLP $E(V)$ with data-derived input and output scaling.

    $$E(V) = \bar E + s_E\,\mathrm{MLP}\Big(\frac{V - \bar V}{s_V}\Big),$$
    with $\bar V, s_V$ the centre and half-width of the sampled volumes and $\bar E, s_E$
    the mean and half-range of the (shifted) energies. Unscaled inputs (V ≈ 10–100 Å³) and
    outputs make the MSE gradients lopsided and the Jacobian badly conditioned; scaled,
    every layer sees O(1) numbers. The scaling constants are wrapped in
    `jax.lax.stop_gradient`, so solvers do not move them.

    The net predicts `EVData.energy`, i.e. energies relative to `data.energy_shift` (so it
    works in float32 too); `properties(net, data)` and the plots add the shift of the data
    it was built on back to report absolute energies. Keeping the shift out of the model
    means nets for different crystals share one compiled solver.

    Fitted to the data alone (or with `ZeroPressure`/`BulkModulus` taken from a
    Birch–Murnaghan fit of the same points) an MLP interpolates every point and has nothing
    to say between them; use it with independent physics (a V0/B0 from elsewhere, pressure
    data). For a flexible fit of E(V) data alone use `fit_eos(data, form="net")`, a smoothing
    spline whose smoothness is chosen by cross-validation (`FlexibleEOS`).

    Args:
        data: the `EVData` that sets the scaling.
        width: hidden units per layer. depth: hidden layers.
        key: a `jax.random.key`.
        activation: a smooth activation (default `tanh`, so $E'$, $E''$, $E'''$ exist).

    Example:
        >>> net = EnergyNet(data, key=jax.random.key(0))
        >>> objective = pl.DataMSE(data.volume, data.energy) + eos.ZeroPressure(v0=ref.v0)
        >>> net = pl.least_squares(net, objective).model
    """

    mlp: eqx.nn.MLP
    v_center: Array
    v_scale: Array
    e_center: Array
    e_scale: Array
    #: predictions are relative to the `EVData.energy_shift` of the data (see `properties`)
    relative_to_data: ClassVar[bool] = True

    def __init__(
        self,
        data: EVData,
        *,
        width: int = 32,
        depth: int = 2,
        key: PRNGKeyArray,
        activation: Callable = jax.nn.tanh,
    ):
        if not isinstance(data, EVData):
            raise ValueError(
                f"EnergyNet: data must be an EVData (eos.EVData or eos.load); got "
                f"{type(data).__name__}."
            )
        if int(width) < 1 or int(depth) < 1:
            raise ValueError(f"EnergyNet: width and depth must be >= 1; got {width}, {depth}.")
        check_precision("EnergyNet", data)
        v, e = data.volume, data.energy
        self.v_center = jnp.asarray(0.5 * (v.max() + v.min()))
        self.v_scale = jnp.asarray(0.5 * (v.max() - v.min()))
        self.e_center = jnp.asarray(float(np.mean(e)))
        spread = 0.5 * float(np.ptp(e))
        self.e_scale = jnp.asarray(spread if spread > 0 else 1.0)
        self.mlp = eqx.nn.MLP(
            "scalar", "scalar", int(width), int(depth), activation=activation, key=key
        )

    def __call__(self, v: ArrayLike) -> Array:
        vc, vs, ec, es = jax.lax.stop_gradient(
            (self.v_center, self.v_scale, self.e_center, self.e_scale)
        )
        v = jnp.asarray(v)
        if v.shape != ():
            raise ValueError(
                f"EnergyNet: call on one scalar volume (vmap for many); got shape {v.shape}."
            )
        return ec + es * self.mlp((v - vc) / vs)
