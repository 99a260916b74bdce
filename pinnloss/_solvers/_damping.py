r"""Damping strategies of Levenberg–Marquardt: how $\mu$ in $(J^\top J + \mu I)\delta = -J^\top r$
starts, moves with the gain ratio $\rho$ of each step, and when it says the solve has stalled."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

__all__ = ["AbstractDamping", "Nielsen", "Multiplicative"]


class AbstractDamping(eqx.Module):
    r"""A damping rule: the start of $\mu$, its update after each step, and its limit.

    The rule's state is `(mu, nu)`: $\mu$ itself and one more scalar the rule may use (Nielsen's
    growth factor $\nu$); `LevenbergMarquardt` keeps both in its state.

    Args (of every rule):
        accept_ratio: a step is accepted when its gain ratio $\rho$ (actual over predicted
            decrease) exceeds this.
        stall: the solve has stalled once $\mu > $ `stall` $/ \varepsilon$ (machine epsilon
            of the dtype): no step of that damping can change the parameters.
    """

    accept_ratio: eqx.AbstractVar[float]
    stall: eqx.AbstractVar[float]

    @abc.abstractmethod
    def init(self, mu0: Array) -> tuple[Array, Array]:
        r"""`(mu, nu)` at the start, from `mu0` ($10^{-3}\max\operatorname{diag}J^\top J$)."""

    @abc.abstractmethod
    def update(self, mu: Array, nu: Array, rho: Array, accept: Array) -> tuple[Array, Array]:
        r"""`(mu, nu)` after a step with gain ratio `rho`, accepted or not."""

    def accepts(self, rho: Array) -> Array:
        """Whether a step with gain ratio `rho` is taken."""
        return rho > self.accept_ratio

    def stalled(self, mu: Array) -> Array:
        """Whether `mu` is past any use."""
        return mu > self.stall / jnp.finfo(mu.dtype).eps


def _start(mu0: Array, nu0: float) -> tuple[Array, Array]:
    mu = jnp.where(mu0 > 0, mu0, 1.0)  # a zero Jacobian (or a zero estimate of it)
    return mu, jnp.asarray(nu0, mu.dtype)


class Nielsen(AbstractDamping):
    r"""Nielsen's damping update (1999), the default.

    On success $\mu \leftarrow \mu\max(f_{\min}, 1-(2\rho-1)^3)$ and $\nu \leftarrow \nu_0$;
    on failure $\mu \leftarrow \mu\nu$, $\nu \leftarrow 2\nu$. A smooth update: near
    $\rho = 1$ the damping falls by $f_{\min}$, near $\rho = \tfrac12$ it stays. On the badly
    conditioned E(V) nets ($\operatorname{cond} JJ^\top \approx 10^{11}$–$10^{13}$) it went
    below loss 1e-10 where the textbook rule (`Multiplicative`) stalled near 1e-8.

    Args:
        min_factor: $f_{\min}$, the largest decrease of $\mu$ in one step (default 1/3).
        nu0: $\nu_0$, the growth after the first rejection (default 2).
        accept_ratio: accept a step when $\rho$ exceeds this (default 1e-4).
        stall: stalled once $\mu > $ `stall`$/\varepsilon$ (default 1e30).

    Example:
        >>> lm = pl.LevenbergMarquardt(damping=pl.Nielsen(min_factor=0.1))

    Reference: H. B. Nielsen, "Damping parameter in Marquardt's method", IMM-REP-1999-05,
    Technical University of Denmark (1999).
    """

    min_factor: float = 1.0 / 3.0
    nu0: float = 2.0
    accept_ratio: float = 1e-4
    stall: float = 1e30

    def __check_init__(self):
        f, nu0 = self.min_factor, self.nu0
        if isinstance(f, int | float) and not 0 < f < 1:
            raise ValueError(f"Nielsen: min_factor must be in (0, 1); got {f!r}.")
        if isinstance(nu0, int | float) and not nu0 > 1:
            raise ValueError(f"Nielsen: nu0 must be above 1; got {nu0!r}.")

    def init(self, mu0):
        return _start(mu0, self.nu0)

    def update(self, mu, nu, rho, accept):
        mu_acc = mu * jnp.maximum(self.min_factor, 1.0 - (2.0 * rho - 1.0) ** 3)
        return jnp.where(accept, mu_acc, mu * nu), jnp.where(accept, self.nu0, 2.0 * nu)


class Multiplicative(AbstractDamping):
    r"""The textbook rule: $\mu \leftarrow \mu\cdot$`down` on success, $\mu\cdot$`up` on failure.

    Args:
        down: the factor on an accepted step (default 0.3).
        up: the factor on a rejected step (default 10).
        accept_ratio, stall: as for `pl.Nielsen`.

    Example:
        >>> lm = pl.LevenbergMarquardt(damping=pl.Multiplicative(down=0.1, up=10.0))

    Reference: D. Marquardt, "An algorithm for least-squares estimation of nonlinear
    parameters", J. SIAM 11 (1963) 431-441.
    """

    down: float = 0.3
    up: float = 10.0
    accept_ratio: float = 1e-4
    stall: float = 1e30

    def __check_init__(self):
        concrete = isinstance(self.down, int | float) and isinstance(self.up, int | float)
        if concrete and not (0 < self.down < 1 < self.up):
            raise ValueError(
                f"Multiplicative: need 0 < down < 1 < up; got down={self.down!r}, up={self.up!r}."
            )

    def init(self, mu0):
        return _start(mu0, 1.0)

    def update(self, mu, nu, rho, accept):
        return jnp.where(accept, mu * self.down, mu * self.up), nu
