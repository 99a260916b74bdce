r"""Geodesic acceleration for Levenberg–Marquardt (Transtrum & Sethna 2012): a second-order
correction of the step along the residuals' curvature.

With the velocity $\delta$ (the LM step) and the second directional derivative
$r'' = \partial^2_t\,r(x + t\delta)|_{t=0}$, the acceleration is
$a = -(J^\top J + \mu I)^{-1}J^\top r''$ and the step $\delta + \tfrac12 a$, taken only when
$2\|a\| \le \alpha\|\delta\|$ (else the plain $\delta$).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

__all__ = ["AbstractGeodesic", "GeodesicFD", "GeodesicExact"]


class AbstractGeodesic(eqx.Module):
    r"""A geodesic acceleration: how $r''$ along the step is found; the step it gives.

    Args (of every strategy):
        max_ratio: $\alpha$, the largest $2\|a\|/\|\delta\|$ for which the acceleration is
            used (Transtrum & Sethna recommend 0.75).
    """

    max_ratio: eqx.AbstractVar[float]

    @abc.abstractmethod
    def second_derivative(
        self, resid: Callable[[Array], Array], x: Array, r: Array, delta: Array, Jd: Array
    ) -> Array:
        r"""$r''$: the second derivative of `resid` at `x` along `delta` (`r = resid(x)`,
        `Jd` $= J\delta$)."""

    def step(self, resid, x, r, delta, Jd, solve: Callable[[Array], Array]) -> Array:
        r"""The accelerated step $\delta + \tfrac12 a$, or $\delta$ when $a$ is too large;
        `solve(b)` is $(J^\top J + \mu I)^{-1}J^\top b$."""
        acc = -solve(self.second_derivative(resid, x, r, delta, Jd))
        ok = 2 * jnp.linalg.norm(acc) <= self.max_ratio * jnp.linalg.norm(delta)
        return jnp.where(ok, delta + 0.5 * acc, delta)


class GeodesicFD(AbstractGeodesic):
    r"""$r''$ from a finite difference along $\delta$: cheap to compile (the default).

    $r'' \approx \frac{2}{h}\left(\frac{r(x + h\delta) - r(x)}{h} - J\delta\right)$.

    Args:
        h: the step of the difference (0.1, as Transtrum & Sethna recommend).
        max_ratio: as for `pl.AbstractGeodesic` (default 0.75).

    Example:
        >>> lm = pl.LevenbergMarquardt(geodesic=pl.GeodesicFD(h=0.05))

    Reference: M. K. Transtrum & J. P. Sethna, "Improvements to the Levenberg-Marquardt
    algorithm for nonlinear least-squares minimization", arXiv:1201.5885 (2012).
    """

    h: float | Array = eqx.field(converter=jnp.asarray, default=0.1)
    max_ratio: float = 0.75

    def second_derivative(self, resid, x, r, delta, Jd):
        h = self.h
        return (2.0 / h) * ((resid(x + h * delta) - r) / h - Jd)


class GeodesicExact(AbstractGeodesic):
    r"""$r''$ exactly, by nested `jax.jvp` (about twice the compile time of `GeodesicFD`).

    Args:
        max_ratio: as for `pl.AbstractGeodesic` (default 0.75).

    Example:
        >>> lm = pl.LevenbergMarquardt(geodesic=pl.GeodesicExact())

    Reference: M. K. Transtrum & J. P. Sethna, arXiv:1201.5885 (2012).
    """

    max_ratio: float = 0.75

    def second_derivative(self, resid, x, r, delta, Jd):
        return jax.jvp(lambda y: jax.jvp(resid, (y,), (delta,))[1], (x,), (delta,))[1]
