"""Which solver wins per size: 2-D Poisson PINNs from ~1k to ~41k parameters, one run.

    python benchmarks/pinn_sizes.py                     # the full table (~20 min quiet)
    python benchmarks/pinn_sizes.py --budget 20 --sizes 1k,4k   # a short run
    python benchmarks/pinn_sizes.py --json              # also one JSON object per run

Problem: −Δu = 2π² sin(πx) sin(πy) on [0, 1]², u = 0 on the boundary (benchmarks/pinn.py);
tanh MLPs 2→w×d→1; relative L2 error on a 100×100 grid. Sizes (parameters, points):

- 1k: 2→32×2→1, 1185 parameters, 500 + 100 points (the PINN benchmark's medium net);
- 4k: 2→64×2→1, 4417 parameters, 4400 + 400 points (the old per-size table's large net);
- 10k: 2→100×2→1, 10 501 parameters, 4500 + 500 points;
- 41k: 2→100×5→1, 40 801 parameters (PINNacle's 5×100 net), 1600 + 400 points (4000 points
  with J stored took over 7 GB while forming J on this 23 GB machine shared by 8 jobs).

Solvers, each under the same wall budget counted from the end of the first compiled chunk
(a callback stops the run at the first chunk boundary past it; at load 20+ compiling
alone took 30–80 s, a budget that included it would measure compilation only):
`pl.fit` Adam 1e-3 and SSBroyden
(`pl.optimizers.ssbroyden`), `pl.least_squares` with the dense dual step (where the m×m
system is affordable), with `MatrixFreeCG` (100 iterations), with `NystromCG` (rank 100),
and with `method="auto"` (what the default picks). Each row reports the error, the steps,
the first chunk's wall time, an estimate of its compile time (first chunk minus its steps at
the median later rate) and the wall time, compile included. One run per cell: timings on the shared
2-core CPU vary with the load printed above each table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pinn_problems as pp  # noqa: E402

import pinnloss as pl  # noqa: E402

SIZES = {  # name: (width, depth, interior points, boundary points)
    "1k": (32, 2, 500, 100),
    "4k": (64, 2, 4400, 400),
    "10k": (100, 2, 4500, 500),
    "41k": (100, 5, 1600, 400),
}


def poisson(model, p):
    lap = jnp.trace(jax.hessian(lambda q: model(q))(p))
    return -lap - 2 * jnp.pi**2 * jnp.sin(jnp.pi * p[0]) * jnp.sin(jnp.pi * p[1])


def boundary(model, p):
    return model(p)


def problem(width, depth, n_interior, n_boundary):
    interior, bnd = pp.poisson_points(n_interior, n_boundary)
    obj = pl.Residual(poisson, jnp.asarray(interior), name="pde") + pl.Residual(
        boundary, jnp.asarray(bnd), name="bc"
    )
    key = jax.random.split(jax.random.key(0), 4)[3]
    model = eqx.nn.MLP(2, "scalar", width, depth, activation=jnp.tanh, key=key)
    return model, obj


def n_params(model):
    return sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))


def rel_l2(model):
    return pp.poisson_rel_l2(jax.jit(jax.vmap(model)))


def run_budgeted(run, budget):
    """`run(callback)` stopped at the first chunk boundary `budget` s after the first chunk
    ended (so compilation is outside the budget, and reported apart); returns the solution,
    the wall time and the callback times (seconds since the start, steps)."""
    t0 = time.perf_counter()
    marks = []

    def cb(step, loss, model):
        marks.append((time.perf_counter() - t0, int(step)))
        return marks[-1][0] - marks[0][0] > budget

    sol = run(cb)
    jax.block_until_ready(sol.model)
    return sol, time.perf_counter() - t0, marks


def compile_estimate(marks):
    """First chunk's time minus what its steps cost at the median later rate."""
    if len(marks) < 2:
        return float("nan")
    rates = [(t1 - t0) / max(s1 - s0, 1) for (t0, s0), (t1, s1) in zip(marks, marks[1:])]
    return max(marks[0][0] - np.median(rates) * marks[0][1], 0.0)


