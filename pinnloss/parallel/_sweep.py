"""Many fits at once: `pl.sweep` vmaps a function over a batch and shards it over devices."""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .._driver import collect_failures, describe_failure
from .._solution import _NOT_FAILURE, RESULTS, SolveError, is_failure
from .._validate import check_int, is_concrete
from ._checkpoint import (
    callable_fingerprint,
    fingerprint,
    read_raw,
    tree_from_bytes,
    write_checkpoint,
)
from ._distributed import gather, spans_processes, to_global

__all__ = ["sweep"]

_AXIS = "fits"
_CPU_CHUNK = 16  # fits per vmapped chunk on a CPU device (benchmarks/run.py)
# index of this call's fit 0 in the user's sweep (checkpoint blocks, a process's share),
# so a failure names the fit the user passed
_OFFSET = contextvars.ContextVar("pinnloss_sweep_offset", default=0)


@contextlib.contextmanager
def _offset(k: int):
    token = _OFFSET.set(_OFFSET.get() + k)
    try:
        yield
    finally:
        _OFFSET.reset(token)


def _normalise_in_axes(in_axes, n_args: int) -> tuple:
    if in_axes is None or isinstance(in_axes, int):
        in_axes = (in_axes,) * n_args
    if not isinstance(in_axes, (tuple, list)) or len(in_axes) != n_args:
        raise ValueError(
            f"sweep: in_axes must be 0, None, or a tuple with one entry per argument "
            f"({n_args} argument(s)); got {in_axes!r}."
        )
    for a in in_axes:
        if a not in (0, None):
            raise ValueError(
                f"sweep: each in_axes entry must be 0 (batched over the leading axis) or None "
                f"(shared by every fit); got {a!r}."
            )
    return tuple(in_axes)


def _batch_sizes(args, axes) -> set[int]:
    """The leading sizes of the batched (axis-0) array leaves of `args` (one when they agree)."""
    return {
        x.shape[0]
        for a, ax in zip(args, axes)
        if ax == 0
        for x in jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array))
        if x.ndim
    }


def _pad_rows(x, pad: int):
    """Pad the leading axis by repeating the last row: padded fits run on valid inputs."""
    if pad == 0:
        return x
    return jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0)


@eqx.filter_jit
def _run(fn, static, batched, shared, mesh, chunk, n_local):
    captured = []
    solves = []

    def one(b, sh):
        # a solve inside fn with throw=True reports here instead of raising, so the error
        # can name the fit, the step and the term (see `_raise_failures`)
        with collect_failures() as found:
            out = fn(*eqx.combine(b, sh, static))
        dyn, st = eqx.partition(out, eqx.is_array)
        captured.append(st)
        solves[:] = [(f["where"], f["names"]) for f in found]
        arrays = [{k: f[k] for k in ("code", "failed_step", "failed_term", "steps")} for f in found]
        return dyn, arrays

    def local(batched, sh):
        if chunk is None or chunk >= n_local:
            return jax.vmap(one, in_axes=(0, None))(batched, sh)
        return jax.lax.map(lambda b: one(b, sh), batched, batch_size=chunk)

    smapped = jax.shard_map(
        local, mesh=mesh, in_specs=(P(_AXIS), P()), out_specs=P(_AXIS), check_vma=False
    )
    dyn_out, outcomes = smapped(batched, shared)
    return eqx.combine(dyn_out, captured[0]), (tuple(solves), outcomes)


def _raise_failures(solves, outcomes, n: int, result) -> None:
    """Raise one `SolveError` naming the failed fits (index, step, term), if any failed."""
    lines, failed = [], set()
    base = _OFFSET.get()
    for (where, names), o in zip(solves, outcomes):
        code = np.asarray(o["code"])[:n]
        ok = np.isin(code, _SUCCESS_CODES)  # on the host: no eager JAX ops per call
        for k in np.flatnonzero(~ok):
            failed.add(int(k) + base)
            if len(lines) < 5:
                lines.append(
                    describe_failure(
                        f"fit {k + base}",
                        names,
                        int(code[k]),
                        int(np.asarray(o["failed_step"])[k]),
                        int(np.asarray(o["failed_term"])[k]),
                        int(np.asarray(o["steps"])[k]),
                    ).replace(": ", f": {where}: ", 1)
                )
    if failed:
        more = f"\n  ... and {len(failed) - len(lines)} more" if len(failed) > len(lines) else ""
        err = SolveError(
            f"sweep: {len(failed)} of {n} fits{f' from fit {base}' if base else ''} failed "
            "(pass throw=False to the solver inside fn to keep every result and read "
            ".result / .failed_step):\n  " + "\n  ".join(lines) + more,
            result=result,
        )
        err.failed = sorted(failed)
        raise err


