"""PINNacle harness: pinnloss's recommended recipe on PINNacle problems, against PINNacle's own
reported errors.

    python benchmarks/pinnacle.py                          # every problem, default budget each
    python benchmarks/pinnacle.py --problem Poisson2d-C --budget 60
    python benchmarks/pinnacle.py --json                   # also one JSON object per run
    python benchmarks/pinnacle.py --problem Burgers1d-C --jinns   # and a jinns row

Each problem (benchmarks/pinnacle_problems/) runs its recipe within `--budget` seconds of wall
time (compile included) on this machine's CPU, then its prediction is scored on PINNacle's
test points with PINNacle's metric: the L2 relative error over all points and all output
components together, as its `TesterCallback` computes it (src/utils/callbacks.py:
sqrt(mean((y - y_ref)^2)) / sqrt(mean(y_ref^2))). The table prints it beside PINNacle's vanilla
PINN and its best method (Hao et al., NeurIPS 2024, arXiv 2306.08827, main table of L2RE).

With `--json` each run prints, as soon as it ends, one line of strict JSON on stdout (NaN as
null; the Markdown table follows all runs): `problem`, `solver`, `l2re`, `seconds` (the whole
run: recipe, prediction and scoring), `solve_seconds`, `first_call_seconds` (compilation plus
the first compiled call), `budget`, `steps`, `loss`, `heldout_residual` (the PDE residual at
fresh points), `overfit_warning`, `params`, `points`, `test_points`, PINNacle's
`pinnacle_vanilla` / `pinnacle_best` / `pinnacle_best_method`, `ratio_to_best` (best / ours:
above 1 is better than PINNacle), `seed`, `options` (`--set`), `load` (1-minute load average at
the end), and a problem's extra errors (`l2re_cole_hopf` on Burgers1d-C, ...).

With `--jinns`, a problem that has a jinns recipe (benchmarks/pinnacle_jinns.py: Burgers1d-C,
Heat2d-MS) also runs it, with the same budget, and adds its row (solver "jinns-ssbroyden") to
the table and the JSON output. jinns is not a project dependency: install it outside the venv with
`pip install --no-deps --target /work/jinns_pkgs jinns==1.10.2` (or set JINNS_PATH to the
folder). `--set` options go to the pinnloss recipe only.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pinnacle_problems as problems  # noqa: E402
from pinnacle_problems import l2re  # noqa: E402,F401 (the metric, re-exported)

import pinnloss as pl  # noqa: E402

DEFAULT_BUDGET = 600.0


def check_options(spec, options: dict) -> None:
    """Refuse a `--set` option that the recipe (or `pl.least_squares`, for recipes that pass
    their extra options on) does not take, naming it and the choices."""
    params = inspect.signature(spec.run).parameters
    known = {k for k, v in params.items() if v.kind == v.KEYWORD_ONLY}
    if any(v.kind == v.VAR_KEYWORD for v in params.values()):
        lsq = inspect.signature(pl.least_squares).parameters
        named = {k for k, v in lsq.items() if v.kind != v.VAR_KEYWORD}  # not **deprecated
        known |= named - {"model", "objective", "time_limit", "callback", "history"}
    for key in options:
        if key not in known:
            raise ValueError(
                f"--set {key}: {spec.name}'s recipe has no option {key!r}; "
                f"choose from {', '.join(sorted(known))}."
            )


JINNS_INSTALL = "pip install --no-deps --target /work/jinns_pkgs jinns==1.10.2"


def jinns_recipes() -> dict:
    """The jinns recipes by problem name (benchmarks/pinnacle_jinns.py), or an ImportError
    that says how to install jinns."""
    try:
        import pinnacle_jinns
    except ImportError as e:
        raise ImportError(
            f"--jinns: jinns cannot be imported ({e}). It is kept out of the venv (its "
            f"metadata pins pytest>=9 and pyright): install it with `{JINNS_INSTALL}` "
            "(or set JINNS_PATH to the folder holding it)."
        ) from e
    return pinnacle_jinns.RECIPES


def run_one(name: str, budget: float, seed: int = 0, options: dict | None = None,
            recipe=None) -> dict:  # fmt: skip
    """Run one problem's recipe and score it; the JSON record of the run. `options` go to
    the recipe (`--set n_interior=4000`); `recipe` replaces the problem's own (a jinns row)."""
    spec = problems.get(name)
    if recipe is None:
        check_options(spec, options or {})
    x, y = spec.reference()
    t0 = time.perf_counter()
    out = (recipe or spec.run)(budget=budget, seed=seed, **(options or {}))
    total = time.perf_counter() - t0
    pred = out.predict(x)
    err = problems.l2re(pred, y)
    rec = {
        "problem": spec.name,
        "solver": out.solver,
        "l2re": err,
        "seconds": round(total, 2),
        "solve_seconds": round(out.seconds, 2),
        "first_call_seconds": round(out.compile_seconds, 2),
        "budget": budget,
        "steps": out.steps,
        "loss": out.loss,
        "heldout_residual": out.heldout,
        "overfit_warning": out.overfit,
        "params": out.params,
        "points": out.points,
        "test_points": int(len(x)),
        "pinnacle_vanilla": spec.vanilla,
        "pinnacle_best": spec.best,
        "pinnacle_best_method": spec.best_method,
        "ratio_to_best": (spec.best / err) if err > 0 and math.isfinite(spec.best) else None,
        "seed": seed,
        "options": options or {},
        "load": os.getloadavg()[0],
    }
    rec.update({k: float(v) for k, v in out.extra.items()})
    return rec


