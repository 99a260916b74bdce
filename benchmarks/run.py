"""pinnloss benchmarks: one command, one table; every figure is a ratio measured in this run.

    python benchmarks/run.py            # full (about 5 minutes on a 2-core CPU)
    python benchmarks/run.py --quick    # fewer steps and repeats (about 2 minutes)
    python benchmarks/run.py --readme   # also write the table into docs/guides/performance.md

Problem (benchmarks/problem.py): MLP 1→32→32→1 (1153 parameters) on 9 per-atom E(V) points
of fcc Cu (FLEUR, ACWF) + 1e2·E'(V0)² + (E''(V0) − B0/V0)², float64, Adam(1e-3).
Timings are the best of several repeats after compilation (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

if __name__ == "__main__" and "--worker" not in sys.argv:
    import jax

    jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from problem import adam_step, best, cost_analysis  # noqa: E402

MARK = "<!-- BENCHMARK TABLE -->"
START, END = "<!-- BENCHMARK TABLE START -->", "<!-- BENCHMARK TABLE END -->"


def ready(x):
    return jax.block_until_ready(x)


def matmul_gflops(n=2048, repeats=3):
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float64)
    f = jax.jit(lambda a: a @ a)
    ready(f(a))
    return 2 * n**3 / best(lambda: ready(f(a)), repeats) / 1e9


class Table:
    def __init__(self):
        self.rows = []

    def add(self, what, measured, baseline, ratio, target="", met=None):
        mark = "" if met is None else ("✓" if met else "✗")
        self.rows.append((what, measured, baseline, ratio, target, mark))
        print(f"  {what}: {measured} | {baseline} | {ratio} {target} {mark}", flush=True)

    def markdown(self):
        head = "| benchmark | pinnloss | baseline | ratio | target | met |\n"
        head += "|---|---|---|---|---|---|\n"
        return head + "\n".join("| " + " | ".join(r) + " |" for r in self.rows)


# ----------------------------------------------------------------------------- sections


def fit_vs_scan(table, steps, repeats):
    from baselines import adam_loop_jit, objective_loss
    from problem import make_model, make_objective, problem_arrays

    import pinnloss as pl

    model, obj, opt = make_model(), make_objective(), optax.adam(1e-3)
    data = problem_arrays()
    params, static = eqx.partition(model, eqx.is_inexact_array)
    lr = jnp.asarray(1e-3)
    runs = {
        "pl": lambda: ready(pl.fit(model, obj, opt, steps=steps, progress=False)),
        # the same pinnloss objective, passed as an argument to a minimal loop
        "loop": lambda: ready(adam_loop_jit(params, static, obj, lr, steps, objective_loss)),
        # a hand-written loss of the same data, passed as arguments
        "hand": lambda: ready(adam_loop_jit(params, static, data, lr, steps)),
    }
    out = {k: f() for k, f in runs.items()}
    times = {k: [] for k in runs}
    for _ in range(repeats):  # interleaved, so load changes hit all alike
        for k, f in runs.items():
            times[k].append(best(f, 1))
    us = {k: 1e6 * min(v) / steps for k, v in times.items()}
    losses = {
        "pl": float(out["pl"].loss),
        "loop": float(out["loop"][1][-1]),
        "hand": float(out["hand"][1][-1]),
    }
    ratio = us["pl"] / us["loop"]
    table.add(
        f"pl.fit per Adam step vs a hand-written jitted lax.scan Adam loop taking the same "
        f"objective as an argument ({steps} steps; final loss {losses['pl']:.2e} vs "
        f"{losses['loop']:.2e})",
        f"{us['pl']:.1f} µs",
        f"{us['loop']:.1f} µs",
        f"{ratio:.2f}×",
        "≤ 1.1×",
        ratio <= 1.1,
    )
    table.add(
        f"… vs the same loop on a hand-written loss of the same data (final loss "
        f"{losses['hand']:.2e})",
        f"{us['pl']:.1f} µs",
        f"{us['hand']:.1f} µs",
        f"{us['pl'] / us['hand']:.2f}×",
    )
    return us["pl"]


def fit_vs_torch(table, us_pl, steps):
    from baselines import torch_adam, torch_available
    from problem import make_model

    if not torch_available():
        table.add("pl.fit vs eager PyTorch", "—", "torch not installed", "—", "≥ 50×", None)
        return
    import torch

    torch_adam(make_model(), 20)  # warm up
    loss, dt = torch_adam(make_model(), steps)
    us_t = 1e6 * dt / steps
    ratio = us_t / us_pl
    table.add(
        f"pl.fit vs eager PyTorch {torch.__version__} per step (double backward, 1 thread)",
        f"{us_pl:.1f} µs",
        f"{us_t:.0f} µs",
        f"{ratio:.0f}× faster",
        "≥ 50×",
        ratio >= 50,
    )


def lsq_vs_adam(table, repeats):
    from problem import cu_reference, make_model, make_objective

    import pinnloss as pl

    model, obj, opt = make_model(), make_objective(), optax.adam(1e-3)
    ref = cu_reference()
    solve = lambda: ready(pl.least_squares(model, obj, atol=1e-10, max_steps=200))
    adam = lambda: ready(pl.fit(model, obj, opt, steps=5000, progress=False))
    r_lsq, r_adam = solve(), adam()
    t_lsq, t_adam = best(solve, repeats), best(adam, repeats)
    l_lsq, l_adam = float(r_lsq.loss), float(r_adam.loss)
    speed, better = t_adam / t_lsq, l_adam / max(l_lsq, 1e-300)

    def v0_err(m):
        # E'(V) = 0 by Newton from the reference V0
        v = jnp.asarray(ref["v0"])
        for _ in range(20):
            v = v - jax.grad(m)(v) / jax.grad(jax.grad(m))(v)
        return abs(float(v) / ref["v0"] - 1)

    table.add(
        f"pl.least_squares to loss 1e-10 vs 5000 Adam steps: time ({int(r_lsq.steps)} LM "
        f"steps; V0 error {v0_err(r_lsq.model):.0e} vs {v0_err(r_adam.model):.0e})",
        f"{1e3 * t_lsq:.1f} ms",
        f"{1e3 * t_adam:.0f} ms",
        f"{speed:.0f}× faster",
        "≥ 5×",
        speed >= 5,
    )
    table.add(
        "… and final loss",
        f"{l_lsq:.1e}",
        f"{l_adam:.1e}",
        f"{better:.0e}× lower",
        "≥ 1e3×",
        better >= 1e3,
    )


def lsq_cg(table, n_points, width, steps):
    import pinnloss as pl

    def poisson(model, x):  # u'' = -π² sin(πx), u(0) = u(1) = 0: u = sin(πx)
        return jax.grad(jax.grad(model))(x) + jnp.pi**2 * jnp.sin(jnp.pi * x)

    obj = pl.Residual(poisson, jnp.linspace(0.0, 1.0, n_points), name="pde") + 1e2 * pl.DataMSE(
        jnp.array([0.0, 1.0]), jnp.zeros(2), name="boundary"
    )
    model = eqx.nn.MLP("scalar", "scalar", width, 2, activation=jnp.tanh, key=jax.random.key(0))
    n = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    out = {}
    for method in ("primal", "cg"):
        run = lambda method=method: ready(
            pl.least_squares(model, obj, method=method, max_steps=steps)
        )
        r = run()
        out[method] = (best(run, 1), float(r.loss))
    (t_d, l_d), (t_c, l_c) = out["primal"], out["cg"]
    table.add(
        f"pl.least_squares on a 1-D Poisson PINN ({n_points + 2} residuals, {n} parameters, "
        f"{steps} steps): matrix-free CG vs dense primal (loss {l_c:.1e} vs {l_d:.1e})",
        f"{t_c:.2f} s",
        f"{t_d:.2f} s",
        f"{t_d / t_c:.1f}× faster",
    )


def sweep_worker(steps, sizes, chunk, repeats):
    """Run in a subprocess with N host devices; prints one JSON line per measurement."""
    jax.config.update("jax_enable_x64", True)
    from problem import make_model, make_objective

    import pinnloss as pl

    obj, opt = make_objective(), optax.adam(1e-3)
    params, static = eqx.partition(make_model(), eqx.is_inexact_array)

    one_step = adam_step(obj, opt, static)

    ca = cost_analysis(jax.jit(one_step).lower(params, opt.init(params)).compile())
    flops_step = float(ca["flops"])
    mm = matmul_gflops()

    def fit_one(key):
        return pl.fit(make_model(key), obj, opt, steps=steps, progress=False).loss

    for b in sizes:
        for c in (None, chunk) if b > chunk else (None,):
            keys = jax.random.split(jax.random.key(0), b)
            run = lambda keys=keys, c=c: ready(pl.sweep(fit_one, keys, chunk_size=c))
            run()
            t = best(run, repeats)
            gflops = b * steps * flops_step / t / 1e9
            print(
                json.dumps(
                    dict(
                        devices=jax.device_count(),
                        fits=b,
                        chunk=c,
                        t=t,
                        fits_per_s=b / t,
                        gflops=gflops,
                        matmul=mm,
                        flops_step=flops_step,
                    )
                ),
                flush=True,
            )


def sweeps(table, steps, repeats, mm_main):
    results = []
    for n_dev, sizes in ((1, (1, 64, 1024)), (2, (64, 1024)), (4, (64, 1024))):
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_dev}"
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(steps),
            ",".join(map(str, sizes)),
            "16",
            str(repeats),
        ]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        results += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    base = next(r for r in results if r["devices"] == 1 and r["fits"] == 1)
    # one denominator for all rows: the best matmul rate seen in this run (the main
    # process's, or a worker's, whichever is higher: the stricter comparison)
    mm = max([mm_main] + [r["matmul"] for r in results])
    for r in results:
        pct = 100 * r["gflops"] / mm
        target, met = "", None
        if r["fits"] == 1024:
            target, met = "≥ 30 % of matmul", pct >= 30
        how = f", chunks of {r['chunk']} (CPU default)" if r["chunk"] else ", one vmap"
        table.add(
            f"pl.sweep of {r['fits']} Adam fits × {steps} steps on {r['devices']} host "
            f"device(s){how}: fits/s, GFLOP/s (XLA cost analysis, "
            f"{r['flops_step'] / 1e3:.0f} kFLOP/step)",
            f"{r['fits_per_s']:.1f} fits/s, {r['gflops']:.2f} GFLOP/s",
            f"f64 2048² matmul {mm:.1f} GFLOP/s",
            f"{pct:.1f} % of matmul; {r['fits_per_s'] / base['fits_per_s']:.1f}× 1 fit",
            target,
            met,
        )


def multiprocess(table, n, repeats):
    """examples/sweep_100k.py on 1 and 2 processes (pinnloss.launch): curves/s."""
    example = os.path.join(ROOT, "examples", "sweep_100k.py")
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    out = {}
    for procs in (1, 2):
        cmd = [sys.executable, example, "--n", str(n), "--repeats", str(repeats)]
        if procs > 1:
            cmd = [sys.executable, "-m", "pinnloss.launch", "-n", str(procs), *cmd[1:]]
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        if run.returncode != 0:
            raise RuntimeError(run.stdout[-2000:] + run.stderr[-2000:])
        line = next(ln for ln in run.stdout.splitlines() if '"curves_per_s"' in ln)
        out[procs] = json.loads(line[line.index("{") :])
    one = out[1]["curves_per_s"]
    for procs, r in out.items():
        table.add(
            f"examples/sweep_100k.py: {n} Birch–Murnaghan LM fits in one pl.sweep on {procs} "
            f"process(es) ({'python -m pinnloss.launch -n 2' if procs > 1 else 'one process'}; "
            f"{r['devices']} device(s); best of {repeats}, compiled; first run "
            f"{r['seconds_first']:.1f} s; {r['failed']} failed)",
            f"{r['curves_per_s']:.0f} curves/s",
            f"1 process {one:.0f} curves/s",
            f"{r['curves_per_s'] / one:.2f}×",
        )


def roofline_row(table, steps, repeats):
    """benchmarks/roofline.py in a subprocess with one host device per core."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count()}"
    cmd = [sys.executable, os.path.join(HERE, "roofline.py"), "--json", "--repeats", str(repeats)]
    if steps < 200:
        cmd.append("--quick")
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    r = json.loads(run.stdout.strip().splitlines()[-1])
    us = r["per_chunk_step_us"]
    table.add(
        f"pl.sweep of {r['fits']} Adam fits × {r['steps']} steps on {r['devices']} host devices "
        f"vs its roofline (benchmarks/roofline.py; per 16-fit step: {r['chunk_flops'] / 1e6:.1f} "
        f"MFLOP → {us['compute']:.0f} µs at {r['peak_per_core_gflops']:.1f} GFLOP/s/core, "
        f"{r['chunk_bytes'] / 1e6:.1f} MB → {us['memory (cache)']:.0f} µs at "
        f"{r['bw_cache_gbs']:.0f} GB/s in cache, {r['chunk_kernels']} kernels → "
        f"{us['kernel overhead']:.0f} µs at {r['kernel_us']:.2f} µs each; bound: "
        f"{r['limiter']})",
        f"{r['sweep_s']:.2f} s ({r['sweep_pct_of_bound']:.0f} % of bound)",
        f"bound {r['bound_s']:.2f} s; hand-written scan {r['hand_s']:.2f} s "
        f"({r['hand_pct_of_bound']:.0f} %)",
        f"{r['sweep_s'] / r['hand_s']:.2f}× the hand-written scan",
    )