# ends that are not failures: successes and budgets that ran out (max_steps, time_limit)
_SUCCESS_CODES = np.asarray([int(r._value) for r in _NOT_FAILURE])


def _as_result(code):
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(RESULTS.successful), [code])


def sweep(
    fn: Callable,
    *args: Any,
    in_axes: int | None | Sequence[int | None] = 0,
    chunk_size: int | str | None = "auto",
    devices: Sequence[jax.Device] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
) -> Any:
    r"""Run `fn` over the leading axis of its arguments in one compiled call, on all devices.

    $\text{out}_i = \text{fn}(\text{args}_i)$ for $i = 0, \dots, B-1$: `fn` is vmapped over
    the batch axis and the batch is sharded over a 1-D mesh of `devices` (all devices JAX
    sees by default; `jax.sharding.NamedSharding`). The batch is padded to a multiple of the
    device count (by repeating the last entry) and the padding is trimmed from the result.
    `pl.fit(..., progress=False)` and `pl.least_squares` work inside `fn`.

    With `chunk_size`, each device runs its share in sequential chunks of that many fits
    (`jax.lax.map` with `batch_size`), which keeps a device's working set in cache.

    A CPU is one JAX device, and one device runs these small ops on one core: set
    `XLA_FLAGS=--xla_force_host_platform_device_count=<cores>` before importing jax to
    shard a sweep over all cores (measured 1.4-1.8x on 2 cores; benchmarks/run.py).

    Across processes (after `pl.distributed_initialize()` / `jax.distributed.initialize`;
    `python -m pinnloss.launch -n 2 script.py`, or one task per host under SLURM): every
    process calls `sweep` with the same arguments; the mesh spans the devices of all
    processes, each process places and computes only its own devices' fits, and every
    process receives the whole result (gathered with `multihost_utils.process_allgather`),
    equal to a one-process sweep. With `checkpoint`, each process runs its own contiguous
    share in its own file `<checkpoint>.rank<p>of<P>` and resumes it independently.

    Args:
        fn: a function of the arguments for ONE fit; returns any pytree (arrays get a
            leading batch axis; non-array leaves, e.g. a model's activation, are kept).
        *args: pytrees; every array leaf of a batched argument has the batch on axis 0.
            Non-array leaves (functions, strings) are static and shared.
        in_axes: 0 (batched) or None (shared by every fit), for all arguments or one entry
            per argument — the same meaning as in `jax.vmap`.
        chunk_size: fits vmapped at once on each device; None for all of them. The
            default `"auto"` is 16 on a CPU (measured on 2 cores, 1024 fits: chunks of
            8/16/32/64/128 ran at 948/1003/911/802/695 fits/s; one vmap of 1024 spills
            the cache, up to 1.5x slower on a loaded machine) and None on accelerators.
        devices: the devices to shard over (default `jax.devices()`: all processes'
            devices once the multi-process runtime is started).
        checkpoint: a file path: run the batch in blocks of `checkpoint_every` fits and
            save the finished outputs after each block; called again with the same
            arguments it resumes after the last saved block (Equinox serialisation).
        checkpoint_every: fits per block (default: the whole batch).

    Returns:
        `fn`'s output with a leading batch axis of size B on every array.

    Example:
        >>> opt = optax.adam(1e-3)
        >>> def one(key):
        ...     return pl.fit(make_model(key), objective, opt, steps=1000, progress=False)
        >>> results = pl.sweep(one, jax.random.split(jax.random.key(0), 64))
        >>> results.loss.shape    # (64,)
    """
    if not callable(fn):
        raise ValueError(f"sweep: fn must be callable; got {type(fn).__name__}.")
    if not args:
        raise ValueError("sweep: give at least one argument to sweep over.")
    if checkpoint is not None and devices is None and jax.process_count() > 1:
        devices = jax.devices()
    if checkpoint is not None and devices is not None and spans_processes(devices):
        return _sweep_shares(
            fn,
            args,
            in_axes=in_axes,
            chunk_size=chunk_size,
            devices=devices,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
        )
    if checkpoint is not None:
        return sweep_with_checkpoints(
            sweep,
            fn,
            args,
            path=checkpoint,
            every=checkpoint_every,
            in_axes=in_axes,
            chunk_size=chunk_size,
            devices=devices,
        )
    axes = _normalise_in_axes(in_axes, len(args))
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("sweep: devices is empty.")
    if isinstance(chunk_size, str) and chunk_size == "auto":
        chunk_size = _CPU_CHUNK if devices[0].platform == "cpu" else None
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(
            f"sweep: chunk_size must be a positive integer or None; got {chunk_size!r}."
        )

    dyn, static = eqx.partition(tuple(args), eqx.is_array)
    blank = lambda d: jax.tree_util.tree_map(lambda _: None, d)
    batched = tuple(d if a == 0 else blank(d) for d, a in zip(dyn, axes))
    shared = tuple(blank(d) if a == 0 else d for d, a in zip(dyn, axes))
    sizes = {}
    for i, arg in enumerate(batched):
        for path, leaf in jax.tree_util.tree_leaves_with_path(arg):
            where = f"args[{i}]{jax.tree_util.keystr(path)}"
            if leaf.ndim == 0:
                raise ValueError(
                    f"sweep: {where} is a scalar but is batched (in_axes=0); give it a leading "
                    "batch axis, or pass in_axes=None for this argument to share it."
                )
            sizes[where] = leaf.shape[0]
    if not sizes:
        raise ValueError(
            "sweep: no argument has a batch axis (every argument has in_axes=None or holds no "
            "arrays); nothing to sweep over."
        )
    if len(set(sizes.values())) > 1:
        seen = ", ".join(f"{k}: {v}" for k, v in list(sizes.items())[:6])
        raise ValueError(f"sweep: batched arguments disagree on the batch size ({seen}).")
    n = next(iter(sizes.values()))
    if n == 0:
        raise ValueError("sweep: the batch is empty (leading axis of size 0).")

    multi = spans_processes(devices)
    if multi and not is_concrete(dyn):
        raise ValueError(
            "sweep: a sweep over the devices of several processes must be called outside "
            "jax.jit / eval_shape (each process cuts its share from concrete arrays); "
            "pass devices=jax.local_devices() to sweep inside a traced function."
        )
    n_dev = len(devices)
    n_local = math.ceil(n / n_dev)
    if chunk_size is not None and chunk_size < n_local:
        n_local = math.ceil(n_local / chunk_size) * chunk_size
    pad = n_local * n_dev - n
    mesh = Mesh(np.asarray(devices), (_AXIS,))
    row = NamedSharding(mesh, P(_AXIS))
    if multi:
        # the global mesh spans processes: every process holds the same arguments and
        # places only its own devices' rows; each computes its share, then all gather
        batched = to_global(jax.tree_util.tree_map(lambda x: _pad_rows(x, pad), batched), row)
        everywhere = NamedSharding(mesh, P())
        shared, fn_ = to_global(shared, everywhere), to_global(fn, everywhere)
        out, (solves, outcomes) = _run(fn_, static, batched, shared, mesh, chunk_size, n_local)
        out, outcomes = gather(out), gather(outcomes)
    else:
        batched = jax.tree_util.tree_map(lambda x: jax.device_put(_pad_rows(x, pad), row), batched)
        out, (solves, outcomes) = _run(fn, static, batched, shared, mesh, chunk_size, n_local)
    if pad:
        out = jax.tree_util.tree_map(lambda x: x[:n] if eqx.is_array(x) else x, out)
    if not is_concrete(outcomes):
        # sweep itself traced (inside jit / eval_shape): the host cannot look; error_if
        for (where, _), o in zip(solves, outcomes):
            ok = ~jax.vmap(is_failure)(_as_result(o["code"][:n]))
            out = eqx.error_if(
                out,
                ~ok,
                f"sweep: a fit failed in {where} (call pl.sweep outside jit to see "
                "which, or pass throw=False to the solver inside fn)",
            )
        return out
    _raise_failures(solves, outcomes, n, out)
    return out


