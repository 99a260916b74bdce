"""The accelerator run: one script for a machine with a GPU (or TPU) — table, then tests.

    python benchmarks/gpu.py --out gpu_table.md            # table + test suite (~10 min)
    python benchmarks/gpu.py --no-tests --quick            # table only, small sizes
    python benchmarks/gpu.py --no-tests --out t.md; python benchmarks/gpu.py --tests-only
                                                           # two calls of < 10 minutes each

Rows (each the best of `--repeats` compiled runs; compile time shown separately):

- `pl.sweep` of B Adam fits × `--steps` steps of the benchmark problem (benchmarks/problem.py,
  MLP 1→32→32→1 on per-atom Cu E(V) + zero pressure + bulk modulus), B = 1 … 65 536, in
  float32 and float64: fits/s and GFLOP/s (XLA cost analysis of one step);
- `pl.least_squares` (defaults) on the 2-D Poisson PINN of benchmarks/pinn.py (1185
  parameters, 600 points), 200 steps: time and relative L2 error;
- the same float64 matmul rate as benchmarks/run.py, for scale.

Then it runs the test suite (`python -m pytest -x -q`) on the accelerator and appends its
summary line. The markdown (device, date, jax version, table, test summary) is printed and,
with `--out`, written to a file: that is the GPU table for README, beside the CPU one.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # this script's choice; float32 rows ask for it

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from problem import adam_step, best, cost_analysis  # noqa: E402

import pinnloss as pl  # noqa: E402


def step_flops(obj, opt, model):
    params, static = eqx.partition(model, eqx.is_inexact_array)

    one_step = adam_step(obj, opt, static)

    ca = cost_analysis(jax.jit(one_step).lower(params, opt.init(params)).compile())
    return float(ca["flops"])


def sweep_rows(rows, sizes, steps, repeats, deadline):
    from problem import make_model, make_objective

    opt = optax.adam(1e-3)
    for dt in (jnp.float32, jnp.float64):
        name = jnp.dtype(dt).name
        obj = make_objective(dtype=dt)
        flops = step_flops(obj, opt, make_model(dtype=dt))

        def fit_one(key, obj=obj, dt=dt):
            return pl.fit(make_model(key, dtype=dt), obj, opt, steps=steps, progress=False).loss

        base = None
        for b in sizes:
            if time.time() > deadline:
                rows.append((f"sweep {b} fits, {name}", "skipped (time budget)", "", ""))
                continue
            keys = jax.random.split(jax.random.key(0), b)
            run = lambda keys=keys, fit_one=fit_one: pl.sweep(fit_one, keys)
            t0 = time.perf_counter()
            jax.block_until_ready(run())
            first = time.perf_counter() - t0
            t = best(run, repeats)
            base = base or b / t
            rows.append(
                (
                    f"pl.sweep of {b} Adam fits × {steps} steps, {name}",
                    f"{b / t:.1f} fits/s",
                    f"{b * steps * flops / t / 1e9:.2f} GFLOP/s ({flops / 1e3:.0f} kFLOP/step)",
                    f"first call {first:.1f} s; {b / t / base:.1f}× 1 fit",
                )
            )
            print(rows[-1], flush=True)


def lsq_row(rows, repeats):
    import pinn

    model, obj = pinn.problem()
    run = lambda: pl.least_squares(model, obj, max_steps=200)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # 600 points, 1185 parameters: the known benchmark
        warnings.simplefilter("ignore", pl.UnderdeterminedWarning)
        sol = jax.block_until_ready(run())
    first = time.perf_counter() - t0
    t = best(run, repeats)
    rows.append(
        (
            "pl.least_squares, 2-D Poisson PINN (1185 parameters, 600 points), 200 steps",
            f"{t:.2f} s",
            f"relative L2 {float(pinn.rel_l2(sol.model)):.1e}",
            f"first call {first:.1f} s",
        )
    )
    print(rows[-1], flush=True)


def matmul_row(rows, repeats, n=4096):
    f = jax.jit(lambda a: a @ a)
    for dt in (jnp.float32, jnp.float64):
        a = jax.random.normal(jax.random.key(0), (n, n), dt)
        jax.block_until_ready(f(a))
        t = best(lambda a=a: f(a), repeats)
        rate = f"{2 * n**3 / t / 1e9:.0f} GFLOP/s"
        rows.append((f"{n}² matmul, {jnp.dtype(dt).name}", rate, "", ""))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="sizes 1, 64, 1024 and 50 steps")
    p.add_argument("--steps", type=int, default=None, help="Adam steps per fit (default 200)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=float, default=360.0, help="seconds for the table")
    p.add_argument("--no-tests", action="store_true", help="skip the test suite")
    p.add_argument("--tests-only", action="store_true", help="only the test suite")
    p.add_argument("--test-timeout", type=float, default=540.0, help="seconds for the test suite")
    p.add_argument("--out", default=None, help="write the markdown here")
    a = p.parse_args()
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        print("warning: no accelerator found; these are CPU figures", flush=True)
    steps = a.steps or (50 if a.quick else 200)
    sizes = (1, 64, 1024) if a.quick else (1, 64, 1024, 4096, 16384, 65536)
    t0 = time.time()
    deadline = t0 + a.budget
    rows: list[tuple[str, str, str, str]] = []
    if not a.tests_only:
        matmul_row(rows, a.repeats)
        sweep_rows(rows, sizes, steps, a.repeats, deadline)
        if time.time() < deadline:
            lsq_row(rows, a.repeats)
    head = (
        f"{datetime.date.today().isoformat()}, {jax.device_count()} × "
        f"{getattr(dev, 'device_kind', dev.platform)} ({dev.platform}), jax {jax.__version__}; "
        f"`python benchmarks/gpu.py{' --quick' if a.quick else ''}`, best of {a.repeats}; "
        f"{time.time() - t0:.0f} s"
    )
    md = head + "\n\n| benchmark | rate | throughput | note |\n|---|---|---|---|\n"
    md += "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"
    if not a.no_tests:
        env = dict(os.environ)
        env.pop("JAX_PLATFORMS", None)
        t1 = time.time()
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
        try:
            out = subprocess.run(
                cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=a.test_timeout
            )
            lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
            summary, failed = (lines[-1] if lines else "(no output)"), out.returncode != 0
            log = out.stdout
        except subprocess.TimeoutExpired as e:
            log = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode()
            summary, failed = f"did not finish within {a.test_timeout:.0f} s", True
        md += f"\nTest suite on {dev.platform}: {summary} ({time.time() - t1:.0f} s)\n"
        if failed:
            md += "\n```\n" + log[-4000:] + "\n```\n"
    print("\n" + md)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)


if __name__ == "__main__":
    main()