def eos_vs_ase(table, repeats):
    from ase.eos import EquationOfState
    from problem import DATA

    from pinnloss import eos

    path = os.path.join(DATA, "results-unaries-verification-PBE-v1-fleur.json")
    if not os.path.exists(path):
        table.add("fit_eos batched vs ASE", "—", "ACWF data not found", "—")
        return
    with open(path) as f:
        raw = json.load(f)
    keys = [k for k, v in sorted(raw["eos_data"].items()) if v is not None and len(v) == 7]
    curves = []
    for k in keys:
        try:
            curves.append(eos.load(path, key=k))
        except ValueError:
            pass
    batched = lambda: ready(eos.fit_eos(curves, "birch_murnaghan", check=False))
    forms = batched()
    t_pl = best(batched, repeats)

    def ase_all():
        out = []
        for c in curves:
            v = np.asarray(c.volume)
            e = np.asarray(c.energy) - np.min(np.asarray(c.energy))
            out.append(EquationOfState(v, e, eos="birchmurnaghan").fit()[0])
        return out

    v0_ase = ase_all()
    t_ase = best(ase_all, repeats)
    rel = np.abs(np.asarray(forms.v0) / np.asarray(v0_ase) - 1)
    table.add(
        f"eos.fit_eos on {len(curves)} ACWF FLEUR curves, one batched call, vs ASE "
        f"EquationOfState per curve (median V0 difference {np.nanmedian(rel):.0e})",
        f"{1e3 * t_pl:.0f} ms",
        f"{1e3 * t_ase:.0f} ms",
        f"{t_ase / t_pl:.1f}× faster",
    )


