"""`pl.fit`: first-order fitting with an Optax optimizer (a thin entry over `pl.solve`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import optax

from ._solution import NonFiniteLossError, Solution
from ._solve import entry
from ._solvers._optax import OptaxSolver
from ._validate import check_int

__all__ = ["fit", "NonFiniteLossError"]


def fit(
    model,
    objective,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    chunk_size: int | None = None,
    progress: bool = True,
    opt_state: Any = None,
    filter_spec: Any = eqx.is_inexact_array,
    throw: bool = True,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    history: bool = True,
    callback: Callable[[int, float, Any], Any] | None = None,
    time_limit: float | None = None,
    resample: str | None = None,
    resample_every: int | None = None,
    update: Callable[[int, Any, Any], Any] | None = None,
    key: Any = None,
) -> Solution:
    """Minimise `objective(model)` with an Optax optimizer for `steps` steps.

    `pl.solve(model, objective, pl.OptaxSolver(optimizer), max_steps=steps)` with a
    progress bar by default. The loop runs in chunks of `chunk_size` steps (one compiled
    loop for all of them); with `progress=False` the whole fit is one compiled call, safe
    inside `jax.vmap` / `pl.sweep`. Works with any `optax.GradientTransformation`,
    including `optax.lbfgs`. The same optimizer object, or a fresh identical one
    (`optax.adam(1e-3)` written inline again), reuses the compiled loop.

    Args:
        model: an Equinox module (or any pytree) called as `model(x)`.
        objective: a term or weighted sum of terms.
        optimizer: an Optax gradient transformation.
        steps: number of optimizer steps.
        chunk_size: steps per compiled call (default: ~10 chunks of at least 500 steps).
        progress: show a tqdm progress bar.
        opt_state: an optimizer state to continue from (`result.opt_state`).
        filter_spec: which leaves are trained (default: all inexact arrays).
        throw: on a non-finite loss raise `pl.NonFiniteLossError` (naming the step and the
            term, carrying the last finite model); with `throw=False` return it with
            `.failed_step` set.
        checkpoint: a file path: save model, optimizer state and history every
            `checkpoint_every` steps (default 1000); called again with the same problem,
            the fit resumes and ends as if it had never stopped.
        checkpoint_every: steps between checkpoints.
        history: record each term per step (`history=False`: nothing per step).
        callback: `callback(step, loss, model)` between chunks; return True to stop.
        time_limit: seconds (compilation included), checked between compiled calls; the
            fit then ends with `pl.RESULTS.time_limit_reached` and its last model (not an
            error; `.converged` is False).
        resample, resample_every, update, key: draw new points for terms over a domain
            and update the objective between chunks; as in `pl.solve`.

    Returns:
        A `pl.Solution` with `.model`, `.history`, `.opt_state`, `.loss`, `.failed_step`.

    Example:
        >>> opt = optax.adam(1e-3)
        >>> result = pl.fit(model, pl.DataMSE(x, y), opt, steps=5_000)
    """
    steps = check_int("fit", "steps", steps, minimum=1)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            "fit: optimizer must be an optax.GradientTransformation; "
            f"got {type(optimizer).__name__}."
        )
    return entry(
        "fit", model, objective, OptaxSolver(optimizer), max_steps=steps, state=opt_state,
        filter_spec=filter_spec, throw=throw, history=history, progress=progress,
        callback=callback, chunk_size=chunk_size, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, time_limit=time_limit, resample=resample,
        resample_every=resample_every, update=update, key=key,
    )  # fmt: skip
