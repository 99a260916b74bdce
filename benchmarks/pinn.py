"""PINN benchmark: pinnloss's solvers against jinns and DeepXDE, error against wall time.

    /work/benchvenv/bin/python benchmarks/pinn.py           # all sections (see below)
    python benchmarks/pinn.py --quick                       # short budgets (smoke)

Run time: the budgets sum to ~20 minutes of rows plus the peers' sizing runs; on the
shared machine at load 11–15 (2026-12-02) the sections took 15–30 minutes each, run as
three processes (`--only compile,poisson,cg`, `--only burgers`, `--only sizes,inverse`).
Under such load compilation alone takes 40–60 s (2–5 s on a quiet machine), so the short
fixed-time rows favour the solvers that compile fastest.
    python benchmarks/pinn.py --only poisson,compile        # some sections
    python benchmarks/pinn.py --scale 3                     # 3× every time budget

Sections (each prints a markdown table with the machine load, os.getloadavg()):

- poisson: −Δu = 2π² sin(πx) sin(πy) on [0, 1]², u = 0 on the boundary; MLP 2→32→32→1 tanh
  (1185 parameters); 500 interior + 100 boundary points; relative L2 on a 100×100 grid.
- burgers: u_t + u u_x = ν u_xx, ν = 0.01/π, x ∈ [-1, 1], t ∈ [0, 1], u(x, 0) = −sin πx,
  u(±1, t) = 0; MLP 2→20→20→20→1 tanh (921 parameters) on 3000 interior + 500 initial + 500
  boundary points (4.3 per parameter); relative L2 on a 256×100 grid against a Cole–Hopf
  reference computed here (benchmarks/pinn_problems.py, checked against Basdevant et al.
  1986). The issue's 2→32×3→1 net has 2241 parameters, so ≥ 4 points per parameter would
  be 9000 points: a dense LM step took ~10 s there under load, too slow for the 3-minute rows.
- inverse: u'' + k²u = 0 on [0, π], k unknown (truth 2), u observed at 12 points with
  noise 0.01, 400 collocation points; error |k − 2|.
- compile: `pl.least_squares` compile time against a hand-written jitted LM loop
  (benchmarks/pinn_handlm.py) on the Poisson problem, both with 2 steps: first − warm call.
- cg: the matrix-free CG solve (what `AutoLinearSolve` picks above `cg_threshold`) against
  the dense dual solve: relative residual of the damped normal equations at the start and
  after 40 LM steps, and the error each reaches in the same time budget.
- sizes: which solver reaches the lowest error in a fixed time on a small / medium / large
  Poisson PINN.

Every row has a wall budget (compile included): pinnloss runs stop at the first chunk
boundary past it (callback); jinns and DeepXDE get step counts sized to the budget and
report their real wall time. jinns and DeepXDE rows need the `bench` environment
(/work/benchvenv, see README); a missing library skips its rows with a note. Timings are
on a shared 2-core CPU: read them with the load printed beside each table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the inverse problem's model and residual are the Helmholtz example's
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pinn_peers as peers  # noqa: E402
import pinn_problems as pp  # noqa: E402
from helmholtz_inverse import FieldAndWavenumber, helmholtz  # noqa: E402
from pinn_handlm import make_hand_lm  # noqa: E402

import pinnloss as pl  # noqa: E402
from pinnloss._solvers._lm import DenseDual, MatrixFreeCG  # noqa: E402

# ---------------------------------------------------------------- problems


def poisson(model, p):
    lap = jnp.trace(jax.hessian(lambda q: model(q))(p))
    return -lap - 2 * jnp.pi**2 * jnp.sin(jnp.pi * p[0]) * jnp.sin(jnp.pi * p[1])


def boundary(model, p):
    return model(p)


def problem(width: int = 32, n_interior: int = 500, n_boundary: int = 100):
    """The 2-D Poisson model and objective (points as in pinn_problems.poisson_points)."""
    interior, bnd = pp.poisson_points(n_interior, n_boundary)
    obj = pl.Residual(poisson, jnp.asarray(interior), name="pde") + pl.Residual(
        boundary, jnp.asarray(bnd), name="bc"
    )
    key = jax.random.split(jax.random.key(0), 4)[3]
    model = eqx.nn.MLP(2, "scalar", width, 2, activation=jnp.tanh, key=key)
    return model, obj


def rel_l2(model):
    return pp.poisson_rel_l2(jax.vmap(model))


def burgers_pde(model, p):
    u, g = jax.value_and_grad(model)(p)
    uxx = jax.grad(lambda q: jax.grad(model)(q)[0])(p)[0]
    return g[1] + u * g[0] - pp.NU * uxx


def burgers_problem(b: pp.Burgers):
    obj = (
        pl.Residual(burgers_pde, jnp.asarray(b.interior), name="pde")
        + pl.DataMSE(jnp.asarray(b.initial), jnp.asarray(b.initial_u), name="ic")
        + pl.Residual(boundary, jnp.asarray(b.boundary), name="bc")
    )
    model = eqx.nn.MLP(2, "scalar", b.width, b.depth, activation=jnp.tanh, key=jax.random.key(0))
    return model, obj


def inverse_problem():
    rng = np.random.default_rng(1)
    x_obs = jnp.linspace(0.0, jnp.pi, 12)
    y_obs = jnp.sin(2.0 * x_obs) + 0.01 * jnp.asarray(rng.normal(size=12))
    obj = pl.DataMSE(x_obs, y_obs, name="data") + pl.Residual(
        helmholtz, jnp.linspace(0.0, jnp.pi, 400), name="pde"
    )
    net = eqx.nn.MLP("scalar", "scalar", 16, 2, activation=jnp.tanh, key=jax.random.key(1))
    return FieldAndWavenumber(net, jnp.asarray(1.0)), obj


# ---------------------------------------------------------------- running under a budget


def budgeted(run, budget: float):
    """`run(callback)` with a callback that stops at the first chunk past `budget` seconds;
    returns (solution, wall seconds, compile included)."""
    t0 = time.perf_counter()
    sol = run(lambda step, loss, model: time.perf_counter() - t0 > budget)
    jax.block_until_ready(sol.model)
    return sol, time.perf_counter() - t0


def pinnloss_rows(model, obj, budget, lm_chunk=5, qn_chunk=50, adam_chunk=500, which=None):
    """(name, runner) for pinnloss's solvers; each runner takes a callback."""
    lm = lambda cb: pl.least_squares(
        model, obj, max_steps=100_000, callback=cb, chunk_size=lm_chunk
    )
    gn = lambda cb: pl.solve(
        model, obj, pl.GaussNewton(), max_steps=100_000, callback=cb,
        chunk_size=lm_chunk,
    )  # fmt: skip

    def fit(opt, chunk):
        return lambda cb: pl.fit(
            model,
            obj,
            opt,
            steps=1_000_000,
            progress=False,
            callback=cb,
            chunk_size=chunk,
        )

    rows = {
        "lm": ("pinnloss `pl.least_squares` (defaults)", lm),
        "gn": ("pinnloss `pl.GaussNewton` (energy NG)", gn),
        "ssbroyden": ("pinnloss `pl.fit` SSBroyden", fit(pl.optimizers.ssbroyden(), qn_chunk)),
        "lbfgs": ("pinnloss `pl.fit` optax.lbfgs", fit(optax.lbfgs(), qn_chunk)),
        "adam": ("pinnloss `pl.fit` Adam 1e-3", fit(optax.adam(1e-3), adam_chunk)),
    }
    return [rows[k] for k in (which or rows)]


