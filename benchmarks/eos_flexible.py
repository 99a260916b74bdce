"""The flexible E(V) (`eos.fit_eos(data, form="net")`) against every classical form and a
SciPy cubic smoothing spline, on held-out points (issue 11 §3).

    python benchmarks/eos_flexible.py            # full table (~22 wide + 10 narrow curves)
    python benchmarks/eos_flexible.py --quick    # a few curves
    python benchmarks/eos_flexible.py --only ensemble,timing

Wide-range curves (±40 % in volume, 31 points, Gaussian noise 0.5 meV/atom): fcc metals with
ASE's EMT calculator, and analytic magnetic-collapse curves (a high-spin and a low-spin
Birch–Murnaghan curve joined by a smooth minimum: a flattened well and a shoulder). Every
third interior point is held out; the rest are fitted. Narrow curves (7 points, ±6 %):
leave-one-out, against Birch–Murnaghan. Targets: wide held-out RMS <= 0.2x the best
classical form's where the classical forms fail (their RMS well above the noise), narrow
<= 1.5x Birch–Murnaghan's. RMS is against the noisy held-out energies (the noise floor is
0.5 meV/atom on wide curves). Also: the ensemble's standard deviation against the true
spread over noise draws, and fit times (best and median of repeats; machine load printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.interpolate import make_smoothing_spline  # noqa: E402

from pinnloss import eos  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from test_eos_flex import collapse_curve, emt_curve, held_out_split  # noqa: E402

COLLAPSES = {
    "collapse": dict(),
    "collapse-deep": dict(dv=0.2, de=0.08),
    "collapse-soft": dict(de=0.02, width=0.05),
    "collapse-small": dict(dv=0.08, de=0.01),
}


def forms() -> dict[str, type]:
    """One name per classical form class in the registry."""
    return {spec.name: spec.cls for spec in eos.FORM_REGISTRY.specs()}


def _abbrev(cls) -> str:
    """BirchMurnaghan4 -> BM4, Vinet -> Vinet, PoirierTarantola -> PT."""
    caps = "".join(c for c in cls.__name__ if c.isupper() or c.isdigit())
    return cls.__name__[:6] if len(caps) < 2 else caps


def predict(model, v) -> np.ndarray:
    return np.asarray(jax.vmap(model)(jnp.asarray(v)), dtype=np.float64)


def rms(a) -> float:
    return 1e3 * float(np.sqrt(np.mean(np.square(a))))


def classical_batch(name, datasets, v_eval):
    """Predictions of one classical form fitted to every curve in one batched call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fits = eos.fit_eos(datasets, name, check=False)
        except ValueError as e:
            print(f"  ({name}: {e})")
            return np.full((len(datasets), v_eval.shape[1]), np.nan)
    out = []
    for i in range(len(datasets)):
        f = jax.tree_util.tree_map(lambda a, i=i: a[i] if eqx_is_array(a) else a, fits)
        out.append(predict(f, v_eval[i]))
    return np.array(out)


def eqx_is_array(a) -> bool:
    return isinstance(a, (jax.Array, np.ndarray)) and np.ndim(a) > 0


def wide(quick: bool):
    curves = []
    metals = ("Al", "Cu") if quick else ("Cu", "Al", "Ni", "Ag", "Pd", "Pt", "Au")
    seeds = (0,) if quick else (0, 1)
    for seed in seeds:
        for name, kw in list(COLLAPSES.items())[:2] if quick else COLLAPSES.items():
            v, e, _ = collapse_curve(seed=seed, **kw)
            curves.append((f"{name}/{seed}", v, e))
        for m in metals:
            v, e, _ = emt_curve(m, seed=seed)
            curves.append((f"EMT {m}/{seed}", v, e))
    tr, te = held_out_split(31)
    train = [eos.EVData(v[tr], e[tr]) for _, v, e in curves]
    v_te = np.array([v[te] for _, v, _ in curves])
    e_te = np.array([e[te] for _, _, e in curves])
    names = forms()
    cl = {n: classical_batch(n, train, v_te) for n in names}
    cl_rms = {n: np.array([rms(p - e) for p, e in zip(cl[n], e_te)]) for n in names}
    rows = []
    short = {n: _abbrev(cls) for n, cls in names.items()}
    head = (
        f"{'curve':18s} {'net':>6s} {'best classical':>18s} {'ratio':>6s} {'scipy':>6s}  "
        + " ".join(f"{short[n]:>6s}" for n in names)
    )
    print("\nWide-range curves: held-out RMS [meV/atom] of the net; ratios net/other")
    print(head)
    for i, (label, _, _) in enumerate(curves):
        flex = eos.fit_eos(train[i], form="net", check=False)
        ours = rms(predict(flex, v_te[i]) - e_te[i])
        sp = make_smoothing_spline(train[i].volume, train[i].absolute_energy)  # GCV λ
        theirs = {n: cl_rms[n][i] for n in names}
        finite = {n: x for n, x in theirs.items() if np.isfinite(x)}
        best = min(finite, key=finite.get)
        r_sp = ours / rms(sp(v_te[i]) - e_te[i])
        ratios = " ".join(f"{ours / theirs[n]:6.3f}" for n in names)
        print(
            f"{label:18s} {ours:6.3f} {finite[best]:10.3f} {short[best]:>7s} "
            f"{ours / finite[best]:6.3f} {r_sp:6.3f}  {ratios}"
        )
        rows.append((label, ours, finite[best], r_sp))
    hard = [r for r in rows if r[2] > 3 * 0.5]  # classical forms fail: well above the noise
    easy = [r for r in rows if r[2] <= 3 * 0.5]
    for title, sel in (("classical RMS > 1.5 meV/atom (target <= 0.2)", hard), ("others", easy)):
        if sel:
            q = [r[1] / r[2] for r in sel]
            s = [r[3] for r in sel]
            print(
                f"  {title}: {len(sel)} curves, net/best classical median {np.median(q):.3f} "
                f"max {np.max(q):.3f}; net/scipy spline median {np.median(s):.3f} "
                f"max {np.max(s):.3f}"
            )


