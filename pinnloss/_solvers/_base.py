"""The solver protocol: `Problem`, `AbstractState` and `AbstractSolver` (init / step / terminate).

A solver is an Equinox module with `init` / `step` / `terminate`, a typed state, and no
loop of its own: `pinnloss._driver` runs any solver in compiled chunks. The iterate `y` is
the model's trainable part (a pytree), so solvers never see the model's static part.
`init(problem, y, state)` returns the whole starting state: any choice that depends on the
problem's shapes (the residual sizes, the linear solve) is made there or in `step`, at
trace time, never by changing the solver after it is built.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._solution import RESULTS
from .._terms import AbstractTerm, Objective

__all__ = ["Problem", "AbstractSolver", "AbstractState", "term_jacobian"]


def term_jacobian(term: AbstractTerm, model_of: Callable[[Array], Any], x: Array) -> Array:
    r"""The Jacobian $\partial s/\partial x$ of one term's `scaled_residuals` $s$ in flat
    parameters `x`: the library's one residual-Jacobian builder.

    A pointwise term (`term.pointwise()` is not None) is differentiated one point at a time,
    `vmap` of each point's own `jax.jacrev` (32-51x cheaper than `jacrev` of the stacked
    vector on 2-D Poisson, benchmarks/jacobian.py); any other term by `jax.jacrev` (m
    reverse passes) or `jax.jacfwd` (n forward passes), whichever is fewer.

    Args:
        term: a square term.
        model_of: the model at flat parameters, `lambda x: eqx.combine(unravel(x), static)`.
        x: the flat parameters, shape `(n,)`.

    Returns:
        An `(m, n)` array, `m` the length of `term.scaled_residuals`.

    Example:
        >>> x, unravel = jax.flatten_util.ravel_pytree(params)
        >>> J = term_jacobian(pl.DataMSE(xs, ys), lambda z: eqx.combine(unravel(z), static), x)
    """
    n = x.size
    pw = term.pointwise()
    if pw is not None:
        fn, points = pw
        row = lambda z, p: jnp.ravel(fn(model_of(z), p))
        J = jax.vmap(jax.jacrev(row), in_axes=(None, 0))(x, points)
        return J.reshape(-1, n)
    blk = lambda z: jnp.ravel(term.scaled_residuals(model_of(z)))
    m = jax.eval_shape(blk, x).size
    return (jax.jacrev if m <= n else jax.jacfwd)(blk)(x).reshape(m, n)


class Problem(eqx.Module):
    r"""What a solver minimises: an objective and the fixed (non-trained) part of the model.

    Every method is a function of the iterate `y` (the model's trainable part) only. The
    objective is $L(y) = \sum_k w_k\,\|s_k(y)\|^2$ for square terms $s_k$ (each term's
    `scaled_residuals`), or $\sum_k w_k\,\ell_k(y)$ in general.

    Args:
        objective: a `pl.Objective` (use `pl.Objective.of(term)` for one term).
        static: the model's fixed part, from `eqx.partition(model, filter_spec)`.

    Example:
        >>> y, static = eqx.partition(model, eqx.is_inexact_array)
        >>> problem = pl.Problem(pl.Objective.of(pl.DataMSE(x, t)), static)
        >>> problem.loss(y)
    """

    objective: Objective
    static: Any

    def model(self, y):
        """The full model, `eqx.combine(y, static)`."""
        return eqx.combine(y, self.static)

    @property
    def names(self) -> tuple[str, ...]:
        """The terms' names, in the order of `values`."""
        return self.objective.names

    def values(self, y) -> tuple[Array, Array]:
        """(weighted objective, unweighted value of each term) at `y`."""
        vals = self.objective.term_values(self.model(y))
        return jnp.dot(self.objective.weights.astype(vals.dtype), vals), vals

    def loss(self, y) -> Array:
        """The weighted objective at `y`."""
        return self.values(y)[0]

    def residual_blocks(self, y) -> list[Array]:
        """Each term's flat `scaled_residuals` (unweighted): its sum of squares is its value."""
        model = self.model(y)
        return [jnp.ravel(t.scaled_residuals(model)) for t in self.objective.terms]

    def residuals(self, y) -> Array:
        """The unweighted residual blocks, concatenated."""
        return jnp.concatenate(self.residual_blocks(y))

    def sizes(self, y) -> tuple[int, ...]:
        """The length of each term's residual block (known at trace time)."""
        return tuple(int(b.size) for b in jax.eval_shape(self.residual_blocks, y))

    def jacobian(self, x: Array, unravel, sizes: tuple[int, ...] | None = None) -> Array:
        r"""The Jacobian of the unweighted stacked residuals in the flat parameters `x`,
        term by term (`term_jacobian`); `sizes` is accepted for older callers, unused."""
        model_of = lambda z: self.model(unravel(z))
        return jnp.concatenate([term_jacobian(t, model_of, x) for t in self.objective.terms])

    def sqrt_weights(self, sizes: tuple[int, ...], dtype) -> Array:
        r"""$\sqrt{w_k}$ repeated over term $k$'s residuals: `sqrt_weights * residuals` has the
        objective as its sum of squares."""
        w = jnp.sqrt(self.objective.weights.astype(dtype))
        return jnp.concatenate([jnp.full((s,), w[k], dtype) for k, s in enumerate(sizes)])

    def values_from_residuals(self, u: Array, sizes: tuple[int, ...]) -> tuple[Array, Array]:
        """(total, term values) from the unweighted stacked residuals `u`, at no model cost."""
        bounds = np.cumsum((0,) + tuple(sizes))
        vals = jnp.stack([jnp.sum(u[a:b] ** 2) for a, b in zip(bounds[:-1], bounds[1:])])
        return jnp.dot(self.objective.weights.astype(vals.dtype), vals), vals


class AbstractState(eqx.Module):
    """The base of every solver state: the fields the driver reads.

    A subclass declares these five fields (and any of its own) and is built by keyword:

    - `result`: a `pl.RESULTS` item; `RESULTS.running` while the solve goes on.
    - `loss`: the weighted objective at the current iterate.
    - `initial_loss`: the objective at the start.
    - `failed_step`, `failed_term`: int32, the step and the term index at which the loss
      became non-finite, -1 when nothing failed (`throw=True` names them).

    Example:
        >>> class GDState(pl.AbstractState):
        ...     grad: Any
        ...     result: pl.RESULTS
        ...     loss: Array
        ...     initial_loss: Array
        ...     failed_step: Array
        ...     failed_term: Array
    """

    result: eqx.AbstractVar[RESULTS]
    loss: eqx.AbstractVar[Array]
    initial_loss: eqx.AbstractVar[Array]
    failed_step: eqx.AbstractVar[Array]
    failed_term: eqx.AbstractVar[Array]


def first_bad(vals: Array) -> Array:
    """Index of the first non-finite entry of `vals`, -1 if none."""
    bad = ~jnp.isfinite(vals)
    return jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32)


