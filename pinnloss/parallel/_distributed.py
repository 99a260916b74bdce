"""JAX's multi-process runtime: start it from the environment, move sweeps' arrays across it.

One process per host (or per group of cores), all running the same script: each calls
`pl.distributed_initialize()` first, then `pl.sweep` spreads the fits over the devices of
every process and returns the full result on each. `python -m pinnloss.launch -n 2
script.py` starts such processes on one machine; under SLURM (`srun`),
`jax.distributed.initialize()` reads the job's variables itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

# the names `python -m pinnloss.launch` sets (it imports no JAX, so they live there)
from ._launch import ENV_ADDRESS, ENV_COUNT, ENV_ID

__all__ = ["distributed_initialize"]


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"distributed_initialize: environment variable {name}={raw!r} is not an integer."
        ) from None


def distributed_initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs: Any,
) -> bool:
    """Start JAX's multi-process runtime from arguments or the launcher's environment.

    Reads `JAX_COORDINATOR_ADDRESS` (host:port), `PINNLOSS_NUM_PROCESSES` and
    `PINNLOSS_PROCESS_ID` (set by `python -m pinnloss.launch`) for any argument not given,
    selects gloo for CPU collectives, and calls `jax.distributed.initialize`. With none of
    them set it calls `jax.distributed.initialize()` bare when a cluster JAX can detect
    is present (SLURM, Open MPI, Kubernetes, Cloud TPU), and otherwise does nothing: the
    same script then runs as a single process.

    Call it before anything touches a device (before `jax.devices()` or creating arrays).

    Args:
        coordinator_address: "host:port" of process 0's coordinator.
        num_processes: the number of processes.
        process_id: this process's rank, 0 ≤ process_id < num_processes.
        **kwargs: passed on to `jax.distributed.initialize` (e.g. `local_device_ids`).

    Returns:
        True if the runtime was started (or already running), False for a single process.

    Example:
        >>> import pinnloss as pl
        >>> pl.distributed_initialize()       # first line of a script run by pinnloss.launch
        >>> out = pl.sweep(fit_one, keys)     # every process gets the whole `out`
    """
    where = "distributed_initialize"
    if jax.distributed.is_initialized():
        return True
    address = coordinator_address or os.environ.get(ENV_ADDRESS) or None
    count = num_processes if num_processes is not None else _env_int(ENV_COUNT)
    rank = process_id if process_id is not None else _env_int(ENV_ID)
    names = (
        f"coordinator_address ({ENV_ADDRESS})",
        f"num_processes ({ENV_COUNT})",
        f"process_id ({ENV_ID})",
    )
    given = [x is not None for x in (address, count, rank)]
    if any(given) and not all(given):
        missing = [name for name, g in zip(names, given) if not g]
        raise ValueError(
            f"{where}: {', '.join(missing)} not given; pass all three or none "
            "(none: a cluster JAX detects, such as SLURM, or a single process)."
        )
    if count is not None:
        if isinstance(count, bool) or count < 1:
            raise ValueError(f"{where}: num_processes must be a positive integer; got {count!r}.")
        if isinstance(rank, bool) or not 0 <= rank < count:
            raise ValueError(
                f"{where}: process_id must be in [0, num_processes = {count}); got {rank!r}."
            )
    else:
        if not _cluster_detected():
            return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(address, count, rank, **kwargs)
    return True


def _cluster_detected() -> bool:
    """Whether `jax.distributed.initialize()` would find a cluster (SLURM, Open MPI, ...)."""
    try:  # JAX's own detection, the same list `initialize` walks
        from jax._src import clusters

        return any(
            c.is_env_present()
            for c in clusters.ClusterEnv._cluster_types
            if not getattr(c, "opt_in_only_method", False)
        )
    except (ImportError, AttributeError):  # a JAX without that layout: the common markers
        keys = ("SLURM_STEP_NUM_TASKS", "OMPI_MCA_orte_hnp_uri")
        return any(k in os.environ for k in keys)


# ----------------------------------------------------------------------------- for sweep


def spans_processes(devices: Sequence[jax.Device]) -> bool:
    """True if some of `devices` belong to another process (a multi-process sweep)."""
    me = jax.process_index()
    return any(d.process_index != me for d in devices)


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_global(tree: Any, sharding: jax.sharding.Sharding) -> Any:
    """Every array leaf (identical on every process) as a global array with `sharding`.

    Each process cuts its addressable shards out of its own full copy, so nothing moves
    between processes. Typed PRNG keys travel as their key data.
    """

    def one(x):
        if not isinstance(x, (jax.Array, np.ndarray)):
            return x
        if _is_key(x):
            data = one(jax.random.key_data(x))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree_util.tree_map(one, tree)


def gather(tree: Any) -> Any:
    """Every global array leaf, whole, as a local array on every process."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    idx = [i for i, x in enumerate(leaves) if isinstance(x, jax.Array)]
    impls = {i: jax.random.key_impl(leaves[i]) for i in idx if _is_key(leaves[i])}
    send = [jax.random.key_data(leaves[i]) if i in impls else leaves[i] for i in idx]
    if idx:
        full = multihost_utils.process_allgather(send, tiled=True)
        for i, x in zip(idx, full):
            x = jax.numpy.asarray(x)
            leaves[i] = jax.random.wrap_key_data(x, impl=impls[i]) if i in impls else x
    return jax.tree_util.tree_unflatten(treedef, leaves)