def header(title, extra=""):
    load = os.getloadavg()
    print(f"\n### {title}\n")
    print(
        f"jax {jax.__version__}, float64, 2-core CPU shared with other jobs; load average "
        f"(1/5/15 min) {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}{extra}\n"
    )


def table(rows):
    print("| library, solver | rel. L2 | steps | wall, compile included |")
    print("|---|---|---|---|")
    for name, err, steps, wall in rows:
        print(f"| {name} | {err:.1e} | {steps} | {wall:.0f} s |", flush=True)


def run_rows(rows, budget, error):
    out = []
    for name, run in rows:
        sol, wall = budgeted(run, budget)
        out.append((name, error(sol.model), int(sol.steps), wall))
        print(f"  {name}: {out[-1][1]:.2e} in {wall:.0f} s ({int(sol.steps)} steps)", flush=True)
    return out


def peer_rows(problem_name, budget, quick):
    """jinns and DeepXDE rows (or notes saying why they are missing)."""
    out = []
    for name, runner in peers.runners(problem_name, budget, quick):
        try:
            err, steps, wall = runner()
        except peers.Missing as e:
            print(f"  note: {name} skipped: {e}", flush=True)
            continue
        except Exception as e:  # a peer's failure is a finding, not the end of the run
            print(f"  note: {name} failed: {type(e).__name__}: {e}", flush=True)
            continue
        out.append((name, err, steps, wall))
        print(f"  {name}: {err:.2e} in {wall:.0f} s ({steps})", flush=True)
    return out