def solvers(n, m):
    lm = lambda ls: pl.LevenbergMarquardt(linear_solve=ls)
    chunk = 2  # short chunks: the first one (compile) holds few steps

    def least_squares(solver):
        return lambda model, obj, cb: pl.least_squares(
            model, obj, solver=solver, max_steps=100_000, throw=False, callback=cb,
            chunk_size=chunk,
        )  # fmt: skip

    def fit(opt, chunk):
        return lambda model, obj, cb: pl.fit(
            model, obj, opt, steps=10_000_000, progress=False, callback=cb, chunk_size=chunk,
            throw=False,
        )  # fmt: skip

    rows = {
        "adam": fit(optax.adam(1e-3), 100 if n < 20_000 else 20),
        "ssbroyden": fit(pl.optimizers.ssbroyden(), 20 if n < 20_000 else 5),
    }
    if min(m, n) <= 4800:  # beyond a ~4800² Gram matrix per step dense LM makes ~no steps
        rows["lm-dense"] = least_squares(lm(pl.DenseDual() if m < n else pl.DensePrimal()))
    rows["lm-cg"] = least_squares(lm(pl.MatrixFreeCG()))
    rows["lm-nystrom"] = least_squares(lm(pl.NystromCG()))
    return rows, type(pl.AutoLinearSolve().resolve(m, n, 8)).__name__


def header(budget):
    load = os.getloadavg()
    print(
        f"\n2-D Poisson PINN, {budget:.0f} s per solver after the first chunk, jax "
        f"{jax.__version__}, float64, 2-core CPU shared with other jobs; load average "
        f"(1/5/15 min) at the start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n",
        flush=True,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--budget", type=float, default=60.0, help="wall seconds per solver after compiling"
    )
    ap.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: 1k,4k,10k,41k")
    ap.add_argument("--only", default=None, help="comma-separated solver names")
    ap.add_argument("--json", action="store_true", help="also one JSON line per run")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)  # UnderdeterminedWarning etc.
    header(args.budget)
    table = []
    for size in args.sizes.split(","):
        width, depth, ni, nb = SIZES[size]
        model, obj = problem(width, depth, ni, nb)
        n, m = n_params(model), ni + nb
        rows, auto_pick = solvers(n, m)
        print(f"  {size}: {n} parameters, {m} points; method='auto' picks {auto_pick}", flush=True)
        if args.only:
            rows = {k: v for k, v in rows.items() if k in args.only.split(",")}
        for name, run in rows.items():
            try:
                sol, wall, marks = run_budgeted(
                    lambda cb, r=run, a=model, o=obj: r(a, o, cb), args.budget
                )
            except Exception as e:  # an out-of-memory row is a finding, not the end of the run
                print(f"  {size} {name}: failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                continue
            err = rel_l2(sol.model)
            first = marks[0][0] if marks else wall
            rec = dict(
                size=size, n=n, m=m, solver=name, auto=auto_pick,
                l2=err, steps=int(sol.steps), first_chunk_s=first,
                compile_s=compile_estimate(marks), wall_s=wall, load=os.getloadavg()[0],
            )  # fmt: skip
            table.append(rec)
            print(
                f"  {size} ({n} params, {m} points) {rec['solver']}: {err:.1e}, "
                f"{rec['steps']} steps, first chunk {first:.0f} s (compile ≈ "
                f"{rec['compile_s']:.0f} s), {wall:.0f} s, load {rec['load']:.1f}",
                flush=True,
            )
            if args.json:
                print(json.dumps(rec), flush=True)
    print("\n| size | parameters | points | solver | rel. L2 | steps | first chunk (compile ≈) "
          "| wall | load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print(
            f"| {r['size']} | {r['n']} | {r['m']} | {r['solver']} | {r['l2']:.1e} | "
            f"{r['steps']} | {r['first_chunk_s']:.0f} s ({r['compile_s']:.0f} s) | "
            f"{r['wall_s']:.0f} s | {r['load']:.1f} |"
        )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
