"""The `pinnloss` command line: `pinnloss fit [FILE] [--form ...] [--v0 ... --b0 ...]`.

The CLI only composes the library: load → fit → properties → table, JSON and plot.
It turns on float64 (an application may; the library never does at import).
"""

from __future__ import annotations

import argparse
import json
import sys

import jax

import pinnloss as pl
from pinnloss import eos

__all__ = ["main"]

#: The command line's one addition to the form registry (`eos.FORM_REGISTRY`).
_NET = "net"
_NET_TITLE = "EnergyNet (physics-informed MLP)"


def _form_choices() -> list[str]:
    return [*eos.FORM_REGISTRY, _NET]


def _form_name(form: str) -> str:
    """The canonical name of a `--form` choice (as written to `--json`)."""
    return _NET if form == _NET else eos.form_spec(form).name


def _form_title(form: str) -> str:
    return _NET_TITLE if form == _NET else eos.form_spec(form).description


class _Fail(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pinnloss", description="Physics-informed fitting of energy–volume curves."
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    f = sub.add_parser(
        "fit",
        help="fit an equation of state to E(V) points",
        description=(
            "Fit E(V) points and print V0, E0, B0 and B0'. FILE is a CSV or whitespace table "
            "with a header naming volume and energy columns (per cell; see --n-atoms), or an "
            "ACWF JSON file with --key. Without FILE, fits the bundled example (fcc Cu, "
            "WIEN2k all-electron, ACWF; MIT licence)."
        ),
    )
    f.add_argument(
        "file", nargs="?", metavar="FILE", help="data file (default: bundled Cu example)"
    )
    f.add_argument(
        "--form",
        choices=_form_choices(),
        default="bm",
        metavar="FORM",
        help=_form_help(),
    )
    f.add_argument("--key", help="crystal in an ACWF JSON file, e.g. Cu-X/FCC")
    f.add_argument("--n-atoms", type=int, default=None, help="atoms per cell in FILE (default 1)")
    f.add_argument("--v0", type=float, help="constraint: equilibrium volume [Å³/atom]")
    f.add_argument("--b0", type=float, help="constraint: bulk modulus at V0 [GPa] (needs --v0)")
    f.add_argument("--width", type=int, default=32, help="net: hidden units (default 32)")
    f.add_argument("--depth", type=int, default=2, help="net: hidden layers (default 2)")
    f.add_argument("--seed", type=int, default=0, help="net: random seed (default 0)")
    f.add_argument("--plot", metavar="PNG", help="save E(V) with residuals to this file")
    f.add_argument("--json", metavar="JSON", help="write the results to this JSON file")
    f.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use the persistent compilation cache (default: on, in "
        "$PINNLOSS_CACHE_DIR or ~/.cache/pinnloss/jax; PINNLOSS_NO_CACHE=1 also turns it off)",
    )
    return p


def _form_help() -> str:
    seen = []
    for spec in eos.FORM_REGISTRY.values():
        if spec not in seen:
            seen.append(spec)
    forms = "; ".join(f"{'/'.join(s.names)}: {s.description}" for s in seen)
    return f"equation of state (default bm) — {forms}; {_NET}: {_NET_TITLE}"


def _fit(args):
    if args.file is None:
        if args.key is not None:
            raise _Fail("--key selects a crystal in an ACWF JSON FILE; give the FILE too.")
        data = eos.example_data()
        source = "bundled example: " + data.label
    else:
        data = eos.load(args.file, key=args.key, n_atoms=args.n_atoms)
        source = args.file + (f" [{args.key}]" if args.key else "")
    if args.b0 is not None and args.v0 is None:
        raise _Fail("--b0 constrains the bulk modulus at V0; give --v0 too.")
    if args.v0 is not None and not args.v0 > 0:
        raise _Fail(f"--v0 must be a positive volume in Å³/atom; got {args.v0}.")
    if args.b0 is not None and not args.b0 > 0:
        raise _Fail(f"--b0 must be a positive bulk modulus in GPa; got {args.b0}.")
    if args.v0 is not None and not data.volume.min() <= args.v0 <= data.volume.max():
        raise _Fail(
            f"--v0 {args.v0} Å³/atom lies outside the data's volumes "
            f"[{data.volume.min():.6g}, {data.volume.max():.6g}]."
        )

    constraints = args.v0 is not None
    if args.form != _NET:
        model = eos.fit_eos(data, args.form)
        if constraints:
            # soft constraints on top of the data: refit in the data's shifted frame
            start = eos.shift_energy(model, -data.energy_shift)
            obj = _objective(data, args.v0, args.b0)
            model = eos.shift_energy(pl.least_squares(start, obj).model, data.energy_shift)
    else:
        if len(data) < 4 and not (args.v0 is not None and args.b0 is not None):
            raise _Fail(
                f"the net needs at least 4 points to set its V0/B0 constraints from a "
                f"Birch–Murnaghan fit, or --v0 and --b0; got {len(data)} points."
            )
        if args.width < 1 or args.depth < 1:
            raise _Fail("--width and --depth must be at least 1.")
        v0, b0 = args.v0, args.b0
        if v0 is None or b0 is None:
            ref = eos.fit_eos(data)
            v0 = float(ref.v0) if v0 is None else v0
            b0 = float(ref.b0) * eos.EV_PER_A3_TO_GPA if b0 is None else b0
        net = eos.EnergyNet(data, width=args.width, depth=args.depth, key=jax.random.key(args.seed))
        model = pl.least_squares(net, _objective(data, v0, b0)).model
    props = eos.properties(model, data)
    rms = eos.rms(model, data)
    return data, source, model, props, rms


def _objective(data, v0, b0_gpa):
    obj = pl.DataMSE(data.volume, data.energy, name="energy")
    if v0 is not None:
        obj = obj + 1e2 * eos.ZeroPressure(v0=v0)
        if b0_gpa is not None:
            obj = obj + eos.BulkModulus(v0=v0, b0=b0_gpa / eos.EV_PER_A3_TO_GPA)
    return obj


def _table(args, data, source, props, rms) -> str:
    lines = [
        f"pinnloss fit: {source}",
        f"  {len(data)} points, V {data.volume.min():.6g}–{data.volume.max():.6g} Å³/atom, "
        f"{data.n_atoms} atom(s)/cell; form: {_form_title(args.form)}",
    ]
    if args.v0 is not None:
        c = f"V0 = {args.v0} Å³/atom" + (f", B0 = {args.b0} GPa" if args.b0 is not None else "")
        lines.append(f"  constraints: {c}")
    rows = [
        ("V0", f"{props.v0:.8f}", "Å³/atom"),
        ("E0", f"{props.e0:.8f}", "eV/atom"),
        ("B0", f"{props.b0:.8f}", "eV/Å³"),
        ("B0", f"{props.b0_gpa:.5f}", "GPa"),
        ("B0'", f"{props.b1:.5f}", ""),
        ("RMS residual", f"{rms:.4g}", "meV/atom"),
    ]
    w = max(len(r[1]) for r in rows)
    lines.append("")
    lines.append(f"  {'quantity':<13s}{'value':>{w}s}  unit")
    for name, val, unit in rows:
        lines.append(f"  {name:<13s}{val:>{w}s}  {unit}")
    return "\n".join(lines)


def _run_fit(args) -> int:
    data, source, model, props, rms = _fit(args)
    print(_table(args, data, source, props, rms))
    if args.json:
        out = {
            "source": source,
            "form": _form_name(args.form),
            "n_points": len(data),
            "n_atoms": data.n_atoms,
            "constraints": {"v0": args.v0, "b0_gpa": args.b0},
            **props.as_dict(),
            "rms_residual_mev_per_atom": rms,
            "units": {"v0": "Å^3/atom", "e0": "eV/atom", "b0": "eV/Å^3", "b0_gpa": "GPa"},
        }
        try:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(out, fh, indent=2, ensure_ascii=False)
        except OSError as e:
            raise _Fail(f"cannot write --json {args.json}: {e.strerror}.") from e
    if args.plot:
        fig = eos.plot.energy_volume(data, {_form_title(args.form): model})
        try:
            fig.savefig(args.plot, dpi=130)
        except (OSError, ValueError) as e:
            raise _Fail(f"cannot save --plot {args.plot}: {e}") from e
    return 0


def main(argv=None) -> int:
    """Entry point of the `pinnloss` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "fit":
        parser.print_help(sys.stderr)
        return 2
    jax.config.update("jax_enable_x64", True)
    if not args.no_cache:
        from ._cache import enable_compilation_cache

        enable_compilation_cache()
    try:
        return _run_fit(args)
    except (_Fail, ValueError, OSError, pl.SolveError) as e:
        msg = " ".join(str(e).split())
        print(f"pinnloss: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pinnloss: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
