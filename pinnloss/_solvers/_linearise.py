r"""Linearisation of a least-squares problem: its weighted residuals as a function of flat
parameters, their products with $J$ and $J^\top$, and the damped solve.

`Residuals` is the problem seen from a flat vector $x$: $r(x) = \sqrt{w}\odot u(x)$, with
$u$ the unweighted stacked residuals, so $\|r\|^2$ is the objective. A linear-solve
strategy (`AbstractLinearSolve`) turns it into a `Linearisation` at $x$: $v \mapsto Jv$,
$u \mapsto J^\top u$, $(\mu, b) \mapsto (J^\top J + \mu I)^{-1}J^\top b$. `Linearised` is what
every least-squares step starts from.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from ._base import Problem

__all__ = ["Linearisation", "AbstractLinearSolve", "Residuals", "Linearised"]


class Linearisation(eqx.Module):
    r"""The residuals linearised at an iterate: what a linear-solve strategy returns.

    Args:
        jvp: $v \mapsto Jv$.
        vjp: $u \mapsto J^\top u$.
        solve: $(\mu, b) \mapsto (J^\top J + \mu I)^{-1} J^\top b$.
        mu0: $() \mapsto 10^{-3}\max\operatorname{diag}(J^\top J)$ (or an estimate), the
            scale a damping rule starts from.
        finite: whether $J$ is finite.

    Example:
        >>> J = jac(x)
        >>> lin = pl.Linearisation(jvp=lambda v: J @ v, vjp=lambda u: u @ J,
        ...     solve=solve, mu0=lambda: 1e-3 * jnp.max(jnp.sum(J**2, 0)),
        ...     finite=jnp.all(jnp.isfinite(J)))
    """

    jvp: Callable[[Array], Array]
    vjp: Callable[[Array], Array]
    solve: Callable[[Array, Array], Array]
    mu0: Callable[[], Array]
    finite: Array


class AbstractLinearSolve(eqx.Module):
    r"""How a least-squares step solves $(J^\top J + \mu I)\delta = J^\top b$.

    `linearise(resid, jac, x, cache, stale)` returns `(Linearisation, cache)`: `resid` is
    $x \mapsto r(x)$, `jac(x)` forms the dense $J$, `cache` is what the strategy kept from
    the last call (recomputed only if `stale`: between rejected steps $J$ does not change),
    shaped `cache_shape(m, n)`.

    Class attribute `dense`: whether the cache is the dense $J$.

    Example:
        >>> lm = pl.LevenbergMarquardt(linear_solve=pl.DenseDual())
    """

    dense: ClassVar[bool] = True

    @abc.abstractmethod
    def linearise(
        self, resid, jac, x: Array, cache: Array, stale: Array
    ) -> tuple[Linearisation, Array]:
        """Linearise `resid` at `x`; `jac(x)` forms the dense Jacobian; `cache` is the last
        one (recomputed only if `stale`)."""

    def cache_shape(self, m: int, n: int) -> tuple[int, ...]:
        """The shape of the array kept between steps for an m×n Jacobian."""
        return (m, n) if self.dense else (0,)

    def resolve(self, m: int, n: int, itemsize: int) -> AbstractLinearSolve:
        """The concrete strategy for an m×n Jacobian (itself, except for `AutoLinearSolve`)."""
        return self


class Residuals(eqx.Module):
    r"""A problem's weighted stacked residuals $r(x) = \sqrt{w}\odot u(x)$ in flat parameters.

    Build it with `Residuals.of(problem, y)`, which also returns the flat `x` of `y`.
    """

    problem: Problem
    unravel: Callable
    sqrt_w: Array
    sizes: tuple[int, ...] = eqx.field(static=True)

    @staticmethod
    def of(problem: Problem, y) -> tuple[Array, Residuals]:
        """`(x, residuals)`: `y` flattened, and the residual function of the flat vector."""
        x, unravel = ravel_pytree(y)
        sizes = problem.sizes(y)
        return x, Residuals(problem, unravel, problem.sqrt_weights(sizes, x.dtype), sizes)

    def __call__(self, x: Array) -> Array:
        return self.sqrt_w * self.unweighted(x)

    def unweighted(self, x: Array) -> Array:
        """$u(x)$: each term's `scaled_residuals`, stacked, without the term weights."""
        return self.problem.residuals(self.unravel(x))

    def jacobian(self, x: Array) -> Array:
        """The dense Jacobian of $r$ at `x`, (m, n)."""
        return self.sqrt_w[:, None] * self.problem.jacobian(x, self.unravel)

    def values(self, u: Array) -> tuple[Array, Array]:
        """(total, term values) from unweighted residuals `u`."""
        return self.problem.values_from_residuals(u, self.sizes)

    @property
    def m(self) -> int:
        return sum(self.sizes)


class Linearised(eqx.Module):
    r"""Where a least-squares step starts: the iterate, its residuals and their linearisation.

    Fields: `resid` (the `Residuals`), `x` (the flat iterate), `u` (unweighted residuals at
    `x`), `loss` ($\|r\|^2$), `lin` (the `Linearisation`), `cache` (the strategy's kept
    array), `g` ($J^\top r$).
    """

    resid: Residuals
    x: Array
    u: Array
    loss: Array
    lin: Linearisation
    cache: Array
    g: Array

    @property
    def r(self) -> Array:
        """The weighted residuals at `x`."""
        return self.resid.sqrt_w * self.u

    @property
    def jac_ok(self) -> Array:
        """Whether $J$ and $J^\top r$ are finite."""
        return self.lin.finite & jnp.all(jnp.isfinite(self.g))

    @property
    def record(self) -> Array:
        """The history row of the step: each term's value, then the total."""
        total, vals = self.resid.values(self.u)
        return jnp.concatenate([vals, total[None]])

    def unravel(self, x: Array):
        return self.resid.unravel(x)
