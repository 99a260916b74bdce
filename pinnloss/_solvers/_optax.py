"""First order: any Optax gradient transformation as a solver."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._solution import RESULTS
from ._base import AbstractSolver, AbstractState, Problem, first_bad
from ._closures import closures_to_pytree

__all__ = ["OptaxSolver", "OptaxState"]


class OptaxState(AbstractState):
    opt_state: Any
    loss: Array
    values: Array
    grad: Any
    result: RESULTS
    initial_loss: Array
    failed_step: Array
    failed_term: Array


class OptaxSolver(AbstractSolver):
    """Minimise the objective with an Optax gradient transformation.

    Each step evaluates the loss and gradient once: the state carries them at the current
    iterate, so a step updates, then evaluates the new iterate. Any transformation works,
    including `optax.lbfgs` (its line search gets the value function through `update`'s
    extra arguments). The optimizer is stored as a pytree (see `_closures`): an identical
    optimizer — the same object, or a fresh `optax.adam(1e-3)` — reuses the compiled loop;
    one whose functions read globals that cannot be compared compiles again.

    Example:
        >>> solver = pl.OptaxSolver(optax.adam(1e-3))
        >>> sol = pl.solve(model, objective, solver, max_steps=5_000)
    """

    optimizer: Any

    def __init__(self, optimizer: optax.GradientTransformation):
        if isinstance(optimizer, OptaxSolver):
            optimizer = optimizer.optimizer
        elif not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
            raise ValueError(
                "OptaxSolver: optimizer must be an optax.GradientTransformation; "
                f"got {type(optimizer).__name__}."
            )
        else:
            optimizer = closures_to_pytree(optax.with_extra_args_support(optimizer))
        self.optimizer = optimizer

    def _evaluate(self, problem: Problem, y):
        return jax.value_and_grad(problem.values, has_aux=True)(y)

    def init(self, problem: Problem, y, state: Any | None = None) -> OptaxState:
        opt_state = state.opt_state if isinstance(state, OptaxState) else state
        if opt_state is None:
            opt_state = self.optimizer.init(y)
        (loss, vals), grad = self._evaluate(problem, y)
        finite = jnp.isfinite(loss)
        return OptaxState(
            opt_state=opt_state,
            loss=loss,
            values=vals,
            grad=grad,
            result=RESULTS.where(finite, RESULTS.running, RESULTS.nonfinite_start),
            initial_loss=loss,
            failed_step=jnp.where(finite, -1, 0).astype(jnp.int32),
            failed_term=jnp.where(finite, -1, first_bad(vals)).astype(jnp.int32),
        )

    def step(self, problem: Problem, y, state: OptaxState, i: Array):
        record = jnp.concatenate([state.values, state.loss[None]])
        updates, opt_state = self.optimizer.update(
            state.grad,
            state.opt_state,
            y,
            value=state.loss,
            grad=state.grad,
            value_fn=problem.loss,
        )
        y_new = eqx.apply_updates(y, updates)
        (loss, vals), grad = self._evaluate(problem, y_new)
        newly = jnp.isnan(loss) | jnp.isinf(loss)
        newly = newly & (state.failed_step < 0)
        new_state = OptaxState(
            opt_state=opt_state,
            loss=loss,
            values=vals,
            grad=grad,
            result=RESULTS.where(newly, RESULTS.nonfinite_loss, state.result),
            initial_loss=state.initial_loss,
            failed_step=jnp.where(newly, i + 1, state.failed_step).astype(jnp.int32),
            failed_term=jnp.where(newly, first_bad(vals), state.failed_term).astype(jnp.int32),
        )
        return y_new, new_state, record
