"""`pl.solve`: run any solver on an objective (the general entry point under `fit` and
`least_squares`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import equinox as eqx

from ._driver import run
from ._solution import Solution
from ._solvers._base import AbstractSolver
from ._terms import Objective
from ._validate import check_int

__all__ = ["solve", "check_objective"]


def check_objective(where: str, objective, solver: AbstractSolver) -> Objective:
    """`objective` as an `Objective`, refusing non-square terms for a least-squares solver."""
    objective = Objective.of(objective)
    bad = objective.non_square if solver.needs_square else []
    if bad:
        raise ValueError(
            f"{where}: term(s) {bad} are not means of squared residuals, so "
            "Levenberg–Marquardt does not apply; minimise this objective with "
            "pl.fit(model, objective, optax.adam(...), steps=...) instead."
        )
    return objective


def solve(
    model,
    objective,
    solver: AbstractSolver,
    *,
    max_steps: int,
    state: Any = None,
    filter_spec: Any = eqx.is_inexact_array,
    throw: bool = True,
    history: bool = True,
    progress: bool = False,
    callback: Callable[[int, float, Any], Any] | None = None,
    chunk_size: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
) -> Solution:
    r"""Minimise `objective(model)` with `solver`, compiled as one loop run in chunks.

    The loop is a `lax.while_loop` under `eqx.filter_jit` that stops as soon as the
    solver's state holds a result; `chunk_size` steps run per compiled call, and between
    calls the host updates the progress bar, calls `callback`, records history and writes
    checkpoints. Inside `jax.jit`, `jax.vmap` or `pl.sweep` the whole solve is one call.

    Args:
        model: an Equinox module (or pytree); its `filter_spec` leaves are fitted.
        objective: a term or a weighted sum of terms.
        solver: `pl.OptaxSolver(optax.adam(1e-3))`, `pl.LevenbergMarquardt()`, or any
            `pl.AbstractSolver`.
        max_steps: the step budget. A solver that converges stops earlier; one that does
            not (Optax) uses it all, which counts as success.
        state: a solver state to continue from (`solution.state`).
        filter_spec: which leaves are fitted (default: all inexact arrays).
        throw: raise unless the result is a success (`pl.SolveError`, or
            `pl.NonFiniteLossError` naming the step and term); under `jax.jit` via
            `eqx.error_if`. With `throw=False` read `.result` / `.reason`.
        history: record each term per step (`False` saves `max_steps × terms` floats).
        progress: a tqdm bar between chunks.
        callback: `callback(step, loss, model)` between chunks; return True to stop.
        chunk_size: steps per compiled call (default: all, or ~10 chunks with a bar).
        checkpoint: a file path: save the state every `checkpoint_every` steps; called
            again with the same problem it resumes and ends as if it had never stopped;
            a file of another problem is refused.
        checkpoint_every: steps between checkpoints (default 1000).

    Returns:
        A `pl.Solution` (`.model`, `.loss`, `.steps`, `.result`, `.history`, `.state`).

    Example:
        >>> sol = pl.solve(model, objective, pl.LevenbergMarquardt(), max_steps=100)
        >>> sol.loss, sol.reason
    """
    if not isinstance(solver, AbstractSolver):
        raise ValueError(
            f"solve: solver must be a pl.AbstractSolver (e.g. pl.OptaxSolver(optax.adam(1e-3)) "
            f"or pl.LevenbergMarquardt()); got {type(solver).__name__}."
        )
    return entry(
        "solve", model, objective, solver, max_steps=max_steps, state=state,
        filter_spec=filter_spec, throw=throw, history=history, progress=progress,
        callback=callback, chunk_size=chunk_size, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
    )  # fmt: skip


def entry(
    where: str,
    model,
    objective,
    solver: AbstractSolver,
    *,
    max_steps: int,
    chunk_size: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    **host: Any,
) -> Solution:
    """What `solve`, `fit` and `least_squares` share: check the arguments, then run."""
    objective = check_objective(where, objective, solver)
    max_steps = check_int(where, "max_steps", max_steps, minimum=0)
    if chunk_size is not None:
        chunk_size = check_int(where, "chunk_size", chunk_size, minimum=1)
    if checkpoint_every is not None:
        checkpoint_every = check_int(where, "checkpoint_every", checkpoint_every, minimum=1)
    elif checkpoint is not None:
        checkpoint_every = 1000
    return run(
        solver, model, objective, max_steps=max_steps, chunk_size=chunk_size,
        checkpoint=checkpoint, checkpoint_every=checkpoint_every, where=where, **host,
    )  # fmt: skip
