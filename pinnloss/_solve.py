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
    time_limit: float | None = None,
    resample: str | None = None,
    resample_every: int | None = None,
    update: Callable[[int, Any, Any], Any] | None = None,
    key: Any = None,
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
            not (Optax) uses it all, which counts as success. A converging solver that runs
            out of it ends with `pl.RESULTS.max_steps_reached` and its last iterate: not a
            success (`.converged` is False) but not an error either (no raise). Optimistix
            raises on `max_steps` with `throw=True`; here a budget is a budget — a PINN or
            E(V) user who sets one means to spend it and read the result.
        state: a solver state to continue from (`solution.state`).
        filter_spec: which leaves are fitted (default: all inexact arrays).
        throw: raise for a failure only — a non-finite loss, gradient or Jacobian
            (`pl.NonFiniteLossError` naming the step and term); under `jax.jit` via
            `eqx.error_if`. A budget that runs out (`max_steps`, `time_limit`) never raises.
            With `throw=False` read `.result` / `.reason` for failures too.
        history: record each term per step (eagerly only the steps that ran are kept).
        progress: a tqdm bar between chunks.
        callback: `callback(step, loss, model)` between chunks; return True to stop.
        chunk_size: steps per compiled call (default: all, or ~10 chunks with a bar).
        checkpoint: a file path: save the state every `checkpoint_every` steps; called
            again with the same problem it resumes and ends as if it had never stopped;
            a file of another problem is refused.
        checkpoint_every: steps between checkpoints (default 1000).
        time_limit: seconds of wall time from the call, compilation included (it is time
            the user waits), checked on the host between compiled calls; when it runs out
            the solve ends with `pl.RESULTS.time_limit_reached` and its last iterate (not an
            error). Without `chunk_size` the calls are sized from the measured step time
            (about `time_limit / 20` each), so the overshoot is a fraction of the limit
            beyond the first call's compilation. Refused under `jax.jit` / `vmap`.
        resample: `"uniform"` or `"rad"`: draw new points for every term over a domain
            (`pl.Residual(fn, domain, n=...)`) every `resample_every` steps (default 100),
            at the same count, so the loop does not recompile; RAD (Wu et al. 2023) draws
            them where the residual is large. The solver's state restarts at the same
            iterate (damping / optimizer state kept). A run resumed from `checkpoint=`
            uses the term's first points until its next draw.
        resample_every: steps between draws.
        update: `update(step, model, objective) -> objective`, called between chunks (every
            `chunk_size` steps; default ~10 times a run), returning the objective with new
            arrays of the same shapes (weights, points): loss balancing such as
            `pl.balancing.ntk_weights` inside a second-order solve, without recompiling.
        key: the PRNG key of the draws (held-out points, resampling; default key 0).

    Terms over a domain report their held-out residual — the mean squared residual at
    fresh points — in `.stats["heldout/<name>"]` (at the returned model) and in
    `.history["heldout/<name>"]` (at the start and between chunks), and a solve whose
    loss ends far below it (held-out above 100× the training value and above 1e-8 of its
    starting value) warns `pl.OverfitWarning`: more points, or `resample=`.

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
        checkpoint_every=checkpoint_every, time_limit=time_limit, resample=resample,
        resample_every=resample_every, update=update, key=key,
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