def cli_cache(table):
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, PINNLOSS_CACHE_DIR=d, JAX_PLATFORMS="cpu")
        env.pop("PINNLOSS_NO_CACHE", None)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pinnloss.cli", "fit"],
                env=env,
                check=True,
                capture_output=True,
                cwd=d,
            )
            times.append(time.perf_counter() - t0)
    table.add(
        "`pinnloss fit` wall time, second run vs first (persistent compilation cache)",
        f"{times[1]:.1f} s",
        f"{times[0]:.1f} s",
        f"{times[0] / times[1]:.1f}× faster",
    )


def derivative_methods(table):
    from derivatives import compare
    from problem import cu_reference, make_model

    rows = compare(
        make_model(),
        jnp.asarray(cu_reference()["v0"]),
        lambda f, *a: (ready(f(*a)), best(lambda: ready(f(*a)), 5))[1],
    )
    base = {k: g for k, name, v, g, _ in rows if name == "nested grad"}
    for k, name, v, g, _ in rows:
        table.add(
            f"d^{k}E/dV^{k}: {name} (value; gradient w.r.t. parameters)",
            f"{v:.2f} µs; {g:.2f} µs",
            f"nested grad {base[k]:.2f} µs",
            f"{g / base[k]:.2f}× nested grad",
        )


