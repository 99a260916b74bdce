"""Calibration of E(V) standard errors by noise injection on real all-electron curves.

Truth: third-order Birch–Murnaghan fits of ACWF WIEN2k curves (7 points, 94–106 % of V0),
evaluated on the curves' own volumes. Gaussian noise of 0.1 and 1 meV/atom is added, every
draw is refitted (all draws in one batched `fit_eos` call), and `eos.properties` gives
standard errors. Printed per noise level and property: the fraction of draws whose ±1 and ±2
std ranges cover the truth (target 60–78 % and 90–98.5 %), the coverage of the 68 % and 95 %
t intervals, the same with the noise sigma given (`sigma=`), and `eos.bootstrap`'s std
against the true spread of the estimates (ratio; 1 is right) on a few curves.

Run: python benchmarks/eos_calibration.py [--curves 20] [--draws 50] [--boot-curves 4]
Prints the machine load (os.getloadavg) and wall times; coverage figures do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from pinnloss import eos  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ACWF = os.path.join(HERE, "..", "tests", "data", "acwf")
KEYS = ("v0", "b0", "b1")


def reference_curves(n: int, seed: int = 0):
    """`n` ACWF WIEN2k curves (a fixed random choice) and their BM fits as truth."""
    path = os.path.join(ACWF, "results-unaries-verification-PBE-v1-wien2k-dk_0.06.json")
    with open(path) as f:
        d = json.load(f)
    keys = sorted(k for k, pts in d["eos_data"].items() if pts)
    rng = np.random.default_rng(seed)
    keys = [keys[i] for i in rng.choice(len(keys), n, replace=False)]
    curves = []
    for k in keys:
        a = np.array(d["eos_data"][k])
        curves.append(eos.EVData(a[:, 0], a[:, 1], n_atoms=d["num_atoms_in_sim_cell"][k], label=k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", eos.FitQualityWarning)
        truth = eos.fit_eos(curves)
    return curves, truth


def noisy_draws(curves, truth, noise: float, draws: int, seed: int):
    """`draws` noisy copies of each truth curve [noise in eV/atom], and the true parameters."""
    rng = np.random.default_rng(seed)
    data, true = [], {k: [] for k in KEYS}
    for i, c in enumerate(curves):
        form = jax.tree.map(lambda a, i=i: a[i], truth)
        clean = np.asarray(form.energy(c.volume), np.float64) - float(form.e0)
        for _ in range(draws):
            e = clean + noise * rng.standard_normal(len(c))
            data.append(eos.EVData(c.volume, e, label=f"{c.label} draw"))
            for k in KEYS:
                true[k].append(float(getattr(form, k)))
    return data, {k: np.array(v) for k, v in true.items()}


def coverage(data, true, sigma=None):
    """{key: (±1 std, ±2 std, 68 % interval, 95 % interval)} coverage fractions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", eos.FitQualityWarning)
        fits = eos.fit_eos(data, check=False)
    p = eos.properties(fits, data, check=False, sigma=sigma)
    i68, i95 = p.interval(0.68), p.interval(0.95)
    out = {}
    for k in KEYS:
        x, s, t = np.asarray(getattr(p, k)), np.asarray(getattr(p.std, k)), true[k]
        ok = np.isfinite(x) & np.isfinite(s)
        z = np.abs(x - t)[ok] / s[ok]
        within = lambda iv, t=t, ok=ok: np.mean(
            ((np.asarray(iv[0]) <= t) & (t <= np.asarray(iv[1])))[ok]
        )
        out[k] = (np.mean(z < 1), np.mean(z < 2), within(i68[k]), within(i95[k]), int(ok.sum()))
    return out


def bootstrap_ratio(curves, truth, noise, draws, n_boot, seed):
    """Median over curves of bootstrap std / true spread of the refitted estimates."""
    ratios = {k: [] for k in KEYS}
    for i, c in enumerate(curves):
        data, _ = noisy_draws(
            [c], jax.tree.map(lambda a, i=i: a[i : i + 1], truth), noise, draws, seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", eos.FitQualityWarning)
            fits = eos.fit_eos(data, check=False)
        spread = {k: np.nanstd(np.asarray(getattr(fits, k)), ddof=1) for k in KEYS}
        ens = eos.bootstrap(data[0], n=n_boot, key=jax.random.key(seed + i))
        for k in KEYS:
            ratios[k].append(float(getattr(ens.std, k)) / spread[k])
    return {k: float(np.median(v)) for k, v in ratios.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--curves", type=int, default=20)
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--boot-curves", type=int, default=4)
    ap.add_argument("--boot-n", type=int, default=200)
    a = ap.parse_args()
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    t0 = time.perf_counter()
    curves, truth = reference_curves(a.curves)
    names = {"v0": "V0", "b0": "B0", "b1": "B0'"}
    print(
        f"{a.curves} ACWF WIEN2k curves x {a.draws} draws, 7 points, BM3 (3 residual dof); "
        "coverage of the truth (target ±1 std 60–78 %, ±2 std 90–98.5 %):"
    )
    print(
        f"{'noise':>9s} {'sigma':>9s} {'prop':>4s} {'±1 std':>7s} {'±2 std':>7s} "
        f"{'68% CI':>7s} {'95% CI':>7s} {'n':>5s}"
    )
    for noise in (1e-4, 1e-3):
        data, true = noisy_draws(curves, truth, noise, a.draws, seed=1)
        for how, sigma in (("estimated", None), ("given", noise)):
            cov = coverage(data, true, sigma)
            for k in KEYS:
                c1, c2, i68, i95, n = cov[k]
                print(
                    f"{1e3 * noise:6.1f}meV {how:>9s} {names[k]:>4s} {100 * c1:6.1f}% "
                    f"{100 * c2:6.1f}% {100 * i68:6.1f}% {100 * i95:6.1f}% {n:5d}"
                )
    if a.boot_curves:
        print(
            f"\nbootstrap (n={a.boot_n}) std / true spread of the estimates, median over "
            f"{a.boot_curves} curves ({a.draws} noisy draws each give the true spread; "
            "1 is calibrated):"
        )
        for noise in (1e-4, 1e-3):
            r = bootstrap_ratio(curves[: a.boot_curves], truth, noise, a.draws, a.boot_n, 7)
            row = "  ".join(f"{names[k]} {r[k]:.2f}" for k in KEYS)
            print(f"  {1e3 * noise:.1f} meV/atom: {row}")
    print(f"wall time {time.perf_counter() - t0:.1f} s (includes compilation)")


if __name__ == "__main__":
    main()
