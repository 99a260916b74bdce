"""Start-up time: `import pinnloss` and the `pinnloss fit` command against `ase eos`, one run.

    python benchmarks/startup.py            # 5 repeats of each command (about 3–6 minutes)
    python benchmarks/startup.py --repeat 3 # fewer
    python benchmarks/startup.py --no-cold  # skip the first-run (empty compilation cache) rows
    python benchmarks/startup.py --before 259f9bd  # also `import pinnloss` at that commit

Every command runs in a fresh subprocess, `--repeat` times; the table gives the median and
the best wall time (the machine may be shared: the load average before and after is
printed) and ratios against `ase eos` on the same three files and against
`python -c "import jax"`, JAX's own import, which no pinnloss change can remove.

The three files are real ACWF curves (WIEN2k, PBE; fcc Cu, Ag and Al, from
tests/data/acwf), written as CSV for `pinnloss fit` and as ASE trajectories (one fcc cell
per volume, with its energy) for `ase eos`, both fitting Birch–Murnaghan. "warm" runs use a
compilation cache filled by an untimed run first (the CLI's default: ~/.cache/pinnloss,
here a temporary folder); "cold" rows start each repeat with an empty cache, as a first
run does. The import breakdown at the end is `python -X importtime` of what `pinnloss
fit` imports (`pinnloss.cli` and `pinnloss.eos.fit_eos`), self times summed per package.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ACWF = os.path.join(
    ROOT, "tests", "data", "acwf", "results-unaries-verification-PBE-v1-wien2k-dk_0.06.json"
)
CRYSTALS = ("Cu-X/FCC", "Ag-X/FCC", "Al-X/FCC")


def _write_files(folder: str) -> tuple[list[str], list[str]]:
    """Three E(V) curves as CSV (pinnloss) and ASE trajectories (ase eos)."""
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import Trajectory

    with open(ACWF) as f:
        doc = json.load(f)
    csvs, trajs = [], []
    for key in CRYSTALS:
        symbol = key.split("-")[0]
        n = int(doc["num_atoms_in_sim_cell"][key])
        points = doc["eos_data"][key]
        csv = os.path.join(folder, f"{symbol}.csv")
        with open(csv, "w") as f:
            f.write("volume,energy,n_atoms\n")
            f.writelines(f"{v!r},{e!r},{n}\n" for v, e in points)
        traj = os.path.join(folder, f"{symbol}.traj")
        with Trajectory(traj, "w") as t:
            for v, e in points:
                atoms = bulk(symbol, "fcc", a=4.0)  # primitive cell, one atom
                if len(atoms) != n:
                    raise SystemExit(f"{key}: {n} atoms per cell, the fcc primitive cell has 1")
                atoms.set_cell(atoms.cell * (v / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
                atoms.calc = SinglePointCalculator(atoms, energy=e)
                t.write(atoms)
        csvs.append(csv)
        trajs.append(traj)
    return csvs, trajs


def _pinnloss_cmd() -> list[str]:
    exe = shutil.which("pinnloss")
    if exe:
        return [exe]
    return [sys.executable, "-c", "import sys; from pinnloss.cli import main; sys.exit(main())"]


def _ase_cmd() -> list[str]:
    exe = shutil.which("ase")
    return [exe] if exe else [sys.executable, "-m", "ase"]


def _time(cmd: list[str], env: dict, cwd: str, before=None) -> float:
    if before is not None:
        before()
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return dt


def _importtime(env: dict, cwd: str) -> dict[str, float]:
    """Self import time [s] per top-level package of what `pinnloss fit` imports."""
    code = "import pinnloss.cli; from pinnloss.eos import fit_eos; import pinnloss.eos._properties"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            top = m.group(2).split(".")[0]
            top = {"jaxlib": "jax", "ml_dtypes": "jax"}.get(top, top)
            out[top] = out.get(top, 0.0) + int(m.group(1)) * 1e-6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each command (default 5)")
    ap.add_argument("--no-cold", action="store_true", help="skip the empty-cache rows")
    ap.add_argument(
        "--before",
        metavar="REV",
        help="also time `import pinnloss` from a git worktree of REV (e.g. the last eager one)",
    )
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1; got {args.repeat}")

    load_before = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="pinnloss-startup-")
    worktree = None
    try:
        csvs, trajs = _write_files(tmp)
        warm_cache = os.path.join(tmp, "cache")
        cold_cache = os.path.join(tmp, "cold")
        env = {k: v for k, v in os.environ.items() if k != "PINNLOSS_NO_CACHE"}
        env.update(MPLBACKEND="Agg", JAX_PLATFORMS="cpu", PINNLOSS_CACHE_DIR=warm_cache)
        cold_env = dict(env, PINNLOSS_CACHE_DIR=cold_cache)
        pl, ase = _pinnloss_cmd(), _ase_cmd()
        py = sys.executable

        def empty_cold_cache():
            shutil.rmtree(cold_cache, ignore_errors=True)

        # fill the warm cache (untimed), one run per command line that is timed warm
        for cmd in ([*pl, "fit", *csvs], [*pl, "fit", csvs[0]]):
            _time(cmd, env, tmp)

        rows = [
            ("python -c 'import jax' (JAX alone)", [py, "-c", "import jax"], env, None),
            ("python -c 'import pinnloss'", [py, "-c", "import pinnloss"], env, None),
        ]
        if args.before:
            old = os.path.join(tmp, "before")
            subprocess.run(
                ["git", "-C", ROOT, "worktree", "add", "--detach", old, args.before],
                check=True,
                capture_output=True,
            )
            worktree = old
            check = f"import pinnloss; assert pinnloss.__file__.startswith({old!r})"
            old_env = dict(env, PYTHONPATH=old)
            rows.append((f"python -c 'import pinnloss' at {args.before}", [py, "-c", check],
                         old_env, None))  # fmt: skip
        rows += [
            (
                "python -c 'from pinnloss.eos import fit_eos'",
                [py, "-c", "from pinnloss.eos import fit_eos"],
                env,
                None,
            ),
            ("pinnloss --version", [*pl, "--version"], env, None),
            ("pinnloss fit Cu.csv (warm)", [*pl, "fit", csvs[0]], env, None),
            ("pinnloss fit Cu Ag Al (warm)", [*pl, "fit", *csvs], env, None),
        ]
        if not args.no_cold:
            rows.append(
                ("pinnloss fit Cu Ag Al (cold)", [*pl, "fit", *csvs], cold_env, empty_cold_cache)
            )
        rows.append(("ase eos Cu Ag Al", [*ase, "eos", *trajs], env, None))

        results = {}
        for _ in range(args.repeat):  # interleaved, so a load spike hits every row alike
            for label, cmd, e, before in rows:
                results.setdefault(label, []).append(_time(cmd, e, tmp, before))
        imports = _importtime(env, tmp)
    finally:
        if worktree:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", worktree])
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    med = {k: statistics.median(v) for k, v in results.items()}
    ase_med = med["ase eos Cu Ag Al"]
    jax_med = med["python -c 'import jax' (JAX alone)"]
    print(f"Start-up, {args.repeat} fresh subprocesses per row, interleaved; wall time [s].")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        "load average (1, 5, 15 min): before "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )
    print()
    w = max(len(k) for k in results) + 2
    print(f"{'command':<{w}}{'median':>8}{'best':>8}{'/ ase eos':>11}{'/ import jax':>14}")
    for label, times in results.items():
        m, b = med[label], min(times)
        print(f"{label:<{w}}{m:8.2f}{b:8.2f}{m / ase_med:11.2f}{m / jax_med:14.2f}")
    print("ratios are of medians")
    print()
    warm3 = med["pinnloss fit Cu Ag Al (warm)"]
    print(
        f"JAX's own import is {100 * jax_med / warm3:.0f} % of the warm three-file "
        f"`pinnloss fit` (median {jax_med:.2f} of {warm3:.2f} s); the rest is pinnloss's and "
        f"its libraries' imports, loading the stored traced programs (pinnloss-export/ in "
        f"the compilation cache) and the three fits."
    )
    total = sum(imports.values())
    top = sorted(imports.items(), key=lambda kv: -kv[1])[:8]
    print()
    print(f"python -X importtime of what `pinnloss fit` imports: {total:.2f} s in all (one run)")
    for name, s in top:
        print(f"  {name:<14}{s:6.2f} s  {100 * s / total:4.0f} %")


if __name__ == "__main__":
    main()