def _sweep_shares(fn, args, *, in_axes, devices, checkpoint, checkpoint_every, **kwargs):
    """A checkpointed sweep across processes: each process runs its own contiguous share
    on its own devices, checkpointed in its own file (`<checkpoint>.rank<p>of<P>`), so each
    resumes its share independently; then every process gathers the whole result.

    An error on one process (a failed fit, a refused checkpoint) is raised on every process,
    after the others finish their shares, rather than leaving them waiting for it.
    """
    from jax.experimental import multihost_utils

    axes = _normalise_in_axes(in_axes, len(args))
    me, count = jax.process_index(), jax.process_count()
    mine = [d for d in devices if d.process_index == me]
    sizes = _batch_sizes(args, axes)
    error = None
    if not mine:
        error = ValueError(
            f"sweep: devices holds none of process {me}'s devices; a sweep across processes "
            "needs at least one device of every process."
        )
    elif len(sizes) != 1 or 0 in sizes:
        return sweep(fn, *args, in_axes=in_axes, devices=mine, **kwargs)  # its error
    n = next(iter(sizes)) if len(sizes) == 1 else 0
    share = math.ceil(n / count)
    start = me * share  # past the end for an empty share: padding only, never returned
    out = None
    if error is None:
        idx = np.clip(np.arange(start, start + share), 0, n - 1)
        sub = tuple(
            jax.tree_util.tree_map(lambda x: x[idx] if eqx.is_array(x) else x, a) if ax == 0 else a
            for a, ax in zip(args, axes)
        )
        try:
            with _offset(start):
                out = sweep_with_checkpoints(
                    sweep,
                    fn,
                    sub,
                    path=f"{os.fspath(checkpoint)}.rank{me}of{count}",
                    every=checkpoint_every,
                    in_axes=in_axes,
                    devices=mine,
                    **kwargs,
                )
        except Exception as e:  # raised on every process below, not left hanging
            error = e
    failed = np.asarray(multihost_utils.process_allgather(np.asarray([error is not None])))
    if failed.any():
        if error is not None:
            raise error
        ranks = [int(r) for r in np.flatnonzero(failed.reshape(-1))]
        raise RuntimeError(
            f"sweep: process(es) {ranks} failed on their share of the sweep (see their "
            "output); this process's share finished and is checkpointed."
        )
    dyn, static_out = eqx.partition(out, eqx.is_array)
    full = multihost_utils.process_allgather(jax.tree_util.tree_map(np.asarray, dyn), tiled=True)
    full = jax.tree_util.tree_map(lambda x: jnp.asarray(x[:n]), full)
    return eqx.combine(full, static_out)