def narrow(quick: bool):
    cases = [("Cu WIEN2k (ACWF)", *_cu())]
    metals = ("Cu", "Pt") if quick else ("Cu", "Al", "Pt", "Au")
    for m in metals:
        for noise in (1e-4, 1e-3):
            v, e, _ = emt_curve(m, n=7, span=0.06, noise=noise, seed=1)
            cases.append((f"EMT {m} σ={noise * 1e3:g} meV", v, e))
    v, e, _ = collapse_curve(n=7, span=0.06, noise=1e-4)
    cases.append(("collapse σ=0.1 meV", v, e))
    print("\nNarrow 7-point curves: leave-one-out RMS [meV/atom], net vs Birch–Murnaghan")
    print(f"{'curve':26s} {'BM':>9s} {'net':>9s} {'ratio':>6s} {'interior':>9s}")
    ratios = []
    for label, v, e in cases:
        data = eos.EVData(v, e)
        subsets = [np.delete(np.arange(7), i) for i in range(7)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit-quality notes on noisy 6-point subsets
            bm = eos.fit_eos([eos.EVData(v[s], e[s]) for s in subsets], check=False)
        err_bm, err_net = [], []
        for i in range(7):
            f = jax.tree_util.tree_map(lambda a, i=i: a[i] if eqx_is_array(a) else a, bm)
            err_bm.append(float(f(jnp.asarray(v[i]))) - e[i])
            w = (np.arange(7) != i).astype(float)  # a zero weight leaves the point out
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = eos.fit_flexible(data, weights=w, check=False)
            err_net.append(float(net(v[i])) - e[i])
        r = rms(err_net) / rms(err_bm)
        ri = rms(err_net[1:-1]) / rms(err_bm[1:-1])
        ratios.append(r)
        print(f"{label:26s} {rms(err_bm):9.4f} {rms(err_net):9.4f} {r:6.3f} {ri:9.3f}")
    print(f"  ratio median {np.median(ratios):.3f}, max {np.max(ratios):.3f} (target <= 1.5)")


def _cu():
    d = eos.example_data()
    return d.volume, d.absolute_energy


def ensemble_check(quick: bool):
    """Ensemble std of V0, B0, B0' against the spread over independent noise draws."""
    draws = 10 if quick else 30
    props, stds = [], []
    for seed in range(draws):
        v, e, _ = collapse_curve(seed=100 + seed)
        data = eos.EVData(v, e)
        net = eos.fit_eos(data, form="net")
        p = eos.properties(net, data)
        props.append([p.v0, p.b0_gpa, p.b1])
        u = net.uncertainty().std
        stds.append([u.v0, u.b0_gpa, u.b1])
    props, stds = np.array(props), np.array(stds)
    true = props.std(axis=0, ddof=1)
    mean_std = stds.mean(axis=0)
    print(f"\nEnsemble (32 members) vs the spread over {draws} noise draws (collapse curve):")
    for k, name in enumerate(("V0", "B0 [GPa]", "B0'")):
        print(
            f"  {name:9s} true spread {true[k]:.3g}, mean ensemble std {mean_std[k]:.3g} "
            f"(ratio {mean_std[k] / true[k]:.2f})"
        )


def timing():
    def best_median(fn, repeat=5):
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts), statistics.median(ts)

    v, e, _ = collapse_curve()
    tr, _ = held_out_split(v.size)
    d = eos.EVData(v[tr], e[tr])
    eos.fit_eos(d, form="net")
    eos.fit_eos(d)
    net = best_median(lambda: eos.fit_eos(d, form="net"))
    bm = best_median(lambda: eos.fit_eos(d))
    print(
        f"\nFit time, {len(d)} points, after compilation (best / median of 5): net "
        f"{net[0] * 1e3:.1f} / {net[1] * 1e3:.1f} ms, Birch–Murnaghan {bm[0] * 1e3:.1f} / "
        f"{bm[1] * 1e3:.1f} ms (ratio of bests {net[0] / bm[0]:.1f})"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few curves only")
    ap.add_argument(
        "--only",
        default="wide,narrow,ensemble,timing",
        help="comma-separated sections to run (default: all four)",
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    t0 = time.perf_counter()
    if "wide" in only:
        wide(args.quick)
    if "narrow" in only:
        narrow(args.quick)
    if "ensemble" in only:
        ensemble_check(args.quick)
    if "timing" in only:
        timing()
    print(
        f"\nload average at end: {os.getloadavg()[0]:.2f}; total "
        f"{time.perf_counter() - t0:.0f} s with compilation"
    )


if __name__ == "__main__":
    main()
