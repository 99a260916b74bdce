"""Checkpoints: save and resume long fits and sweeps (Equinox serialisation, no pickle).

A checkpoint file holds a small header (format version, steps or fits done, sizes) and
then the arrays of a pytree, written by `eqx.tree_serialise_leaves`. Reading needs a
template of the same structure ("like"), so nothing but numbers is ever loaded from disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_int

__all__ = ["save_checkpoint", "load_checkpoint"]

_VERSION = 1
_KIND_TREE, _KIND_FIT, _KIND_SWEEP = 0, 1, 2


def _header(kind: int, done: int, size: int) -> np.ndarray:
    return np.asarray([_VERSION, kind, done, size], np.int64)


def _write(path, header: np.ndarray, tree) -> None:
    """Write atomically: a crash while saving leaves the previous checkpoint intact."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        eqx.tree_serialise_leaves(f, header)
        eqx.tree_serialise_leaves(f, tree)
    os.replace(tmp, path)


def _read_header(f, path, where: str, kind: int) -> np.ndarray:
    try:
        header = np.asarray(eqx.tree_deserialise_leaves(f, np.zeros(4, np.int64)))
    except Exception as e:  # noqa: BLE001 - any parse failure is a bad file
        raise ValueError(f"{where}: {path!r} is not a pinnloss checkpoint ({e}).") from None
    if int(header[0]) != _VERSION or int(header[1]) != kind:
        raise ValueError(
            f"{where}: {path!r} is not a pinnloss checkpoint of this kind "
            f"(header {header.tolist()}, expected version {_VERSION}, kind {kind})."
        )
    return header


def _read_tree(f, like, path, where: str):
    try:
        return eqx.tree_deserialise_leaves(f, like)
    except Exception as e:  # noqa: BLE001 - shape/structure mismatch from equinox/numpy
        raise ValueError(
            f"{where}: {path!r} does not match the given structure: it was saved from a "
            f"different model, optimizer or problem ({type(e).__name__}: {e})."
        ) from None


def save_checkpoint(path: str | os.PathLike, tree: Any) -> None:
    """Save the arrays of a pytree (a model, an optimizer state, a result) to `path`.

    Uses `eqx.tree_serialise_leaves` (no pickle); non-array leaves are not stored, so
    loading needs a template of the same structure. The file is replaced atomically.

    Example:
        >>> pl.save_checkpoint("model.eqx", result.model)
        >>> model = pl.load_checkpoint("model.eqx", like=model)
    """
    _write(path, _header(_KIND_TREE, 0, 0), tree)


def load_checkpoint(path: str | os.PathLike, like: Any) -> Any:
    """Load a pytree saved by `save_checkpoint`; `like` gives its structure, shapes and dtypes.

    Raises ValueError if the file is missing, not a checkpoint, or of another structure.
    """
    where = "load_checkpoint"
    if not os.path.exists(path):
        raise ValueError(f"{where}: no checkpoint at {os.fspath(path)!r}.")
    with open(path, "rb") as f:
        _read_header(f, path, where, _KIND_TREE)
        return _read_tree(f, like, path, where)


# ---------------------------------------------------------------------------- fits


def fit_with_checkpoints(
    fit: Callable,
    model,
    objective,
    optimizer,
    *,
    steps: int,
    path,
    every: int | None,
    opt_state=None,
    filter_spec=eqx.is_inexact_array,
    throw: bool = True,
    **kwargs,
):
    """`pl.fit` in segments of `every` steps, saving model, optimizer state and history after each.

    If `path` holds a checkpoint of this fit, it resumes from it: the result is the same
    as a fit that never stopped (the optimizer state, step count included, is restored).
    """
    from ._fit import FitResult
    from ._terms import Objective

    where = "fit"
    objective = Objective.of(objective)
    if every is None:
        every = max(1, min(steps, 1000))
    every = check_int(where, "checkpoint_every", every, minimum=1)
    params, _ = eqx.partition(model, filter_spec)
    if opt_state is None:
        opt_state = optimizer.init(params)
    n_cols = len(objective.names) + 1
    done = 0
    history = np.zeros((0, n_cols), np.float64)  # stored in float64 whatever the fit's dtype
    if os.path.exists(path):
        with open(path, "rb") as f:
            header = _read_header(f, path, where, _KIND_FIT)
            done, n_saved = int(header[2]), int(header[3])
            if n_saved != n_cols:
                raise ValueError(
                    f"{where}: checkpoint {os.fspath(path)!r} records {n_saved - 1} term(s) but "
                    f"the objective has {n_cols - 1} ({objective.names})."
                )
            if done > steps:
                raise ValueError(
                    f"{where}: checkpoint {os.fspath(path)!r} is at step {done}, "
                    f"past steps={steps}."
                )
            like = (model, opt_state, np.zeros((done, n_cols), np.float64))
            model, opt_state, hist = _read_tree(f, like, path, where)
            history = np.asarray(hist)
    result = None
    while done < steps:
        n = min(every, steps - done)
        result = fit(
            model,
            objective,
            optimizer,
            steps=n,
            opt_state=opt_state,
            filter_spec=filter_spec,
            throw=throw,
            **kwargs,
        )
        seg = np.stack(
            [np.asarray(result.history[k], np.float64) for k in (*objective.names, "total")], 1
        )
        if int(result.failed_step) >= 0:  # throw=False: report the failure on the whole fit
            history = np.concatenate([history, seg], 0)
            return _fit_result(
                FitResult, result, history, objective, failed_step=done + int(result.failed_step)
            )
        model, opt_state = result.model, result.opt_state
        history = np.concatenate([history, seg], 0)
        done += n
        _write(path, _header(_KIND_FIT, done, n_cols), (model, opt_state, history))
    if result is None:  # resumed a finished fit: evaluate the loss, run nothing
        from ._fit import _final_loss

        p, static = eqx.partition(model, filter_spec)
        loss, _ = _final_loss(p, static, objective)
        return FitResult(
            model, _history(history, objective), opt_state, loss, jnp.asarray(-1), jnp.asarray(-1)
        )
    return _fit_result(FitResult, result, history, objective, failed_step=-1)


