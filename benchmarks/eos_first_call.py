"""First-call waits of `eos.fit_eos`: a loop over 10 curves of 37..46 points, before and after.

Each mode runs in a fresh Python process (nothing compiled yet), one fit per curve in a loop,
as a user's script would:

- `before`: exact shapes (`_fit._fit_eos(..., pad=False)`): every new length compiles;
- `after`:  curves padded to length buckets with zero weights (the default): one compile;
- `cached`: `after` in a second process with `pl.enable_compilation_cache(dir)` on a cache
  that a first process filled: the compiled programs come from disk;
- `forms`:  one curve fitted with the 6 non-Birch–Murnaghan four-parameter forms, one shared
  program (default) against one program per form (`share=False`, printed as `forms-own`).

The curves are the published Birch–Murnaghan fits of 10 ACWF WIEN2k unaries (tests/data/acwf),
resampled at N points over ±6 % of V0 with a deterministic 0.05 meV/atom wiggle. Seconds are
wall time of the whole loop (fit, checks, verdicts), the median of `--repeat` fresh runs, and
the machine load (os.getloadavg) is printed with them: on a shared machine, read ratios.

    python benchmarks/eos_first_call.py            # before / after / cached / forms
    python benchmarks/eos_first_call.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACWF = ROOT / "tests" / "data" / "acwf" / "results-unaries-verification-PBE-v1-wien2k-dk_0.06.json"
LENGTHS = list(range(37, 47))
OTHER_FORMS = ["vinet", "murnaghan", "pt", "sj", "anton_schmidt", "p3"]


def curves():
    import jax
    import numpy as np

    from pinnloss import eos

    d = json.loads(ACWF.read_text())
    keys = sorted(k for k in d["BM_fit_data"] if d["BM_fit_data"][k])[::7][: len(LENGTHS)]
    out = []
    for n, key in zip(LENGTHS, keys, strict=True):
        b, na = d["BM_fit_data"][key], d["num_atoms_in_sim_cell"][key]
        bm = eos.BirchMurnaghan(
            b["E0"] / na, b["min_volume"] / na, b["bulk_modulus_ev_ang3"], b["bulk_deriv"]
        )
        v = np.linspace(0.94, 1.06, n) * float(bm.v0)
        e = np.asarray(jax.vmap(bm)(v)) + 5e-5 * np.sin(3.7 * np.arange(n))
        out.append(eos.EVData(v, e, label=key))
    return out


def child(mode: str, cache: str | None) -> None:
    import warnings

    import jax

    jax.config.update("jax_enable_x64", True)
    import pinnloss as pl
    from pinnloss.eos import _fit

    if cache:
        pl.enable_compilation_cache(cache)

    def fit(d, form="bm"):  # fit_eos with its program shaping chosen by the mode
        pad, share = mode != "before", mode != "forms-own"
        return _fit._fit_eos(d, form, None, None, 50, 1e-12, True, pad=pad, share=share)

    data = curves()
    warnings.simplefilter("ignore")  # fit-quality notes are not what is timed
    times = []
    if mode.startswith("forms"):
        for form in OTHER_FORMS:
            t = time.perf_counter()
            fit(data[0], form)
            times.append(time.perf_counter() - t)
    else:
        for d in data:
            t = time.perf_counter()
            fitted = fit(d)
            times.append(time.perf_counter() - t)
            assert abs(float(fitted.v0) / d.volume.mean() - 1) < 0.01
    print(json.dumps({"total": sum(times), "first": times[0], "each": times}))


def run(mode: str, cache: str | None = None) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PINNLOSS_NO_CACHE="0")
    cmd = [sys.executable, __file__, "--child", mode] + (["--cache", cache] if cache else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="fresh runs per mode (median)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--modes", default="before,after,cached,forms,forms-own")
    a = ap.parse_args()
    if a.child:
        child(a.child, a.cache)
        return
    res = {}
    for mode in a.modes.split(","):
        runs = []
        for _ in range(a.repeat):
            load = os.getloadavg()[0]
            if mode == "cached":
                with tempfile.TemporaryDirectory() as tmp:
                    run("after", tmp)  # fills the cache
                    r = run("after", tmp)
            else:
                r = run(mode)
            r["load"] = load
            runs.append(r)
        tot = statistics.median(r["total"] for r in runs)
        first = statistics.median(r["first"] for r in runs)
        load = statistics.median(r["load"] for r in runs)
        res[mode] = tot
        what = "6 forms, 1 curve" if mode.startswith("forms") else "10 curves, 37..46 pts"
        print(
            f"{mode:10s} {what:22s} total {tot:7.2f} s  first call {first:6.2f} s  "
            f"rest {tot - first:6.2f} s  (median of {a.repeat}; load {load:.1f} on "
            f"{os.cpu_count()} cores)",
            flush=True,
        )
    if "before" in res and "after" in res:
        print(f"loop over 10 lengths: before / after = {res['before'] / res['after']:.2f}x")
    if "before" in res and "cached" in res:
        print(
            f"with a filled persistent cache: before / cached = "
            f"{res['before'] / res['cached']:.2f}x"
        )
    if "forms" in res and "forms-own" in res:
        print(f"loop over 6 forms: own programs / shared = {res['forms-own'] / res['forms']:.2f}x")


if __name__ == "__main__":
    main()