def sweep_with_checkpoints(
    sweep: Callable, fn, args, *, path, every: int | None, in_axes, **kwargs
):
    """`sweep` in blocks of `every` fits, saving the finished outputs after each block.

    Resuming skips the blocks already done; each block is the same compiled call, so the
    result equals an uninterrupted sweep. The checkpoint stores a fingerprint of `fn` (its
    qualified name and the arrays it carries) and of the arguments (structure and data,
    `in_axes`), so a checkpoint of another sweep is refused.
    """
    where = "sweep"
    axes = _normalise_in_axes(in_axes, len(args))
    sizes = _batch_sizes(args, axes)
    if len(sizes) != 1:
        return sweep(fn, *args, in_axes=in_axes, **kwargs)  # let sweep raise its error
    n = sizes.pop()
    every = n if every is None else every
    every = check_int(where, "checkpoint_every", every, minimum=1)
    every = min(every, n)
    fp = {"function": callable_fingerprint(fn), "arguments": fingerprint(args, axes)}

    def block(start):
        stop = min(start + every, n)
        idx = jnp.clip(jnp.arange(start, start + every), 0, n - 1)  # same size every block
        sub = tuple(
            jax.tree_util.tree_map(lambda x: x[idx] if eqx.is_array(x) else x, a) if ax == 0 else a
            for a, ax in zip(args, axes)
        )
        return stop, sub

    done, raw = 0, None
    if os.path.exists(path):  # verified before anything is traced
        raw = read_raw(path, kind="sweep", fingerprint=fp, where=where)
        done, n_saved = int(raw.meta["done"]), int(raw.meta["n"])
        if n_saved != n:
            raise ValueError(
                f"{where}: checkpoint {os.fspath(path)!r} holds a sweep of {n_saved} fits; "
                f"this one has {n}."
            )
    # the full output's structure, for the template and the storage
    _, sub0 = block(0)
    shape = eqx.filter_eval_shape(lambda *s: sweep(fn, *s, in_axes=in_axes, **kwargs), *sub0)
    dyn_shape, static_out = eqx.partition(shape, lambda x: isinstance(x, jax.ShapeDtypeStruct))
    store = jax.tree_util.tree_map(lambda s: np.zeros((n, *s.shape[1:]), s.dtype), dyn_shape)
    if raw is not None:
        loaded = tree_from_bytes(raw.payload, store, path=path, where=where)
        store = jax.tree_util.tree_map(np.asarray, loaded)
    while done < n:
        stop, sub = block(done)
        with _offset(done):
            out = eqx.filter(sweep(fn, *sub, in_axes=in_axes, **kwargs), eqx.is_array)
        k = stop - done

        def put(s, o, done=done, k=k):
            s = np.array(s)
            s[done : done + k] = np.asarray(o)[:k]
            return s

        store = jax.tree_util.tree_map(put, store, out)
        done = stop
        write_checkpoint(
            path, kind="sweep", meta={"done": done, "n": n}, fingerprint=fp, tree=store
        )
    return eqx.combine(jax.tree_util.tree_map(jnp.asarray, store), static_out)