def precision(table, steps, repeats):
    from problem import make_model, make_objective

    import pinnloss as pl

    opt = optax.adam(1e-3)
    out = {}
    for dt in (jnp.float32, jnp.float64):
        model, obj = make_model(dtype=dt), make_objective(dtype=dt)
        run = lambda model=model, obj=obj: ready(
            pl.fit(model, obj, opt, steps=steps, progress=False)
        )
        r = run()
        out[jnp.dtype(dt).name] = (best(run, repeats) / steps * 1e6, float(r.loss))
    (t32, l32), (t64, l64) = out["float32"], out["float64"]
    table.add(
        f"pl.fit float32 vs float64 per step ({steps} steps; loss {l32:.1e} vs {l64:.1e})",
        f"{t32:.1f} µs",
        f"{t64:.1f} µs",
        f"{t64 / t32:.2f}× faster in float32",
    )


# ----------------------------------------------------------------------------- main


def write_readme(table_md, header):
    path = os.path.join(ROOT, "docs", "guides", "performance.md")  # the site's Performance page
    with open(path) as f:
        text = f.read()
    block = f"{START}\n{header}\n\n{table_md}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    elif MARK in text:
        text = text.replace(MARK, block, 1)
    else:
        raise SystemExit(f"{path} has no benchmark marker")
    with open(path, "w") as f:
        f.write(text)