def _history(history, objective):
    h = {n: jnp.asarray(history[:, i]) for i, n in enumerate(objective.names)}
    h["total"] = jnp.asarray(history[:, -1])
    return h


def _fit_result(cls, result, history, objective, failed_step: int):
    return cls(
        result.model,
        _history(history, objective),
        result.opt_state,
        result.loss,
        jnp.asarray(failed_step),
        result.failed_term,
    )


# ---------------------------------------------------------------------------- sweeps


def sweep_with_checkpoints(
    sweep: Callable, fn, args, *, path, every: int | None, in_axes, **kwargs
):
    """`pl.sweep` in blocks of `every` fits, saving the finished outputs after each block.

    Resuming skips the blocks already done; each block is the same compiled call, so the
    result equals an uninterrupted sweep.
    """
    from ._sweep import _normalise_in_axes

    where = "sweep"
    axes = _normalise_in_axes(in_axes, len(args))
    sizes = {
        x.shape[0]
        for a, ax in zip(args, axes)
        if ax == 0
        for x in jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array))
        if x.ndim
    }
    if len(sizes) != 1:
        return sweep(fn, *args, in_axes=in_axes, **kwargs)  # let sweep raise its error
    n = sizes.pop()
    every = n if every is None else every
    every = check_int(where, "checkpoint_every", every, minimum=1)
    every = min(every, n)

    def block(start):
        stop = min(start + every, n)
        idx = jnp.clip(jnp.arange(start, start + every), 0, n - 1)  # same size every block
        sub = tuple(
            jax.tree_util.tree_map(lambda x: x[idx] if eqx.is_array(x) else x, a) if ax == 0 else a
            for a, ax in zip(args, axes)
        )
        return stop, sub

    # the full output's structure, for the template and the storage
    _, sub0 = block(0)
    shape = eqx.filter_eval_shape(lambda *s: sweep(fn, *s, in_axes=in_axes, **kwargs), *sub0)
    dyn_shape, static_out = eqx.partition(shape, lambda x: isinstance(x, jax.ShapeDtypeStruct))
    store = jax.tree_util.tree_map(lambda s: np.zeros((n, *s.shape[1:]), s.dtype), dyn_shape)
    done = 0
    if os.path.exists(path):
        with open(path, "rb") as f:
            header = _read_header(f, path, where, _KIND_SWEEP)
            done, n_saved = int(header[2]), int(header[3])
            if n_saved != n:
                raise ValueError(
                    f"{where}: checkpoint {os.fspath(path)!r} holds a sweep of {n_saved} fits; "
                    f"this one has {n}."
                )
            store = jax.tree_util.tree_map(np.asarray, _read_tree(f, store, path, where))
    while done < n:
        stop, sub = block(done)
        out = eqx.filter(sweep(fn, *sub, in_axes=in_axes, **kwargs), eqx.is_array)
        k = stop - done

        def put(s, o, done=done, k=k):
            s = np.array(s)
            s[done : done + k] = np.asarray(o)[:k]
            return s

        store = jax.tree_util.tree_map(put, store, out)
        done = stop
        _write(path, _header(_KIND_SWEEP, done, n), store)
    return eqx.combine(jax.tree_util.tree_map(jnp.asarray, store), static_out)
