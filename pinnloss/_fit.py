"""First-order fitting: a compiled Optax loop (`lax.scan` in chunks) with per-term history."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from . import _optcache
from ._checks import check_int
from ._terms import Objective, _concrete

__all__ = ["fit", "FitResult", "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """A fit met a non-finite loss or gradient. `.model` is the last model with a finite loss."""

    def __init__(
        self, message: str, *, step: int, term: str | None, model: Any, result: Any = None
    ):
        super().__init__(message)
        self.step = step
        self.term = term
        self.model = model
        self.result = result


class FitResult(eqx.Module):
    """What `pl.fit` returns.

    Attributes:
        model: the fitted model (the last one with a finite loss if the fit failed).
        history: `{name: values}` of each unweighted term per step, plus `"total"`, the
            weighted objective; entry `i` is evaluated before update `i`.
        opt_state: the optimizer state, to continue the fit.
        loss: the objective at the returned model.
        failed_step: first step whose loss or gradient was non-finite, `-1` if none.
        failed_term: index of the first non-finite term at that step (`-1` if only the
            gradient was non-finite, or no failure).
    """

    model: Any
    history: dict[str, Array]
    opt_state: Any
    loss: Array
    failed_step: Array
    failed_term: Array


def _split(model, filter_spec):
    return eqx.partition(model, filter_spec)


def _make_value_fn(static, objective: Objective):
    def value_fn(params):
        model = eqx.combine(params, static)
        vals = objective.term_values(model)
        return jnp.dot(objective.weights.astype(vals.dtype), vals), vals

    return value_fn


@eqx.filter_jit
def _run_chunk(
    params,
    static,
    objective,
    optimizer,
    opt_state,
    good,
    failed,
    start,
    stop,
    chunk: int,
    freeze: bool,
):
    """`chunk` optimizer steps from step `start`, compiled as one `lax.scan`.

    `failed` is `[step, term]` of the first non-finite loss (`-1` while none). The lean
    path (`freeze=False`) does no per-step selects — a select over every parameter and
    optimizer-state leaf made each step ~2× slower on the E(V) net — and lets a failure
    run on: `fit` then replays the chunk with `freeze=True`, which stops updating at the
    failure or at step `stop` and keeps `good`, the last parameters with a finite loss.
    """
    value_fn = _make_value_fn(static, objective)
    scalar_fn = lambda p: value_fn(p)[0]

    def step(carry, i):
        params, opt_state, good, failed = carry
        (loss, vals), grads = jax.value_and_grad(value_fn, has_aux=True)(params)
        updates, new_state = optimizer.update(
            grads, opt_state, params, value=loss, grad=grads, value_fn=scalar_fn
        )
        new_params = eqx.apply_updates(params, updates)
        finite = jnp.isfinite(loss)
        bad = ~jnp.isfinite(vals)
        first_bad = jnp.where(jnp.any(bad), jnp.argmax(bad), -1)
        if freeze:
            active = (i < stop) & (failed[0] < 0)
            newly = active & ~finite
            proceed = active & finite
            sel = lambda a, b: jax.tree_util.tree_map(
                lambda u, v: jnp.where(proceed, u, v) if eqx.is_array(u) else u, a, b
            )
            new_params, new_state, good = (
                sel(new_params, params),
                sel(new_state, opt_state),
                sel(params, good),
            )
        else:
            newly = (failed[0] < 0) & ~finite
        failed = jnp.where(newly, jnp.stack([i, first_bad]).astype(failed.dtype), failed)
        return (new_params, new_state, good, failed), jnp.concatenate([vals, loss[None]])

    idx = start + jnp.arange(chunk)
    return jax.lax.scan(step, (params, opt_state, good, failed), idx)


@eqx.filter_jit
def _final_loss(params, static, objective):
    loss, vals = _make_value_fn(static, objective)(params)
    return loss, vals


def _chunk_size(steps: int, target: int) -> int:
    """The divisor of `steps` closest to `target`, so every chunk has one compiled length."""
    divisors = [d for d in range(1, int(math.isqrt(steps)) + 1) if steps % d == 0]
    divisors += [steps // d for d in divisors]
    return min(divisors, key=lambda d: (abs(math.log(d / target)), -d))


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
    checkpoint: Any = None,
    checkpoint_every: int | None = None,
) -> FitResult:
    """Minimise `objective(model)` with an Optax optimizer, compiled as `lax.scan` in chunks.

    The loop runs in chunks of `chunk_size` steps (one compilation for all of them); a
    tqdm bar shows the loss between chunks. With `progress=False` the whole fit is one
    compiled call, safe inside `jax.vmap` / `pl.sweep`. Works with any
    `optax.GradientTransformation`, including `optax.lbfgs` (which receives the value
    function through `update`'s extra arguments).

    An Optax transformation is a closure, hashed by identity under `jit`; a fresh but
    identical optimizer (`optax.adam(1e-3)` written inline again) is recognised by a
    structural fingerprint of its closures and reuses the compiled loop. Optimizers that
    capture arrays or schedules have no fingerprint: build those once and reuse them, or
    each call compiles the loop again (~1 s).

    Args:
        model: an Equinox module (or any pytree) called as `model(x)`.
        objective: a term or weighted sum of terms.
        optimizer: an Optax gradient transformation.
        steps: number of optimizer steps.
        chunk_size: steps per compiled chunk (default: ~10 chunks, at least 500 steps;
            rounded to a divisor of `steps` so one compilation serves every chunk).
        progress: show a tqdm progress bar.
        opt_state: an optimizer state to continue from (e.g. `result.opt_state`).
        filter_spec: which leaves are trained (default: all inexact arrays).
        throw: on a non-finite loss or gradient raise `NonFiniteLossError` (carrying the
            last finite model); with `throw=False` return it with `failed_step` set.
        checkpoint: a file path: save model, optimizer state and history every
            `checkpoint_every` steps (default 1000); called again with the same arguments,
            the fit resumes from the file and ends as if it had never stopped.
        checkpoint_every: steps between checkpoints.

    Returns:
        A `FitResult` with `.model`, `.history`, `.opt_state`, `.loss`.

    Example:
        >>> opt = optax.adam(1e-3)
        >>> result = pl.fit(model, pl.DataMSE(x, y), opt, steps=5_000)
    """
    objective = Objective.of(objective)
    steps = check_int("fit", "steps", steps, minimum=1)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            "fit: optimizer must be an optax.GradientTransformation; "
            f"got {type(optimizer).__name__}."
        )
    steps = int(steps)
    if checkpoint is not None:
        from ._checkpoint import fit_with_checkpoints

        return fit_with_checkpoints(
            fit,
            model,
            objective,
            optimizer,
            steps=steps,
            path=checkpoint,
            every=checkpoint_every,
            opt_state=opt_state,
            filter_spec=filter_spec,
            throw=throw,
            chunk_size=chunk_size,
            progress=progress,
        )
    params, static = _split(model, filter_spec)
    if not jax.tree_util.tree_leaves(params):
        raise ValueError("fit: the model has no trainable (inexact array) parameters.")
    opt = optax.with_extra_args_support(_optcache.canonical(optimizer))
    if opt_state is None:
        opt_state = opt.init(params)

    traced = not (_concrete(params) and _concrete(objective) and _concrete(opt_state))
    if chunk_size is None:
        # ~10 chunks of at least 500 steps: each chunk costs a host sync and a dispatch
        chunk_size = steps if (not progress or traced) else max(500, math.ceil(steps / 10))
    chunk_size = check_int("fit", "chunk_size", chunk_size, minimum=1)
    chunk = _chunk_size(steps, min(chunk_size, steps))
    n_chunks = steps // chunk

    bar = None
    if progress and not traced:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="pl.fit", leave=False)

    # traced (inside vmap / jit / pl.sweep): freeze on failure, no Python-side replay
    freeze = traced
    failed = jnp.full((2,), -1, jnp.int32)
    good = params
    total = jnp.asarray(steps)
    # start states of the chunks, by index; a replay needs only the chunk holding step
    # j - 1 (the failing chunk or the one before), so two are kept
    starts: dict = {}
    first = (params, opt_state)
    records = []
    for c in range(n_chunks):
        starts[c] = (params, opt_state)
        starts.pop(c - 2, None)
        (params, opt_state, good, failed), rec = _run_chunk(
            params,
            static,
            objective,
            opt,
            opt_state,
            good,
            failed,
            jnp.asarray(c * chunk),
            total,
            chunk,
            freeze,
        )
        records.append(rec)
        if bar is not None:
            bar.update(chunk)
            bar.set_postfix(loss=f"{float(rec[-1, -1]):.3e}")
        if not traced and int(failed[0]) >= 0:
            break
    if bar is not None:
        bar.close()

    history_arr = jnp.concatenate(records, axis=0)
    if history_arr.shape[0] < steps:
        pad = jnp.full(
            (steps - history_arr.shape[0], history_arr.shape[1]), jnp.nan, history_arr.dtype
        )
        history_arr = jnp.concatenate([history_arr, pad])

    loss, vals = _final_loss(params, static, objective)
    if traced:
        # the returned model must have a finite loss: fall back to the last finite one
        last_bad = ~jnp.isfinite(loss) & (failed[0] < 0)
        fb = ~jnp.isfinite(vals)
        failed = jnp.where(
            last_bad, jnp.stack([total, jnp.where(jnp.any(fb), jnp.argmax(fb), -1)]), failed
        ).astype(jnp.int32)
        is_failed = failed[0] >= 0
        params = jax.tree_util.tree_map(
            lambda g, p: jnp.where(is_failed, g, p) if eqx.is_array(p) else p, good, params
        )
        loss = jnp.where(is_failed, _final_loss(params, static, objective)[0], loss)
    else:
        j = int(failed[0])
        if j < 0 and not np.isfinite(float(loss)):
            fb = ~np.isfinite(np.asarray(vals))
            j = steps
            failed = jnp.asarray([steps, int(np.argmax(fb)) if fb.any() else -1], jnp.int32)
        if j >= 0:
            history_arr = history_arr.at[j + 1 :].set(jnp.nan)
            if j == 0:
                params, opt_state = first
            else:
                # replay the chunk holding step j - 1, stopping at step j: good = params_{j-1}
                c = (j - 1) // chunk
                p0, s0 = starts[c]
                (params, opt_state, good, _), _ = _run_chunk(
                    p0,
                    static,
                    objective,
                    opt,
                    s0,
                    p0,
                    jnp.full((2,), -1, jnp.int32),
                    jnp.asarray(c * chunk),
                    jnp.asarray(j),
                    chunk,
                    True,
                )
                params = good
            loss, _ = _final_loss(params, static, objective)

    history = {n: history_arr[:, i] for i, n in enumerate(objective.names)}
    history["total"] = history_arr[:, -1]
    result = FitResult(eqx.combine(params, static), history, opt_state, loss, failed[0], failed[1])
    if throw:
        if not traced:
            if int(failed[0]) >= 0:
                step_no, ti = int(failed[0]), int(failed[1])
                term = objective.names[ti] if ti >= 0 else None
                what = f"term {term!r} is non-finite" if term else "the loss is non-finite"
                where = (
                    "the initial model has a non-finite loss; it is on this error's .model"
                    if step_no == 0
                    else "the last model with a finite loss is on this error's .model"
                )
                raise NonFiniteLossError(
                    f"fit: the loss became non-finite at step {step_no} ({what}); {where} "
                    "(lower the learning rate or check the data).",
                    step=step_no,
                    term=term,
                    model=result.model,
                    result=result,
                )
        else:
            result = eqx.error_if(
                result,
                failed[0] >= 0,
                "fit: the loss became non-finite (use throw=False to inspect)",
            )
    return result
