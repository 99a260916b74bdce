"""Many fits at once: `pl.sweep` vmaps a function over a batch and shards it over devices.

A sweep holds no state of its own: what it needs travels as arguments (the offset of a
block in the user's batch, whether to raise), and it learns how each fit ended from the
`Solution`s that `fn` returns (`.result`, `.failed_step`, `.failed_term`, `.names`).
"""

from __future__ import annotations

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

from .._driver import describe_failure, plain_error
from .._solution import Solution, SolveError, failure_mask, is_failure
from .._validate import check_int, fail_if, is_concrete
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
# fits per vmapped chunk on a CPU device: one vmap of a thousand small fits spills the cache
# (benchmarks/run.py compares chunk sizes; benchmarks/README.md has the figures)
_CPU_CHUNK = 16
_RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, eqx.EquinoxRuntimeError)
_TRACED_FAILURE = (
    "sweep: a fit failed (pl.sweep was called inside jax.jit, so it cannot say which: call "
    "it outside jit to see the fit, step and term, or pass throw=False)"
)


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


def _check_chunk_size(chunk_size, devices) -> int | None:
    if isinstance(chunk_size, str) and chunk_size == "auto":
        return _CPU_CHUNK if devices[0].platform == "cpu" else None
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(
            f"sweep: chunk_size must be a positive integer or None; got {chunk_size!r}."
        )
    return chunk_size


def _split(args, axes):
    """`(batched, shared, static, n)`: the array leaves of the batched arguments, of the
    shared ones, the non-array rest, and the batch size (checked to agree)."""
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
    return batched, shared, static, n


@eqx.filter_jit
def _run(fn, static, batched, shared, mesh, chunk, n_local):
    """The array part of `fn`'s output for every fit: vmapped (in chunks of `chunk` by
    `lax.map`) on each device's share of the batch, sharded over `mesh`."""

    def one(b, sh):
        return eqx.filter(fn(*eqx.combine(b, sh, static)), eqx.is_array)

    def local(batched, sh):
        if chunk is None or chunk >= n_local:
            return jax.vmap(one, in_axes=(0, None))(batched, sh)
        return jax.lax.map(lambda b: one(b, sh), batched, batch_size=chunk)

    smapped = jax.shard_map(
        local, mesh=mesh, in_specs=(P(_AXIS), P()), out_specs=P(_AXIS), check_vma=False
    )
    return smapped(batched, shared)


def _static_output(fn, static, batched, shared):
    """The non-array part of `fn`'s output (a model's activation, a `Solution`'s names),
    from an abstract evaluation of one fit. JAX keeps the programs traced inside `fn` (the
    driver's compiled loop) by the shapes of one fit, so the vmapped trace reuses them."""
    first = jax.tree_util.tree_map(lambda x: x[0], batched)
    shape = eqx.filter_eval_shape(lambda b, sh: fn(*eqx.combine(b, sh, static)), first, shared)
    return eqx.partition(shape, lambda x: isinstance(x, jax.ShapeDtypeStruct))[1]


def _execute(fn, static, batched, shared, devices, chunk_size, n):
    """Pad the batch to the mesh, run it (every process its own devices' rows when the mesh
    spans processes, then gathered), trim the padding; `fn`'s whole output."""
    multi = spans_processes(devices)
    n_dev = len(devices)
    n_local = math.ceil(n / n_dev)
    if chunk_size is not None and chunk_size < n_local:
        n_local = math.ceil(n_local / chunk_size) * chunk_size
    pad = n_local * n_dev - n
    mesh = Mesh(np.asarray(devices), (_AXIS,))
    row = NamedSharding(mesh, P(_AXIS))
    static_out = _static_output(fn, static, batched, shared)
    if multi:
        # the global mesh spans processes: every process holds the same arguments and
        # places only its own devices' rows; each computes its share, then all gather
        batched = to_global(jax.tree_util.tree_map(lambda x: _pad_rows(x, pad), batched), row)
        everywhere = NamedSharding(mesh, P())
        shared, fn_ = to_global(shared, everywhere), to_global(fn, everywhere)
        out = gather(_run(fn_, static, batched, shared, mesh, chunk_size, n_local))
    else:
        batched = jax.tree_util.tree_map(lambda x: jax.device_put(_pad_rows(x, pad), row), batched)
        out = _run(fn, static, batched, shared, mesh, chunk_size, n_local)
    if pad:
        out = jax.tree_util.tree_map(lambda x: x[:n], out)
    return eqx.combine(out, static_out)


def _solutions(out) -> list[Solution]:
    leaves = jax.tree_util.tree_leaves(out, is_leaf=lambda x: isinstance(x, Solution))
    return [x for x in leaves if isinstance(x, Solution)]


