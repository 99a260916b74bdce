"""The solver interface: a problem (objective + the model's fixed part) and `AbstractSolver`.

A solver is an Equinox module with `init` / `step` / `terminate`, a typed state, and no
loop of its own: `pinnloss._driver` runs any solver in compiled chunks. The iterate `y` is
the model's trainable part (a pytree), so solvers never see the model's static part.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._solution import RESULTS
from .._terms import Objective

__all__ = ["Problem", "AbstractSolver", "AbstractState"]


class Problem(eqx.Module):
    """An objective and the fixed (non-trained) part of the model: a function of `y` only."""

    objective: Objective
    static: Any

    def model(self, y):
        return eqx.combine(y, self.static)

    @property
    def names(self) -> tuple[str, ...]:
        return self.objective.names

    def values(self, y) -> tuple[Array, Array]:
        """(weighted objective, unweighted value of each term) at `y`."""
        vals = self.objective.term_values(self.model(y))
        return jnp.dot(self.objective.weights.astype(vals.dtype), vals), vals

    def loss(self, y) -> Array:
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

    def jacobian(self, x: Array, unravel, sizes: tuple[int, ...]) -> Array:
        r"""The Jacobian of the unweighted stacked residuals with respect to the flat
        parameters `x`, assembled term by term: a pointwise term by `vmap` of each point's
        own Jacobian (one pass per point), any other by `jax.jacrev` (m passes) or
        `jax.jacfwd` (n passes), whichever is fewer."""
        n = x.size
        blocks = []
        for term, m_k in zip(self.objective.terms, sizes):
            pw = term.pointwise()
            if pw is not None:
                fn, points = pw
                row = lambda z, p, fn=fn: jnp.ravel(fn(self.model(unravel(z)), p))
                J = jax.vmap(jax.jacrev(row), in_axes=(None, 0))(x, points).reshape(m_k, n)
            else:
                blk = lambda z, term=term: jnp.ravel(term.scaled_residuals(self.model(unravel(z))))
                J = (jax.jacrev if m_k <= n else jax.jacfwd)(blk)(x)
            blocks.append(J)
        return jnp.concatenate(blocks)

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
    """Fields every solver state has; the driver reads them."""

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
    """A solver: `init` a state, `step` it, `terminate` when its state says so.

    `step(problem, y, state, i)` returns `(y, state, record)`: the next iterate, its
    state, and the record of step `i` — each term's unweighted value and the weighted
    total at the iterate *before* the step. A step that ends in a non-finite result must
    leave `state.result` set; the driver then keeps the previous iterate.

    Class attributes:
        converges: whether the solver stops by itself (a tolerance); a solver that does
            not (plain Optax) runs its whole step budget.
        budget_result: the result when the step budget runs out while still running.
        needs_square: whether the objective must be a sum of squares.
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

    def specialise(self, problem: Problem, y) -> AbstractSolver:
        """This solver with any shape-dependent choice made (e.g. the linear solve)."""
        return self

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