def _finite(rec: dict) -> dict:
    """NaN and infinities as null, so each line is strict JSON."""
    bad = lambda v: isinstance(v, float) and not math.isfinite(v)  # noqa: E731
    return {k: (None if bad(v) else v) for k, v in rec.items()}


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.2e}"


def _versus(ratio) -> str:
    """PINNacle's best over ours: '3.4× below' (ours lower) or '33× above'."""
    if ratio is None:
        return "—"
    return f"{ratio:.2g}× below" if ratio >= 1 else f"{1 / ratio:.2g}× above"


def table(records: list[dict]) -> str:
    """A Markdown table of the runs against PINNacle's reported L2RE."""
    head = ("| problem | PINNacle vanilla | PINNacle best | pinnloss L2RE | vs best "
            "| solver | steps | loss | held-out residual | s (load) |")  # fmt: skip
    lines = [head, "|" + " --- |" * 10]
    for r in records:
        ratio = r.get("ratio_to_best")
        extra = "".join(f"; {k} {_fmt(v)}" for k, v in r.items() if k.startswith("l2re_"))
        warn = " ⚠ overfit" if r["overfit_warning"] else ""
        lines.append(
            f"| {r['problem']} | {_fmt(r['pinnacle_vanilla'])} | {_fmt(r['pinnacle_best'])} "
            f"({r['pinnacle_best_method']}) | **{_fmt(r['l2re'])}**{extra}{warn} | "
            f"{_versus(ratio)} | {r['solver']} | {r['steps']} | "
            f"{_fmt(r['loss'])} | {_fmt(r['heldout_residual'])} | "
            f"{r['seconds']:.0f} ({r['load']:.1f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    names = problems.available()
    p = argparse.ArgumentParser(
        description="pinnloss on PINNacle problems, scored with PINNacle's L2RE.",
        epilog="problems: " + ", ".join(names),
    )
    p.add_argument(
        "--problem",
        action="append",
        metavar="NAME",
        help="a problem by PINNacle's name (repeatable; default: all)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        help=f"seconds of wall time per problem, compile included (default {DEFAULT_BUDGET:.0f})",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also one JSON object per run")
    p.add_argument("--list", action="store_true", help="list the problems and their recipes")
    p.add_argument(
        "--jinns",
        action="store_true",
        help="also run jinns' recipe (SSBroyden) where there is one (Burgers1d-C, "
        f"Heat2d-MS), one more row each; needs jinns 1.10.2 outside the venv: {JINNS_INSTALL}",
    )
    p.add_argument(
        "--cache",
        action="store_true",
        help="turn on pinnloss's persistent compilation cache (pl.enable_compilation_cache): "
        "a second run of a recipe loads its compiled solve instead of compiling it",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recipe option, e.g. --set n_interior=4000 (repeatable; for "
        "experiments: the table's figures use the defaults)",
    )
    args = p.parse_args(argv)  # fmt: skip
    if not args.budget > 0 or not math.isfinite(args.budget):
        p.error(f"--budget must be a positive number of seconds; got {args.budget}")
    if args.list:
        for n in names:
            spec = problems.get(n)
            print(f"{spec.name} ({spec.pinnacle_class}): {spec.recipe}")
        return 0
    options = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            p.error(f"--set takes KEY=VALUE with KEY a recipe option name; got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    if args.cache:
        pl.enable_compilation_cache()
    chosen = args.problem or names
    try:
        chosen = [problems.get(n).name for n in chosen]
        for n in chosen:
            check_options(problems.get(n), options)
    except ValueError as e:
        p.error(str(e))
    jinns = {}
    if args.jinns:
        try:
            jinns = jinns_recipes()
        except ImportError as e:
            p.error(str(e))
        for n in chosen:
            if n not in jinns:
                print(f"note: --jinns: no jinns recipe for {n}", file=sys.stderr)
    records = []
    for name in chosen:
        runs = [(options, None)]
        if name in jinns:
            runs.append(({}, jinns[name]))
        for opts, recipe in runs:
            rec = run_one(name, args.budget, args.seed, opts, recipe)
            records.append(rec)
            if args.json:
                print(json.dumps(_finite(rec)), flush=True)
            else:
                label = name if recipe is None else f"{name} ({rec['solver']})"
                print(f"{label}: L2RE {rec['l2re']:.3e} in {rec['seconds']:.0f} s", flush=True)
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