def _raise_failures(out, n: int, offset: int) -> None:
    """Raise one `SolveError` naming the failed fits (index, step, term) of the `Solution`s
    in `out` (a batch of `n` fits, the first being fit `offset` of the user's sweep)."""
    lines, failed = [], set()
    for sol in _solutions(out):
        code = np.asarray(sol.result._value).reshape(n)
        step, term = np.asarray(sol.failed_step), np.asarray(sol.failed_term)
        for k in np.flatnonzero(failure_mask(code)):
            failed.add(int(k) + offset)
            if len(lines) < 5:
                steps = int(np.asarray(sol.steps)[k])
                at = f"fit {k + offset}"
                lines.append(
                    describe_failure(at, sol.names, int(code[k]), int(step[k]), int(term[k]), steps)
                )
    if failed:
        more = f"\n  ... and {len(failed) - len(lines)} more" if len(failed) > len(lines) else ""
        raise SolveError(
            f"sweep: {len(failed)} of {n} fits{f' from fit {offset}' if offset else ''} failed "
            "(pass throw=False to pl.sweep to keep every result and read .result / "
            ".failed_step):\n  " + "\n  ".join(lines) + more,
            result=out,
            failed=sorted(failed),
        )


def _check(out, n: int, offset: int, throw: bool):
    """`out`, raising for failed fits when `throw`: now on concrete results, by `error_if`
    when the sweep itself is traced (inside `jax.jit`)."""
    if not throw:
        return out
    sols = _solutions(out)
    if not is_concrete([s.result for s in sols]):
        for sol in sols:
            out = fail_if(out, jnp.any(is_failure(sol.result)), _TRACED_FAILURE)
        return out
    _raise_failures(out, n, offset)
    return out


def _sweep_once(fn, args, *, in_axes, chunk_size, devices, throw: bool, offset: int):
    """One compiled call over the whole batch (no checkpoint)."""
    axes = _normalise_in_axes(in_axes, len(args))
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("sweep: devices is empty.")
    chunk_size = _check_chunk_size(chunk_size, devices)
    batched, shared, static, n = _split(args, axes)
    if spans_processes(devices) and not is_concrete((batched, shared)):
        raise ValueError(
            "sweep: a sweep over the devices of several processes must be called outside "
            "jax.jit / eval_shape (each process cuts its share from concrete arrays); "
            "pass devices=jax.local_devices() to sweep inside a traced function."
        )
    try:
        out = _execute(fn, static, batched, shared, devices, chunk_size, n)
    except _RUNTIME_ERRORS as e:
        plain = plain_error(e)
        if plain is None:
            raise
        if isinstance(plain, SolveError):  # a fit inside fn raised (throw=True)
            plain = SolveError(f"sweep: a fit failed: {plain}")
        raise plain from None
    return _check(out, n, offset, throw)


