"""Peak memory: `pinnloss fit` on large E(V) files, and one solver step on a million points.

    python benchmarks/memory.py                 # both tables, a few minutes on a 2-core CPU
    python benchmarks/memory.py --only fit      # `pinnloss fit` on 1e3 .. 1e6-row files
    python benchmarks/memory.py --only step     # least_squares vs Adam, one step on 1e6 points
    python benchmarks/memory.py --only fit --max-rows 100000

`fit`: CSV files of 10³ … 10⁶ rows (a Birch–Murnaghan curve plus 0.1 meV noise) are fitted
by the `pinnloss fit` command line, each in a fresh process (`--no-cache`: compile included);
the peak RSS of that process (`getrusage(RUSAGE_CHILDREN)` in a fresh parent) is printed
against the file size. The growth column is what the fit adds over the 10³-row run (the
Python, JAX and XLA start-up), divided by what the file adds: it should stay a few times
the data. Version 0.2 drew a (2000, n) matrix for the lag-1 test of the residuals: 0.85 GB
at 10⁴ rows, 5 GB at 10⁵, past 8 GB at 3·10⁵ (issue 17).

`step`: MLP 1→32→32→1 (1153 parameters), `pl.DataMSE` on 10⁶ points, float64: one
`pl.least_squares` step (method="auto", which goes matrix-free above 2²⁵ Jacobian entries)
and one `pl.fit` Adam step, each in a fresh process. The issue that asked for this measured
14.3 GB for the least-squares step (Adam 1.1 GB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

STEP_CHILD = r"""
import resource, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import equinox as eqx, jax.numpy as jnp, optax
import pinnloss as pl
x = jnp.linspace(-1.0, 1.0, 10**6)
obj = pl.DataMSE(x, jnp.sin(3 * x))
m = eqx.nn.MLP("scalar", "scalar", 32, 2, activation=jnp.tanh, key=jax.random.key(0))
t = time.perf_counter()
if sys.argv[1] == "lsq":
    r = pl.least_squares(m, obj, max_steps=1, throw=False)
else:
    r = pl.fit(m, obj, optax.adam(1e-3), steps=1, progress=False)
jax.block_until_ready(r.loss)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, time.perf_counter() - t)
"""

# a fresh parent per run: RUSAGE_CHILDREN is the largest child it has waited for
FIT_PARENT = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run([sys.executable, "-m", "pinnloss.cli", "fit", sys.argv[1], "--no-cache"],
                   capture_output=True, text=True)
wall = time.perf_counter() - t
if p.returncode:
    sys.exit(p.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, wall)
"""


def peak(which: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", STEP_CHILD, which], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def step_table() -> None:
    (gb_lsq, t_lsq), (gb_adam, t_adam) = peak("lsq"), peak("adam")
    print("| one step on 10⁶ points | peak RSS | wall (compile included) |")
    print("|---|---|---|")
    print(f"| pl.least_squares (auto → matrix-free CG) | {gb_lsq:.2f} GB | {t_lsq:.1f} s |")
    print(f"| pl.fit, Adam | {gb_adam:.2f} GB | {t_adam:.1f} s |")
    print(f"least_squares / Adam peak memory: {gb_lsq / gb_adam:.1f}× (was 14.3 / 1.1 = 13×)")


def write_curve(path: str, n: int) -> int:
    """A Birch–Murnaghan curve (Cu-like) of `n` points with 0.1 meV noise; returns bytes."""
    import numpy as np

    v = np.linspace(9.5, 14.5, n)
    x = (11.95 / v) ** (2.0 / 3.0)
    e = -3.7 + 9.0 * 11.95 * 0.88 / 16.0 * ((x - 1) ** 3 * 4.8 + (x - 1) ** 2 * (6 - 4 * x))
    e = e + 1e-4 * np.random.default_rng(0).standard_normal(n)
    np.savetxt(
        path,
        np.column_stack([v, e]),
        delimiter=",",
        header="volume,energy",
        comments="",
        fmt="%.10f",
    )
    return os.path.getsize(path)


def fit_table(max_rows: int) -> None:
    sizes = [n for n in (10**3, 10**4, 10**5, 3 * 10**5, 10**6) if n <= max_rows]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"ev{n}.csv")
            size = write_curve(path, n)
            out = subprocess.run(
                [sys.executable, "-c", FIT_PARENT, path], capture_output=True, text=True
            )
            if out.returncode:
                raise SystemExit(f"pinnloss fit on {n} rows failed: {out.stderr.strip()}")
            rss, wall = map(float, out.stdout.split())
            rows.append((n, size, rss, wall))
            print(f"  {n} rows: {rss / 2**20:.0f} MiB, {wall:.1f} s", file=sys.stderr)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2-core machine)")
    print("| rows | file | peak RSS | RSS / file | growth over 10³ rows / file growth | wall |")
    print("|---|---|---|---|---|---|")
    n1, s1, r1, _ = rows[0]
    for n, size, rss, wall in rows:
        growth = f"{(rss - r1) / (size - s1):.1f}×" if n > n1 else "—"
        print(
            f"| {n:.0e} | {size / 2**20:.2f} MiB | {rss / 2**20:.0f} MiB | {rss / size:.1f}× "
            f"| {growth} | {wall:.1f} s |"
        )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("fit", "step"))
    ap.add_argument("--max-rows", type=int, default=10**6, help="largest file for --only fit")
    a = ap.parse_args(argv)
    if a.only in (None, "fit"):
        fit_table(a.max_rows)
    if a.only in (None, "step"):
        step_table()


if __name__ == "__main__":
    main()
