"""Fit 100 000 E(V) curves in one sweep, on one process or many (JAX's multi-process runtime).

The curves are resampled from the bundled fcc Cu curve (WIEN2k, ACWF; `eos.example_data()`):
each is the reference Birch–Murnaghan fit plus the reference's residuals drawn with
replacement plus 0.5 meV/atom Gaussian noise. Each curve gets its own Levenberg–Marquardt
fit of a Birch–Murnaghan form; `pl.sweep` spreads the fits over every device of every
process, and every process receives all results.

    python examples/sweep_100k.py                           # one process, 100 000 curves
    python -m pinnloss.launch -n 2 examples/sweep_100k.py   # two processes on this machine
    srun --ntasks=8 python examples/sweep_100k.py           # SLURM: one process per task
    python examples/sweep_100k.py --n 2000 --repeats 2      # small; time a second, compiled run

Prints (on process 0) one JSON line: curves, processes, devices, seconds, curves/s, the
spread of V0 and B0, and the largest difference from SciPy's `curve_fit` on a few curves.
"""

from __future__ import annotations

import argparse
import json
import time

import pinnloss as pl

NOISE = 5e-4  # eV/atom


def make_curves(n: int, seed: int = 0):
    """`(volumes, energies[n, 7], reference form)`: n resampled Cu curves, same on every process."""
    import jax
    import jax.numpy as jnp

    from pinnloss import eos

    data = eos.example_data()
    v = jnp.asarray(data.volume)
    # the least-squares Birch–Murnaghan fit in closed form (a cubic in V^(-2/3)): what
    # eos.fit_eos returns, without compiling an iterative solver for one curve
    e0, v0, b0, b1, _ = eos.cubic_guess(v, jnp.asarray(data.energy))
    ref = eos.BirchMurnaghan(e0=e0 + data.energy_shift, v0=v0, b0=b0, b1=b1)
    e = jnp.asarray(data.energy) + data.energy_shift  # absolute, as ref(v)
    base = ref(v)
    resid = e - base
    k1, k2 = jax.random.split(jax.random.key(seed))
    pick = jax.random.randint(k1, (n, v.size), 0, v.size)
    energies = base + resid[pick] + NOISE * jax.random.normal(k2, (n, v.size), v.dtype)
    return v, energies, ref


def fitter(v, ref):
    """`fit(energies) -> (v0, b0, b1, loss, ok)` for one curve, started at the reference."""
    import jax.numpy as jnp

    from pinnloss import eos

    shift = jnp.asarray(ref.e0)
    start = eos.BirchMurnaghan(e0=0.0, v0=ref.v0, b0=ref.b0, b1=ref.b1)

    def fit(energies):
        r = pl.least_squares(start, pl.DataMSE(v, energies - shift), max_steps=50)
        return {
            "v0": r.model.v0,
            "b0": r.model.b0,
            "b1": r.model.b1,
            "loss": r.loss,
            "ok": r.converged,
        }

    return fit


def scipy_check(v, energies, ref, out, k: int = 3) -> float:
    """Largest relative difference of V0, B0, B0' from scipy.optimize.curve_fit (k curves)."""
    import numpy as np
    from scipy.optimize import curve_fit

    def bm(x, e0, v0, b0, b1):
        eta = (v0 / x) ** (2.0 / 3.0)
        return e0 + 9.0 * v0 * b0 / 16.0 * ((eta - 1) ** 3 * b1 + (eta - 1) ** 2 * (6 - 4 * eta))

    x = np.asarray(v)
    worst = 0.0
    for i in range(min(k, energies.shape[0])):
        y = np.asarray(energies[i]) - float(ref.e0)  # the same start, independently fitted
        p0 = [0.0, float(ref.v0), float(ref.b0), float(ref.b1)]
        p, _ = curve_fit(bm, x, y, p0=p0, xtol=1e-13, ftol=1e-13, gtol=1e-13)
        mine = np.asarray([out[k][i] for k in ("v0", "b0", "b1")])
        worst = max(worst, float(np.max(np.abs(mine / p[1:] - 1))))
    return worst


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="number of curves (default 100000)")
    p.add_argument("--chunk", type=int, default=None, help="fits vmapped at once per device")
    p.add_argument("--repeats", type=int, default=1, help="runs to time (best is reported)")
    p.add_argument("--checkpoint", default=None, help="resume from / save to this file")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error(f"--n must be a positive integer; got {args.n}.")

    pl.distributed_initialize()  # before anything touches a device; no-op for one process
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)  # this script's choice: DFT energies need it

    v, energies, ref = make_curves(args.n)
    fit = fitter(v, ref)
    chunk = args.chunk if args.chunk is not None else "auto"
    times = []
    for _ in range(max(args.repeats, 1)):
        t0 = time.perf_counter()
        out = pl.sweep(fit, energies, chunk_size=chunk, checkpoint=args.checkpoint)
        out = jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    out = {k: np.asarray(x) for k, x in out.items()}
    b0_gpa = out["b0"] * 160.21766208
    summary = {
        "curves": args.n,
        "processes": jax.process_count(),
        "devices": jax.device_count(),
        "seconds": min(times),
        "seconds_first": times[0],
        "curves_per_s": args.n / min(times),
        "failed": int((~out["ok"]).sum()),
        "v0_median": float(np.median(out["v0"])),
        "v0_std": float(np.std(out["v0"])),
        "b0_gpa_median": float(np.median(b0_gpa)),
        "b0_gpa_std": float(np.std(b0_gpa)),
        "max_rel_diff_vs_scipy": scipy_check(v, energies, ref, out),
    }
    if jax.process_index() == 0:
        print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
