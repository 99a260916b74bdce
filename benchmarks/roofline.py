"""A roofline for `pl.sweep` of small Adam fits on a CPU: what bounds it, and how close it is.

    python benchmarks/roofline.py            # 1024 fits × 200 steps, one device per core
    python benchmarks/roofline.py --quick    # 1024 fits × 50 steps

Every figure is measured in this run, on this machine:

- compute peak per core: a float64 2048² matmul (all cores) divided by the core count;
- memory bandwidth per core: y ← a·x + y inside a compiled loop, on arrays the size of one
  chunk's working set (cache) and on 128 MiB arrays (DRAM);
- per-kernel overhead: a compiled loop of dependent 16×16 matrix-vector products + tanh,
  whose FLOPs and bytes are negligible, divided by its kernel count;
- the workload: one Adam step of a chunk of 16 fits (the sweep's CPU chunk), vmapped and
  compiled alone: FLOPs and bytes from XLA's `cost_analysis()`, kernels (thunks) counted in
  the optimised HLO (fusions, dots, copies, ... outside fused computations).

Per chunk step on one core the bound is max(FLOPs / peak, bytes / bandwidth,
kernels × overhead); a sweep of B fits × S steps on D devices needs at least
B/16/D · S times that. The printed fraction is bound / measured (100 % = at the roofline).
The measured times are the best of `--repeats` runs (the machine may be shared; its load
average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

if __name__ == "__main__" and "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count()}"

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from problem import adam_step, best, cost_analysis  # noqa: E402

CHUNK = 16
TRIVIAL = {"parameter", "constant", "bitcast", "tuple", "get-tuple-element", "after-all"}


def kernels(compiled) -> int:
    """Instructions that run as their own kernel: those outside fused computations."""
    count = 0
    for block in compiled.as_text().split("\n\n"):
        head = block.strip().splitlines()[0] if block.strip() else ""
        if "fused" in head.split("(")[0] or not head:
            continue
        for line in block.splitlines()[1:]:
            m = re.search(r"=\s+\S+\s+([\w-]+)\(", line)
            if m and m.group(1) not in TRIVIAL:
                count += 1
    return count


def cost(compiled) -> dict:
    ca = cost_analysis(compiled)
    return {"flops": float(ca.get("flops", 0.0)), "bytes": float(ca.get("bytes accessed", 0.0))}


def matmul_gflops(repeats, n=2048):
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float64)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    return 2 * n**3 / best(lambda: f(a), repeats) / 1e9


def axpy_gbs(n, iters, repeats):
    """GB/s of y ← a·x + y (3 × 8 bytes per element) in a compiled loop of `iters`."""
    x = jnp.linspace(0.0, 1.0, n)

    @jax.jit
    def run(x, y):
        return jax.lax.fori_loop(0, iters, lambda i, y: 1.0000001 * x + y, y)

    run(x, x).block_until_ready()
    return 24 * n * iters / best(lambda: run(x, x), repeats) / 1e9


def kernel_overhead_us(repeats, layers=32, iters=2000):
    """µs per kernel of a loop whose kernels do almost nothing (16×16 matvec + tanh)."""
    a = jax.random.normal(jax.random.key(1), (layers, 16, 16), jnp.float64) / 4

    def body(i, x):
        for k in range(layers):
            x = jnp.tanh(a[k] @ x)
        return x

    run = jax.jit(lambda x: jax.lax.fori_loop(0, iters, body, x))
    x = jnp.ones(16)
    c = run.lower(x).compile()
    c(x).block_until_ready()
    t = best(lambda: c(x), repeats)
    k = kernels(jax.jit(lambda x: body(0, x)).lower(x).compile())
    return 1e6 * t / (iters * k), k


def workload():
    from problem import make_model, make_objective

    obj, opt = make_objective(), optax.adam(1e-3)
    params, static = eqx.partition(make_model(), eqx.is_inexact_array)

    one_step = adam_step(obj, opt, static)

    ps = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (CHUNK, *x.shape)), params)
    ss = jax.vmap(opt.init)(ps)
    c = jax.jit(jax.vmap(one_step)).lower(ps, ss).compile()
    out = cost(c)
    out["kernels"] = kernels(c)
    out["working_set"] = sum(x.nbytes for x in jax.tree_util.tree_leaves((ps, ss)))
    return out, obj, opt, one_step, ps, ss


def measure(steps=200, fits=1024, repeats=3):
    """Every number of the roofline, as a dict (printed by `main`, used by run.py)."""
    jax.config.update("jax_enable_x64", True)
    from problem import make_model

    import pinnloss as pl

    cores = os.cpu_count() or 1
    devices = jax.device_count()
    mm = matmul_gflops(repeats)
    w, obj, opt, one_step, ps, ss = workload()
    n_cache = max(w["working_set"] // 8, 4096)
    bw_cache = axpy_gbs(n_cache, max(20_000_000 // n_cache, 10), repeats)
    bw_dram = axpy_gbs(1 << 24, 3, repeats)
    t_op, probe_kernels = kernel_overhead_us(repeats)
    peak1 = mm / cores  # GFLOP/s per core

    per_step = {  # seconds per chunk step, on one core
        "compute": w["flops"] / (peak1 * 1e9),
        "memory (cache)": w["bytes"] / (bw_cache * 1e9),
        "memory (DRAM)": w["bytes"] / (bw_dram * 1e9),
        "kernel overhead": w["kernels"] * t_op * 1e-6,
    }
    bound_step = max(per_step["compute"], per_step["memory (cache)"], per_step["kernel overhead"])
    limiter = max(("compute", "memory (cache)", "kernel overhead"), key=lambda k: per_step[k])
    chunk_steps = fits / CHUNK / devices * steps  # per device, all devices in parallel

    # the framework: pl.sweep of `fits` Adam fits, chunks of 16, all devices
    def fit_one(key):
        return pl.fit(make_model(key), obj, opt, steps=steps, progress=False).loss

    keys = jax.random.split(jax.random.key(0), fits)
    sweep = lambda: pl.sweep(fit_one, keys, chunk_size=CHUNK)
    sweep()
    t_sweep = best(sweep, repeats)

    # no framework: the same vmapped step in a hand-written lax.scan, chunks by lax.map,
    # sharded the same way (shard_map over the same devices)
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = Mesh(jax.devices(), ("f",))
    n_chunks = fits // CHUNK
    big = lambda t: jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(x[None], (n_chunks, *x.shape)), t
    )

    def loop(p, s):
        def chunk(ps_):
            p, s = ps_

            def step(c, _):
                p, s, _ = jax.vmap(one_step)(*c)
                return (p, s), None

            (p, s), _ = jax.lax.scan(step, (p, s), None, length=steps)
            return p

        return jax.lax.map(chunk, (p, s))

    hand = jax.jit(jax.shard_map(loop, mesh=mesh, in_specs=(P("f"), P("f")), out_specs=P("f")))
    args = jax.device_put((big(ps), big(ss)), NamedSharding(mesh, P("f")))
    jax.block_until_ready(hand(*args))
    t_hand = best(lambda: hand(*args), repeats)

    bound = bound_step * chunk_steps
    flops_total = w["flops"] * fits / CHUNK * steps
    return {
        "cores": cores,
        "devices": devices,
        "fits": fits,
        "steps": steps,
        "matmul_gflops": mm,
        "peak_per_core_gflops": peak1,
        "bw_cache_gbs": bw_cache,
        "bw_dram_gbs": bw_dram,
        "kernel_us": t_op,
        "probe_kernels": probe_kernels,
        "chunk_flops": w["flops"],
        "chunk_bytes": w["bytes"],
        "chunk_kernels": w["kernels"],
        "working_set_bytes": w["working_set"],
        "per_chunk_step_us": {k: 1e6 * v for k, v in per_step.items()},
        "limiter": limiter,
        "bound_s": bound,
        "sweep_s": t_sweep,
        "hand_s": t_hand,
        "sweep_gflops": flops_total / t_sweep / 1e9,
        "sweep_pct_of_matmul": 100 * flops_total / t_sweep / 1e9 / mm,
        "sweep_pct_of_bound": 100 * bound / t_sweep,
        "hand_pct_of_bound": 100 * bound / t_hand,
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="50 steps instead of 200")
    p.add_argument("--repeats", type=int, default=3, help="runs per timing (best is kept)")
    p.add_argument("--json", action="store_true", help="print one JSON line only")
    a = p.parse_args()
    r = measure(steps=50 if a.quick else 200, repeats=a.repeats)
    if a.json:
        print(json.dumps(r))
        return
    print(
        f"{r['cores']} cores, {r['devices']} devices; load average {r['load']:.1f}; "
        f"times are the best of {a.repeats} runs"
    )
    print(
        f"peak: f64 matmul {r['matmul_gflops']:.1f} GFLOP/s ({r['peak_per_core_gflops']:.1f} "
        f"per core); axpy {r['bw_cache_gbs']:.1f} GB/s in cache, {r['bw_dram_gbs']:.1f} GB/s "
        f"from DRAM; {r['kernel_us']:.2f} µs per kernel ({r['probe_kernels']}-kernel probe)"
    )
    print(
        f"one Adam step of {CHUNK} fits: {r['chunk_flops'] / 1e6:.2f} MFLOP, "
        f"{r['chunk_bytes'] / 1e6:.2f} MB accessed, {r['chunk_kernels']} kernels, working "
        f"set {r['working_set_bytes'] / 1e3:.0f} kB"
    )
    for k, v in r["per_chunk_step_us"].items():
        print(f"  {k:>16}: {v:8.1f} µs per chunk step")
    print(f"bound: {r['limiter']}; {r['fits']} fits × {r['steps']} steps ≥ {r['bound_s']:.3f} s")
    print(
        f"pl.sweep {r['sweep_s']:.3f} s ({r['sweep_pct_of_bound']:.0f} % of the bound, "
        f"{r['sweep_pct_of_matmul']:.1f} % of matmul); hand-written scan {r['hand_s']:.3f} s "
        f"({r['hand_pct_of_bound']:.0f} % of the bound); pl.sweep / hand = "
        f"{r['sweep_s'] / r['hand_s']:.2f}"
    )


if __name__ == "__main__":
    main()