def sweep(
    fn: Callable,
    *args: Any,
    in_axes: int | None | Sequence[int | None] = 0,
    chunk_size: int | str | None = "auto",
    devices: Sequence[jax.Device] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    throw: bool = True,
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
    shard a sweep over all cores (benchmarks/run.py measures the gain).

    Failures: the sweep reads how each fit ended from the `pl.Solution`s in `fn`'s output.
    With `throw=True` it raises one `pl.SolveError` naming the failed fits (index, step and
    term; `.failed` holds their indices, `.result` the whole output); budgets that ran out
    are not failures. For that, return the Solution and pass `throw=False` to the solver
    inside `fn`: a solve with `throw=True` stops the compiled sweep at its first failure,
    and the `SolveError` then gives only the reason (the compiled call cannot say which fit).

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
            default `"auto"` is 16 on a CPU (one vmap of a thousand small fits spills the
            cache; benchmarks/run.py compares chunk sizes) and None on accelerators.
        devices: the devices to shard over (default `jax.devices()`: all processes'
            devices once the multi-process runtime is started).
        checkpoint: a file path: run the batch in blocks of `checkpoint_every` fits and
            save the finished outputs after each block; called again with the same
            arguments it resumes after the last saved block (Equinox serialisation).
        checkpoint_every: fits per block (default: the whole batch).
        throw: raise a `pl.SolveError` naming the failed fits, if any; False returns every
            result as it is.

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
    if not isinstance(throw, (bool, np.bool_)):
        raise ValueError(f"sweep: throw must be True or False; got {throw!r}.")
    opts = dict(in_axes=in_axes, chunk_size=chunk_size, throw=bool(throw))
    if checkpoint is None:
        return _sweep_once(fn, args, devices=devices, offset=0, **opts)
    if devices is None and jax.process_count() > 1:
        devices = jax.devices()
    if devices is not None and spans_processes(devices):
        return _sweep_shares(
            fn, args, devices=devices, path=checkpoint, every=checkpoint_every, **opts
        )
    run = lambda f, *a, **kw: _sweep_once(f, a, devices=devices, offset=0, **kw)
    return sweep_with_checkpoints(run, fn, args, path=checkpoint, every=checkpoint_every, **opts)


def _sweep_shares(fn, args, *, in_axes, chunk_size, devices, path, every, throw):
    """A checkpointed sweep across processes: each process runs its own contiguous share
    on its own devices, checkpointed in its own file (`<path>.rank<p>of<P>`), so each
    resumes its share independently; then every process gathers the whole result.

    An error on one process (a failed fit, a refused checkpoint) is raised on every process,
    after the others finish their shares, rather than leaving them waiting for it.
    """
    from jax.experimental import multihost_utils

    axes = _normalise_in_axes(in_axes, len(args))
    me, count = jax.process_index(), jax.process_count()
    mine = [d for d in devices if d.process_index == me]
    sizes = _batch_sizes(args, axes)
    opts = dict(in_axes=in_axes, chunk_size=chunk_size, throw=throw)
    error = None
    if not mine:
        error = ValueError(
            f"sweep: devices holds none of process {me}'s devices; a sweep across processes "
            "needs at least one device of every process."
        )
    elif len(sizes) != 1 or 0 in sizes:
        return _sweep_once(fn, args, devices=mine, offset=0, **opts)  # its error
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
        run = lambda f, *a, **kw: _sweep_once(f, a, devices=mine, offset=0, **kw)
        try:
            out = sweep_with_checkpoints(
                run, fn, sub, path=f"{os.fspath(path)}.rank{me}of{count}", every=every,
                offset=start, **opts,
            )  # fmt: skip
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


def _blocks(args, axes, n: int, every: int):
    """`block(start) -> (stop, sub)`: fits `[start, stop)` of `args`, padded to `every`
    fits by repeating the last one, so every block is the same compiled call."""

    def block(start):
        stop = min(start + every, n)
        idx = jnp.clip(jnp.arange(start, start + every), 0, n - 1)
        sub = tuple(
            jax.tree_util.tree_map(lambda x: x[idx] if eqx.is_array(x) else x, a) if ax == 0 else a
            for a, ax in zip(args, axes)
        )
        return stop, sub

    return block


def _resume(path, fp, n: int, where: str):
    """`(done, raw)` from an existing checkpoint of this sweep (verified), else `(0, None)`."""
    if not os.path.exists(path):
        return 0, None
    raw = read_raw(path, kind="sweep", fingerprint=fp, where=where)
    done, n_saved = int(raw.meta["done"]), int(raw.meta["n"])
    if n_saved != n:
        raise ValueError(
            f"{where}: checkpoint {os.fspath(path)!r} holds a sweep of {n_saved} fits; "
            f"this one has {n}."
        )
    return done, raw


def sweep_with_checkpoints(
    run: Callable,
    fn,
    args,
    *,
    path,
    every: int | None,
    in_axes,
    throw: bool = True,
    offset: int = 0,
    **kwargs,
):
    """`run` (a sweep: `run(fn, *args, in_axes=, throw=, **kwargs)`) in blocks of `every`
    fits, saving the finished outputs after each block.

    Resuming skips the blocks already done; each block is the same compiled call, so the
    result equals an uninterrupted sweep. The checkpoint stores a fingerprint of `fn` (its
    qualified name and the arrays it carries) and of the arguments (structure and data,
    `in_axes`), so a checkpoint of another sweep is refused. With `throw`, a block with a
    failed fit raises before it is saved, naming fits from `offset` (this share's first
    fit in the user's sweep).
    """
    where = "sweep"
    axes = _normalise_in_axes(in_axes, len(args))
    sizes = _batch_sizes(args, axes)
    if len(sizes) != 1:
        return run(fn, *args, in_axes=in_axes, throw=throw, **kwargs)  # let it raise
    n = sizes.pop()
    every = n if every is None else every
    every = min(check_int(where, "checkpoint_every", every, minimum=1), n)
    fp = {"function": callable_fingerprint(fn), "arguments": fingerprint(args, axes)}
    block = _blocks(args, axes, n, every)
    done, raw = _resume(path, fp, n, where)  # verified before anything is traced
    # the full output's structure, for the template and the storage
    sweep_one = lambda *s: run(fn, *s, in_axes=in_axes, throw=False, **kwargs)
    shape = eqx.filter_eval_shape(sweep_one, *block(0)[1])
    dyn_shape, static_out = eqx.partition(shape, lambda x: isinstance(x, jax.ShapeDtypeStruct))
    store = jax.tree_util.tree_map(lambda s: np.zeros((n, *s.shape[1:]), s.dtype), dyn_shape)
    if raw is not None:
        loaded = tree_from_bytes(raw.payload, store, path=path, where=where)
        store = jax.tree_util.tree_map(np.asarray, loaded)
    while done < n:
        stop, sub = block(done)
        out = sweep_one(*sub)
        k = stop - done
        if throw:
            trimmed = jax.tree_util.tree_map(lambda x, k=k: x[:k] if eqx.is_array(x) else x, out)
            _raise_failures(trimmed, k, offset + done)
        store = _put(store, eqx.filter(out, eqx.is_array), done, k)
        done = stop
        write_checkpoint(
            path, kind="sweep", meta={"done": done, "n": n}, fingerprint=fp, tree=store
        )
    return eqx.combine(jax.tree_util.tree_map(jnp.asarray, store), static_out)


def _put(store, out, done: int, k: int):
    """`store` with rows `[done, done + k)` set to the first `k` rows of `out`."""

    def put(s, o):
        s = np.array(s)
        s[done : done + k] = np.asarray(o)[:k]
        return s

    return jax.tree_util.tree_map(put, store, out)