def main():
    if "--worker" in sys.argv:
        i = sys.argv.index("--worker")
        steps, sizes, chunk, repeats = sys.argv[i + 1 : i + 5]
        sweep_worker(int(steps), [int(s) for s in sizes.split(",")], int(chunk), int(repeats))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    p.add_argument(
        "--readme", action="store_true", help="write the table into docs/guides/performance.md"
    )
    p.add_argument("--only", default="", help="comma-separated sections to run")
    args = p.parse_args()
    q = args.quick
    reps = 3 if q else 10
    table = Table()
    only = set(args.only.split(",")) - {""}
    on = lambda name: not only or name in only
    t0 = time.time()
    mm = matmul_gflops()
    print(f"float64 2048² matmul: {mm:.1f} GFLOP/s", flush=True)
    us_pl = None
    if on("fit") or on("torch"):
        us_pl = fit_vs_scan(table, 2000 if q else 5000, reps)
    if on("torch"):
        fit_vs_torch(table, us_pl, 200 if q else 1000)
    if on("lsq"):
        lsq_vs_adam(table, reps)
    if on("cg"):
        lsq_cg(table, 1000 if q else 2000, 8 if q else 16, 20)
    if on("sweep"):
        sweeps(table, 50 if q else 200, 2, mm)
    if on("dist"):
        multiprocess(table, 20_000 if q else 100_000, 2)
    if on("roofline"):
        roofline_row(table, 50 if q else 200, 2 if q else 3)
    if on("eos"):
        eos_vs_ase(table, 2 if q else 3)
    if on("cli"):
        cli_cache(table)
    if on("deriv"):
        derivative_methods(table)
    if on("precision"):
        precision(table, 2000 if q else 5000, reps)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = (
        f"`python benchmarks/run.py{' --quick' if q else ''}` on a {os.cpu_count()}-core CPU "
        f"({platform.processor() or platform.machine()}), jax {jax.__version__}, float64; "
        f"float64 2048² matmul {mm:.1f} GFLOP/s in this run; load average {load:.1f} at the "
        f"end (a shared machine: timings are the best of several repeats); "
        f"{time.time() - t0:.0f} s in all."
    )
    md = table.markdown()
    print("\n" + header + "\n\n" + md)
    if args.readme:
        write_readme(md, header)


if __name__ == "__main__":
    main()