class AbstractSolver(eqx.Module):
    """A solver: `init` a state, `step` it, until `terminate` says done.

    `init(problem, y, state)` returns the state at `y` (`state`, from a previous solve,
    continues it). `step(problem, y, state, i)` returns `(y, state, record)`: the next
    iterate, its state, and the record of step `i` — each term's unweighted value and the
    weighted total at the iterate *before* the step. A step that ends in a non-finite value
    must set `state.result`; the driver then keeps the previous iterate. The driver loops
    while `terminate` says not done (solvers whose `converges` is True).

    Class attributes:
        converges: whether the solver stops by itself (a tolerance); a solver that does
            not (plain Optax) runs its whole step budget.
        budget_result: the result when the step budget runs out while still running.
        needs_square: whether the objective must be a sum of squares.

    Example:
        >>> sol = pl.solve(model, objective, MySolver(), max_steps=100)

    See docs/guides/solvers.md for a 35-line solver run through `pl.solve`, `pl.sweep` and
    checkpoints.
    """

    converges: ClassVar[bool] = False
    budget_result: ClassVar[RESULTS] = RESULTS.successful
    needs_square: ClassVar[bool] = False

    @abc.abstractmethod
    def init(self, problem: Problem, y, state: Any | None = None) -> AbstractState:
        """The state at `y`; `state` (from a previous solve) continues it."""

    @abc.abstractmethod
    def step(self, problem: Problem, y, state, i: Array) -> tuple[Any, AbstractState, Array]:
        """One iteration."""

    def terminate(self, problem: Problem, y, state) -> tuple[Array, RESULTS]:
        """(done, result): done once the state holds any result but `running`."""
        return state.result != RESULTS.running, state.result

    def stats(self, state) -> dict[str, Array]:
        """Scalars reported on the `Solution` (`initial_loss`, `failed_step`, ...)."""
        return dict(
            initial_loss=state.initial_loss,
            failed_step=state.failed_step,
            failed_term=state.failed_term,
        )