# ---------------------------------------------------------------- sections

RESULTS: dict[str, list] = {}


def section_poisson(budget, quick):
    header(f"2-D Poisson, 600 points, 1185 parameters, {budget:.0f} s per row")
    model, obj = problem()
    rows = run_rows(pinnloss_rows(model, obj, budget), budget, rel_l2)
    rows += peer_rows("poisson", budget, quick)
    table(rows)
    RESULTS["poisson"] = rows


def section_burgers(budget, quick):
    b = pp.Burgers()
    header(
        f"1-D Burgers ν = 0.01/π, {b.n_points} points, MLP 2→{b.width}×{b.depth}→1 "
        f"({b.n_params} parameters), {budget:.0f} s per row",
        f"; Cole–Hopf reference max slope {pp.check_burgers_exact():.5f} (Basdevant: 152.00516)",
    )
    model, obj = burgers_problem(b)
    which = ["lm", "ssbroyden", "lbfgs", "adam"]
    rows = run_rows(pinnloss_rows(model, obj, budget, which=which), budget, b.rel_l2_model)
    rows += peer_rows("burgers", budget, quick)
    table(rows)
    RESULTS["burgers"] = rows


def section_inverse(budget, quick):
    header(f"Inverse 1-D Helmholtz: recover k = 2 from 12 noisy values, {budget:.0f} s per row")
    model, obj = inverse_problem()
    xs = jnp.linspace(0.0, jnp.pi, 200)
    print("| library, solver | abs(k − 2) | field max error | steps | wall, compile included |")
    print("|---|---|---|---|---|")
    for name, run in pinnloss_rows(model, obj, budget, qn_chunk=100, adam_chunk=1000):
        sol, wall = budgeted(run, budget)
        k = float(jnp.abs(sol.model.k))
        field = float(jnp.max(jnp.abs(jax.vmap(sol.model)(xs) - jnp.sin(2.0 * xs))))
        print(f"| {name} | {abs(k - 2):.1e} | {field:.1e} | {int(sol.steps)} | {wall:.0f} s |")


def section_compile(quick):
    header("Compile time: `pl.least_squares` against a hand-written jitted LM loop (2 steps)")
    model, obj = problem()
    params, static = eqx.partition(model, eqx.is_inexact_array)
    t_pde, t_bc = obj.terms
    blocks = [
        (lambda p, q: poisson(eqx.combine(p, static), q), t_pde.points, 1 / np.sqrt(500.0)),
        (lambda p, q: boundary(eqx.combine(p, static), q), t_bc.points, 1 / np.sqrt(100.0)),
    ]

    def first_and_warm(run):
        t0 = time.perf_counter()
        jax.block_until_ready(run())
        t1 = time.perf_counter()
        jax.block_until_ready(run())
        return t1 - t0, time.perf_counter() - t1

    out = {}
    for geo in (True, False):
        hand = make_hand_lm(blocks, geodesic=geo)
        h = first_and_warm(lambda hand=hand: hand(params, 2))
        lm = pl.LevenbergMarquardt(geodesic=pl.GeodesicFD() if geo else None)
        p = first_and_warm(lambda lm=lm: pl.least_squares(model, obj, max_steps=2, solver=lm))
        out[geo] = (h[0] - h[1], p[0] - p[1])
    print("| geodesic acceleration | hand-written LM compile | pl.least_squares compile | ratio |")
    print("|---|---|---|---|")
    for geo, (h, p) in out.items():
        label = "finite difference (default)" if geo else "off"
        print(f"| {label} | {h:.1f} s | {p:.1f} s | {p / h:.2f}× |")
    # the hand loop is the same algorithm: check it reaches the same error
    if not quick:
        hand = make_hand_lm(blocks)
        sol = pl.least_squares(model, obj, max_steps=100)
        p100, _ = hand(params, 100)
        print(
            f"\nsame algorithm: after 100 steps rel. L2 {rel_l2(eqx.combine(p100, static)):.1e} "
            f"(hand) and {rel_l2(sol.model):.1e} (pinnloss)"
        )


