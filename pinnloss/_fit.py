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


def _all_finite(tree) -> Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


@eqx.filter_jit
def _run_chunk(
    params,
    static,
    objective,
    optimizer,
    opt_state,
    good,
    failed_step,
    failed_term,
    start,
    total_steps,
    chunk: int,
):
    """`chunk` optimizer steps as one `lax.scan`; steps at or past `total_steps` are no-ops."""
    value_fn = _make_value_fn(static, objective)
    scalar_fn = lambda p: value_fn(p)[0]

    def step(carry, i):
        params, opt_state, good, failed_step, failed_term = carry
        (loss, vals), grads = jax.value_and_grad(value_fn, has_aux=True)(params)
        finite = jnp.isfinite(loss) & _all_finite(grads)
        active = (i < total_steps) & (failed_step < 0)
        updates, new_state = optimizer.update(
            grads, opt_state, params, value=loss, grad=grads, value_fn=scalar_fn
        )
        new_params = eqx.apply_updates(params, updates)
        proceed = active & finite
        sel = lambda a, b: jax.tree_util.tree_map(
            lambda u, v: jnp.where(proceed, u, v) if eqx.is_array(u) else u, a, b
        )
        newly_failed = active & ~finite
        bad_terms = ~jnp.isfinite(vals)
        first_bad = jnp.where(jnp.any(bad_terms), jnp.argmax(bad_terms), -1)
        carry = (
            sel(new_params, params),
            sel(new_state, opt_state),
            sel(params, good),
            jnp.where(newly_failed, i, failed_step),
            jnp.where(newly_failed, first_bad, failed_term),
        )
        nan = jnp.asarray(jnp.nan, vals.dtype)
        record = jnp.where(active, jnp.concatenate([vals, loss[None]]), nan)
        return carry, record

    idx = start + jnp.arange(chunk)
    carry, records = jax.lax.scan(step, (params, opt_state, good, failed_step, failed_term), idx)
    return carry, records


@eqx.filter_jit
def _final_loss(params, static, objective):
    loss, vals = _make_value_fn(static, objective)(params)
    return loss, vals


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
) -> FitResult:
    """Minimise `objective(model)` with an Optax optimizer, compiled as `lax.scan` in chunks.

    The loop runs in chunks of `chunk_size` steps (one compilation for all of them); a
    tqdm bar shows the loss between chunks. With `progress=False` the whole fit is one
    compiled call, safe inside `jax.vmap` / `pl.sweep`. Works with any
    `optax.GradientTransformation`, including `optax.lbfgs` (which receives the value
    function through `update`'s extra arguments).

    Build the optimizer once and reuse it: an Optax transformation is a closure, hashed
    by identity, so a fresh `optax.adam(1e-3)` on each call compiles the loop again.

    Args:
        model: an Equinox module (or any pytree) called as `model(x)`.
        objective: a term or weighted sum of terms.
        optimizer: an Optax gradient transformation.
        steps: number of optimizer steps.
        chunk_size: steps per compiled chunk (default: ~20 chunks, at least 100 steps).
        progress: show a tqdm progress bar.
        opt_state: an optimizer state to continue from (e.g. `result.opt_state`).
        filter_spec: which leaves are trained (default: all inexact arrays).
        throw: on a non-finite loss or gradient raise `NonFiniteLossError` (carrying the
            last finite model); with `throw=False` return it with `failed_step` set.

    Returns:
        A `FitResult` with `.model`, `.history`, `.opt_state`, `.loss`.

    Example:
        >>> opt = optax.adam(1e-3)
        >>> result = pl.fit(model, pl.DataMSE(x, y), opt, steps=5_000)
    """
    objective = Objective.of(objective)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"fit: steps must be a positive integer; got {steps!r}.")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            "fit: optimizer must be an optax.GradientTransformation; "
            f"got {type(optimizer).__name__}."
        )
    steps = int(steps)
    params, static = _split(model, filter_spec)
    if not jax.tree_util.tree_leaves(params):
        raise ValueError("fit: the model has no trainable (inexact array) parameters.")
    opt = optax.with_extra_args_support(optimizer)
    if opt_state is None:
        opt_state = opt.init(params)

    traced = not (_concrete(params) and _concrete(objective))
    if chunk_size is None:
        chunk_size = steps if (not progress or traced) else max(100, math.ceil(steps / 20))
    chunk_size = int(min(chunk_size, steps))
    n_chunks = math.ceil(steps / chunk_size)

    bar = None
    if progress and not traced:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="pl.fit", leave=False)

    good = params
    failed_step = jnp.asarray(-1)
    failed_term = jnp.asarray(-1)
    total = jnp.asarray(steps)
    records = []
    for c in range(n_chunks):
        start = jnp.asarray(c * chunk_size)
        (params, opt_state, good, failed_step, failed_term), rec = _run_chunk(
            params,
            static,
            objective,
            opt,
            opt_state,
            good,
            failed_step,
            failed_term,
            start,
            total,
            chunk_size,
        )
        records.append(rec)
        if bar is not None:
            done = min((c + 1) * chunk_size, steps)
            bar.update(done - bar.n)
            last = np.asarray(rec[min(chunk_size, steps - c * chunk_size) - 1, -1])
            bar.set_postfix(loss=f"{float(last):.3e}")
            if int(failed_step) >= 0:
                break
    if bar is not None:
        bar.close()

    history_arr = jnp.concatenate(records, axis=0)[:steps]
    history = {n: history_arr[:, i] for i, n in enumerate(objective.names)}
    history["total"] = history_arr[:, -1]

    loss, vals = _final_loss(params, static, objective)
    # the returned model must have a finite loss: if the last update broke it, report that
    last_bad = ~jnp.isfinite(loss) & (failed_step < 0)
    failed_term = jnp.where(
        last_bad,
        jnp.where(jnp.any(~jnp.isfinite(vals)), jnp.argmax(~jnp.isfinite(vals)), -1),
        failed_term,
    )
    failed_step = jnp.where(last_bad, steps, failed_step)
    failed = failed_step >= 0
    params = jax.tree_util.tree_map(
        lambda g, p: jnp.where(failed, g, p) if eqx.is_array(p) else p, good, params
    )
    loss = jnp.where(failed, _final_loss(good, static, objective)[0], loss)
    result = FitResult(
        eqx.combine(params, static), history, opt_state, loss, failed_step, failed_term
    )
    if throw:
        if _concrete(failed_step):
            if int(failed_step) >= 0:
                ti = int(failed_term)
                term = objective.names[ti] if ti >= 0 else None
                what = f"term {term!r} is non-finite" if term else "the gradient is non-finite"
                raise NonFiniteLossError(
                    f"fit: the loss became non-finite at step {int(failed_step)} ({what}); "
                    "the last model with a finite loss is on this error's .model "
                    "(lower the learning rate or check the data).",
                    step=int(failed_step),
                    term=term,
                    model=result.model,
                    result=result,
                )
        else:
            result = eqx.error_if(
                result, failed, "fit: the loss became non-finite (use throw=False to inspect)"
            )
    return result