def section_cg(budget, quick):
    header(
        "CG accuracy: matrix-free CG (tol 1e-6, 100 iterations: the `AutoLinearSolve` "
        "choice above cg_threshold) against the dense dual solve, 2-D Poisson"
    )
    model, obj = problem()
    steps = 0 if quick else 40
    sol = pl.least_squares(model, obj, max_steps=max(steps, 1)) if steps else None
    print("| iterate | μ / max diag(JᵀJ) | CG rel. residual | dense rel. residual | ‖δ_cg−δ‖/‖δ‖ |")
    print("|---|---|---|---|---|")
    for label, m in (("start", model), (f"after {steps} LM steps", sol and sol.model)):
        if m is None:
            continue
        for mu_rel, a, b_, d in pp.cg_check(m, obj, MatrixFreeCG(), DenseDual()):
            print(f"| {label} | {mu_rel:.0e} | {a:.1e} | {b_:.1e} | {d:.1e} |")
    rows = []
    for name, method in (("least_squares method='cg'", "cg"), ("method='dual'", "dual")):
        run = lambda cb, method=method: pl.least_squares(
            model, obj, max_steps=100_000, method=method, callback=cb, chunk_size=5
        )
        s, wall = budgeted(run, budget)
        rows.append((f"pinnloss {name}", rel_l2(s.model), int(s.steps), wall))
    print()
    table(rows)


SIZES = {  # name: (width, interior points, boundary points)
    "small": (16, 1200, 200),
    "medium": (32, 500, 100),
    "large": (64, 4400, 400),  # min(m, n) = 4417 > cg_threshold: auto picks CG
}


def section_sizes(budget, quick):
    header(f"What wins per problem size: 2-D Poisson, {budget:.0f} s per solver")
    which = ["lm", "ssbroyden", "lbfgs", "adam"]
    print("| size | parameters | points | " + " | ".join(which) + " | winner |")
    print("|---|---|---|" + "---|" * (len(which) + 1))
    for size, (width, ni, nb) in SIZES.items():
        model, obj = problem(width, ni, nb)
        n = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))
        rows = run_rows(pinnloss_rows(model, obj, budget, which=which), budget, rel_l2)
        errs = [r[1] for r in rows]
        cells = " | ".join(f"{e:.1e} ({r[2]} steps)" for e, r in zip(errs, rows))
        best = which[int(np.argmin(errs))]
        print(f"| {size} | {n} | {ni + nb} | {cells} | **{best}** |", flush=True)


def section_ttr(budget, quick):
    """Time to each error level: the default `pl.least_squares` on 2-D Poisson, the error
    evaluated every 5 steps (compile and evaluations included in the times)."""
    header(f"Time to error: 2-D Poisson, default pl.least_squares, up to {budget:.0f} s")
    model, obj = problem()
    marks, t0 = [], time.perf_counter()

    def cb(step, loss, m):
        marks.append((step, time.perf_counter() - t0, float(rel_l2(m))))
        return marks[-1][1] > budget

    pl.least_squares(model, obj, max_steps=100_000, callback=cb, chunk_size=5)
    for target in (1e-3, 2.1e-4, 1e-5, 1.6e-6, 1e-6, 1e-7, 1e-8):
        hit = next(((s, t, e) for s, t, e in marks if e <= target), None)
        found = f"step {hit[0]}, {hit[1]:.1f} s (error {hit[2]:.2e})" if hit else "not reached"
        print(f"  first rel. L2 <= {target:.1e}: {found}", flush=True)
    try:  # the peer as the issue ran it: jinns SSBroyden, 2000 steps, compile included
        peers._need("jinns")
        import pinn_jinns

        err, n, wall = pinn_jinns.poisson(None, "ssbroyden", steps=500 if quick else 2000)
        print(f"  jinns 1.10.2 SSBroyden, {n} steps: {err:.2e} in {wall:.1f} s", flush=True)
    except peers.Missing as e:
        print(f"  note: jinns skipped: {e}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: short budgets")
    ap.add_argument("--only", default="ttr,poisson,burgers,inverse,compile,cg,sizes")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every time budget")
    ap.add_argument("--no-peers", action="store_true", help="skip the jinns and DeepXDE rows")
    args = ap.parse_args(argv)
    if args.no_peers:
        peers.runners = lambda *a: []
    warnings.simplefilter("ignore", pl.UnderdeterminedWarning)
    s = args.scale * (0.15 if args.quick else 1.0)
    budgets = {"ttr": 45, "poisson": 40, "burgers": 120, "inverse": 20, "cg": 40, "sizes": 40}
    print(f"# PINN benchmark ({'quick' if args.quick else 'default'}; budgets × {s:g})")
    print(f"peers: {peers.available()}")
    for name in args.only.split(","):
        t0 = time.perf_counter()
        if name == "compile":
            section_compile(args.quick)
        else:
            globals()[f"section_{name}"](budgets[name] * s, args.quick)
        print(f"\n(section {name}: {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
