"""The `pinnloss` command line: `pinnloss fit [FILE ...] [--form ...] [--v0 ... --b0 ...]`.

The CLI only composes the library: load → fit → properties → table, JSON and plot.
It turns on float64 (an application may; the library never does at import). JAX and the
library load on first use, so `--version` and usage errors answer at once.

Exit status: 0 success; 1 a file or a fit failed (one line on stderr, naming the file and
the field); 2 a usage error (argparse); 130 interrupted. An unexpected exception is one
line too; `--debug` or `PINNLOSS_DEBUG=1` shows its traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

from . import __version__

__all__ = ["main"]

#: The command line's one addition to the form registry (`eos.FORM_REGISTRY`).
_NET = "net"
_FLEX_TITLE = "flexible (smoothing spline, λ by cross-validation)"
_NET_TITLE = "EnergyNet (physics-informed MLP)"
_NET_DEFAULTS = {"width": 32, "depth": 2, "seed": 0}

_EPILOG = """\
examples:
  pinnloss fit                               the bundled example (fcc Cu, WIEN2k, ACWF)
  pinnloss fit cu.csv --form vinet           a table with 'volume,energy' columns
  pinnloss fit a.csv b.csv c.csv             several files, one table (one row each)
  pinnloss fit cells.csv --n-atoms 2         per-cell values of a 2-atom cell
  cat cu.csv | pinnloss fit -                '-' reads standard input
  pinnloss fit results.json --key Cu-X/FCC   one crystal of an ACWF results file
  pinnloss fit --json - | jq .v0             results as JSON on standard output

files: a header line names the columns: a volume ('volume', 'V', ...) and an energy
('energy', 'E', 'etot', ...), each optionally with a unit and basis ('Volume (bohr^3)',
'E [Ry/cell]', 'energy_eV_per_atom'), and optionally an 'n_atoms' column. bohr^3, nm^3,
Ry, Hartree, meV, kJ/mol and kcal/mol are converted; unstated units are read as Å^3 and
eV. Values are per cell of n_atoms atoms (the column or --n-atoms) unless the header says
per atom; with no count the table says 'atoms per cell unknown'. Ambiguous headers (two
energy columns, 'a.u.') are refused, not guessed.

JSON (--json): one file gives one object; several give {"results": [...]}. Every number
has its unit under "units"; "std" holds standard errors.

exit status: 0 ok, 1 a file or fit failed, 2 usage error. --debug (or PINNLOSS_DEBUG=1)
shows the traceback of an unexpected error."""


class _Fail(Exception):
    """A one-line error for the user (exit status 1)."""


# --- argument types: refuse at parse time, with the option's name (argparse adds it) ---


def _positive_int(limit):
    def parse(s: str) -> int:
        try:
            n = int(s, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number; got {s!r}") from None
        if not 1 <= n <= limit:
            raise argparse.ArgumentTypeError(f"must lie between 1 and {limit}; got {s}")
        return n

    parse.__name__ = "positive whole number"
    return parse


def _seed(s: str) -> int:
    try:
        n = int(s, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {s!r}") from None
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 2**32 - 1; got {s}")
    return n


def _positive_float(s: str) -> float:
    try:
        x = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {s!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number; got {s}")
    return x


class _FitParser(argparse.ArgumentParser):
    """Builds the `--form` help from the registry only when help is shown (it imports JAX)."""

    def format_help(self) -> str:
        for a in self._actions:
            if a.dest == "form":
                a.help = _form_help()
        return super().format_help()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pinnloss",
        description="Physics-informed fitting of energy–volume curves.",
        epilog="run 'pinnloss fit --help' for the fit command's options and examples.",
    )
    p.add_argument("--version", action="version", version=f"pinnloss {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_FitParser)
    f = sub.add_parser(
        "fit",
        help="fit an equation of state to E(V) points",
        description=(
            "Fit E(V) points and print V0, E0, B0 and B0' with standard errors. FILE is a CSV "
            "or whitespace table with a header naming volume and energy columns, or an ACWF "
            "JSON file with --key; '-' reads standard input. Without FILE, fits the bundled "
            "example (fcc Cu, WIEN2k all-electron, ACWF; MIT licence)."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("files", nargs="*", metavar="FILE", help="data file(s); '-' is standard input")
    f.add_argument("--form", default="bm", metavar="FORM", help="equation of state (default bm)")
    # `ase eos -t vinet`: refused, pointing to --form (see _check_options)
    f.add_argument("-t", "--type", dest="ase_type", metavar="FORM", help=argparse.SUPPRESS)
    f.add_argument("--key", help="crystal in an ACWF JSON file, e.g. Cu-X/FCC")
    f.add_argument(
        "--n-atoms",
        type=_positive_int(100_000),
        default=None,
        metavar="N",
        help="atoms per cell of the values in FILE (default: the file's n_atoms column, else "
        "unknown: values taken as per atom)",
    )
    f.add_argument("--v0", type=_positive_float, help="constraint: equilibrium volume [Å³/atom]")
    f.add_argument(
        "--b0", type=_positive_float, help="constraint: bulk modulus at V0 [GPa] (needs --v0)"
    )
    f.add_argument(
        "--sigma",
        type=_positive_float,
        metavar="MEV",
        help="energy noise per point [meV/atom]: standard errors from it instead of from the "
        "residuals (normal, not Student-t), and fit-quality checks against it",
    )
    f.add_argument(
        "--width", type=_positive_int(4096), help="net with --v0: hidden units (default 32)"
    )
    f.add_argument(
        "--depth", type=_positive_int(16), help="net with --v0: hidden layers (default 2)"
    )
    f.add_argument("--seed", type=_seed, help="net with --v0: random seed (default 0)")
    f.add_argument("--plot", metavar="PNG", help="save E(V) with residuals to this file")
    f.add_argument(
        "--json", metavar="JSON", help="write the results to this JSON file ('-': standard output)"
    )
    f.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use the persistent compilation cache (default: on, in "
        "$PINNLOSS_CACHE_DIR or ~/.cache/pinnloss/jax; PINNLOSS_NO_CACHE=1 also turns it off)",
    )
    f.add_argument("--debug", action="store_true", help="show tracebacks (also PINNLOSS_DEBUG=1)")
    p.fit_parser = f  # usage errors found after parsing are reported by `pinnloss fit`
    return p


def _form_help() -> str:
    from pinnloss import eos

    forms = "; ".join(f"{'/'.join(s.names)}: {s.description}" for s in eos.FORM_REGISTRY.specs())
    return (
        f"equation of state (default bm) — {forms}; {_NET}: {_FLEX_TITLE} "
        f"(fit_eos(form='net')), or with --v0 [--b0] an {_NET_TITLE} held to them"
    )


def _form_name(form: str) -> str:
    """The canonical name of a `--form` choice (as written to `--json`)."""
    from pinnloss import eos

    return _NET if form == _NET else eos.FORM_REGISTRY[form].name


def _form_title(args) -> str:
    from pinnloss import eos

    if args.form == _NET:
        return _NET_TITLE if args.v0 is not None else _FLEX_TITLE
    return eos.FORM_REGISTRY[args.form].description


# --- load and fit one source --------------------------------------------------------------


def _load(args, name):
    from pinnloss import eos

    if name is None:
        if args.key is not None:
            raise _Fail("--key selects a crystal in an ACWF JSON FILE; give the FILE too.")
        data = eos.example_data()
        if args.n_atoms is not None and args.n_atoms != 1:
            raise _Fail("--n-atoms: the bundled example is per atom already; drop --n-atoms.")
        return data, "bundled example: " + data.label
    source = sys.stdin if name == "-" else name
    try:
        data = eos.load(source, key=args.key, n_atoms=args.n_atoms)
    except ValueError as e:
        raise _Fail(getattr(e, "cli_message", None) or f"{name}: {e}") from e
    return data, ("standard input" if name == "-" else name) + (
        f" [{args.key}]" if args.key else ""
    )


def _fit(args, data):
    import jax

    from pinnloss import eos

    b0 = None if args.b0 is None else args.b0 / eos.EV_PER_A3_TO_GPA
    if args.form != _NET:
        model = eos.fit_eos(data, args.form)
        if args.v0 is not None:  # soft constraints on top of the data
            model = eos.fit_constrained(model, data, v0=args.v0, b0=b0)
        return model
    if args.v0 is None:
        # the flexible form: smoothing spline with a Birch–Murnaghan null space, λ chosen by
        # cross-validation; no V0/B0 constraint borrowed from another fit
        return eos.fit_eos(data, form=_NET)
    # the user's independent V0 (and B0) as ZeroPressure/BulkModulus terms on an EnergyNet
    opt = {
        k: _NET_DEFAULTS[k] if getattr(args, k) is None else getattr(args, k) for k in _NET_DEFAULTS
    }
    net = eos.EnergyNet(
        data, width=opt["width"], depth=opt["depth"], key=jax.random.key(opt["seed"])
    )
    return eos.fit_constrained(net, data, v0=args.v0, b0=b0)


def _result(args, data, source) -> dict:
    """Fit and measure one loaded source: a dict of what the table and JSON show.

    Fit-quality doubts become notes: `eos.assess` on the final classical form (its
    `FitQualityWarning`s from `fit_eos` say the same and are not printed twice); any other
    warning the library raises is a note too, not a Python warning line.
    """
    import pinnloss as pl
    from pinnloss import eos

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", eos.FitQualityWarning)
        try:
            model = _fit(args, data)
            classical = isinstance(model, eos.AbstractEOS)
            sigma = {"sigma": args.sigma * 1e-3} if args.sigma is not None and classical else {}
            props = eos.properties(model, data, **sigma)
            rms = float(eos.rms(model, data))
            verdicts = eos.assess(model, data, **sigma) if classical else []
        except (ValueError, pl.SolveError) as e:  # name the file the fit failed on
            raise _Fail(f"{source}: {e}") from e
    notes = list(data.notes)
    here = os.path.dirname(os.path.abspath(__file__))  # the pinnloss package
    for w in caught:
        msg = " ".join(str(w.message).split())
        if not os.path.abspath(w.filename).startswith(here + os.sep):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)  # not ours
        elif msg not in notes:
            notes.append(msg)
    r = {
        "source": source,
        "data": data,
        "model": model,
        "values": {k: float(v) for k, v in props.as_dict().items()},
        "std": {},
        "dof": None,
        "intervals": {},
        "rms": rms,
        "notes": notes,
        "verdicts": [{"kind": v.kind, "message": v.message} for v in verdicts],
    }
    if props.std is not None:
        r["std"] = {k: float(v) for k, v in props.std.as_dict().items()}
        r["dof"] = int(props.dof)
        r["sigma_known"] = bool(props.sigma_known)
        r["intervals"] = {f"{lv:.0%}": props.interval(lv) for lv in (0.68, 0.95)}
    if args.form == _NET and args.v0 is None:  # the flexible form: what it chose, its spread
        rep = model.report
        r["flexible"] = {
            "lambda": float(rep.lam),
            "n_folds": int(rep.n_folds),
            "cv_rms_mev_per_atom": float(rep.cv_rms),
            "cv_rms_birch_murnaghan_limit_mev_per_atom": float(rep.cv_rms_cubic),
            "effective_parameters": float(rep.dof),
            "noise_mev_per_atom": float(rep.sigma),
        }
        r["summary"] = model.summary().splitlines()
        try:
            u = model.uncertainty()
        except ValueError as e:
            notes.append(" ".join(str(e).split()))
        else:
            r["std"] = {k: float(v) for k, v in u.std.as_dict().items()}
            r["ensemble"] = (int(u.n_valid), int(u.n))
    elif args.form == _NET:
        notes.append(
            "the EnergyNet is held to the given V0"
            + (" and B0" if args.b0 is not None else " only (no --b0: B0 is not constrained)")
            + "; nothing constrains its B0', which an interpolating net gets wrong: take B0' from "
            "the flexible form (--form net without --v0) or a classical form"
        )
    return r


# --- output ---------------------------------------------------------------------------

_ROWS = (  # key, table label, decimals; units from eos.UNITS, the one unit table
    ("v0", "V0", 8),
    ("e0", "E0", 8),
    ("b0", "B0", 8),
    ("b0_gpa", "B0", 5),
    ("b1", "B0'", 5),
)
#: JSON fields that are not properties, with their units and meanings
_JSON_UNITS = {
    "rms_residual_mev_per_atom": "meV/atom",
    "n_points": "count",
    "n_atoms": "atoms per cell (null: unknown)",
    "std": "same units as the value",
    "interval_68": "same units as the value ([low, high] at 68 % confidence)",
    "interval_95": "same units as the value ([low, high] at 95 % confidence)",
    "dof": "count (residual degrees of freedom)",
    "sigma": "meV/atom (the --sigma given, or null)",
    "flexible.lambda": "1 (smoothing strength of the scaled problem)",
    "flexible.n_folds": "count",
    "flexible.cv_rms_mev_per_atom": "meV/atom",
    "flexible.cv_rms_birch_murnaghan_limit_mev_per_atom": "meV/atom",
    "flexible.effective_parameters": "count (trace of the smoother matrix)",
    "flexible.noise_mev_per_atom": "meV/atom",
}


def _units() -> dict:
    """The "units" of the JSON output: the properties' from `eos.UNITS`, then the rest."""
    from pinnloss import eos

    u = {k: eos.UNITS[k] or "1 (dimensionless)" for k in ("v0", "e0", "b0", "b0_gpa", "b1")}
    u["volume_range"] = eos.UNITS["volume"]
    u["constraints.v0"] = eos.UNITS["v0"]
    u["constraints.b0_gpa"] = eos.UNITS["b0_gpa"]
    return {**u, **_JSON_UNITS}


def _describe(data) -> str:
    return (
        f"{len(data)} points, V {data.volume.min():.6g}–{data.volume.max():.6g} Å³/atom, "
        f"{data.describe()}"
    )


def _table_one(args, r) -> str:
    from pinnloss import eos

    lines = [
        f"pinnloss fit: {r['source']}",
        f"  {_describe(r['data'])}; form: {_form_title(args)}",
    ]
    if args.v0 is not None:
        c = f"V0 = {args.v0} Å³/atom" + (f", B0 = {args.b0} GPa" if args.b0 is not None else "")
        lines.append(f"  constraints: {c}")
    rows = [
        (lab, f"{r['values'][k]:.{d}f}", _fmt_std(r["std"].get(k)), eos.UNITS[k])
        for k, lab, d in _ROWS
    ]
    rows.append(("RMS residual", f"{r['rms']:.4g}", "", "meV/atom"))
    w = max(len(x[1]) for x in rows)
    ws = max(len(x[2]) for x in rows)
    ws = max(ws, len("std. error")) if ws else 0
    lines.append("")
    head = f"  {'quantity':<13s}{'value':>{w}s}  "
    lines.append(head + (f"{'std. error':>{ws}s}  " if ws else "") + "unit")
    for lab, val, s, unit in rows:
        lines.append(f"  {lab:<13s}{val:>{w}s}  " + (f"{s:>{ws}s}  " if ws else "") + unit)
    lines += [f"  flexible: {line}" for line in r.get("summary", [])]
    if r["std"]:
        lines.append(f"  std. error: {_std_method(r)}")
    lines += _notes(r)
    return "\n".join(line.rstrip() if line.strip() else "" for line in lines)


def _std_method(r) -> str:
    if "ensemble" in r:
        n_valid, n = r["ensemble"]
        return (
            f"spread of a {n}-member parametric bootstrap ({n_valid} with a minimum), each "
            "member re-choosing λ"
        )
    if r.get("sigma_known"):
        return "from the fit's covariance (noise σ given by --sigma; normal)"
    return f"from the fit's covariance (σ from the residuals; Student-t, {r['dof']} dof)"


def _fmt_std(s) -> str:
    """A standard error to two significant digits, fixed-point ("" when there is none)."""
    if s is None:
        return ""
    if not math.isfinite(s):
        return "n/a"
    if s == 0:
        return "0"
    return f"{s:.{min(15, max(0, 1 - math.floor(math.log10(abs(s)))))}f}"


def _table_many(args, results) -> str:
    n, given = len(results), len(args.files)
    fitted = f"{n} of {given} files" if n < given else f"{n} files"
    lines = [f"pinnloss fit: {fitted}; form: {_form_title(args)}", ""]
    head = [
        "file",
        "points",
        "basis",
        "V0 [Å³/atom]",
        "E0 [eV/atom]",
        "B0 [GPa]",
        "B0'",
        "RMS [meV/atom]",
    ]
    body = []
    for r in results:
        v, s, data = r["values"], r["std"], r["data"]
        basis = {"per atom": "per atom", "per cell": f"per cell of {data.n_atoms}"}.get(
            data.basis, "atoms per cell unknown"
        )
        body.append(
            [
                r["source"],
                str(len(data)),
                basis,
                _pm(v["v0"], s.get("v0"), 6),
                f"{v['e0']:.6f}",
                _pm(v["b0_gpa"], s.get("b0_gpa"), 3),
                _pm(v["b1"], s.get("b1"), 3),
                f"{r['rms']:.3g}",
            ]
        )
    w = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    fmt = lambda row: (
        "  "
        + "  ".join(  # noqa: E731
            c.ljust(w[i]) if i in (0, 2) else c.rjust(w[i]) for i, c in enumerate(row)
        )
    )
    lines.append(fmt(head).rstrip())
    lines += [fmt(row).rstrip() for row in body]
    for r in results:
        lines += _notes(r, f"{r['source']}: ")
    return "\n".join(lines)


def _notes(r, prefix="") -> list[str]:
    """Data notes, then fit-quality verdicts (`note (kind): message`), one line each."""
    out = [f"  note: {prefix}{n}" for n in r["notes"]]
    for v in r["verdicts"]:  # the library's messages may already name the curve
        msg = v["message"]
        named = prefix and msg.startswith((r["source"], r["data"].label))
        out.append(f"  note ({v['kind']}): {'' if named else prefix}{msg}")
    return out


def _pm(x, s, d) -> str:
    return f"{x:.{d}f}" if s is None else f"{x:.{d}f} ± {_fmt_std(s)}"


def _json_result(args, r) -> dict:
    data = r["data"]
    out = {
        "source": r["source"],
        "form": _form_name(args.form),
        "n_points": len(data),
        "volume_range": [float(data.volume.min()), float(data.volume.max())],
        "n_atoms": data.n_atoms,
        "basis": data.basis,
        "constraints": {"v0": args.v0, "b0_gpa": args.b0},
        "sigma": args.sigma,
        **r["values"],
        "std": {k: _finite(v) for k, v in r["std"].items()} or None,
    }
    if "flexible" in r:
        out["flexible"] = r["flexible"]
    if r["std"]:
        out["std_method"] = _std_method(r)
        out["dof"] = r["dof"]
        for lv, iv in r["intervals"].items():
            out[f"interval_{lv.rstrip('%')}"] = {
                k: [_finite(lo), _finite(hi)] for k, (lo, hi) in iv.items()
            }
    out["rms_residual_mev_per_atom"] = r["rms"]
    out["notes"] = r["notes"]
    out["verdicts"] = r["verdicts"]
    return out


def _finite(x):
    """JSON has no NaN: a non-finite number is null."""
    return float(x) if math.isfinite(x) else None


def _write_json(args, results, failed) -> None:
    import json

    if len(args.files) <= 1:
        doc = {"pinnloss_version": __version__, **_json_result(args, results[0]), "units": _units()}
    else:
        doc = {
            "pinnloss_version": __version__,
            "results": [_json_result(args, r) for r in results],
            "errors": failed,
            "units": _units(),
        }
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if args.json == "-":
        sys.stdout.write(text)
        return
    try:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise _Fail(f"cannot write --json {args.json}: {e.strerror}.") from e


def _save_plot(args, r) -> None:
    from pinnloss import eos

    fig = eos.plot.energy_volume(r["data"], {_form_title(args): r["model"]})
    try:
        fig.savefig(args.plot, dpi=130)
    except (OSError, ValueError) as e:
        raise _Fail(f"cannot save --plot {args.plot}: {e}") from e


def _check_options(args, parser) -> None:
    """Usage errors that need more than one option (exit status 2, like argparse's)."""
    if args.ase_type is not None:
        parser.error(
            f"-t/--type is ase eos's option; pinnloss fit names the form with --form "
            f"(--form {args.ase_type}; 'pinnloss fit --help' lists the forms)."
        )
    if args.b0 is not None and args.v0 is None:
        parser.error("--b0 constrains the bulk modulus at V0; give --v0 too.")
    if args.sigma is not None and args.form == _NET:
        parser.error("--sigma sets the standard errors of a classical form; not of --form net.")
    given = [f"--{k}" for k in _NET_DEFAULTS if getattr(args, k) is not None]
    if given and not (args.form == _NET and args.v0 is not None):
        parser.error(
            f"{'/'.join(given)}: only for the EnergyNet of --form net with --v0 [--b0]; the "
            "classical and the flexible forms (no --v0) have no such options."
        )
    if args.files.count("-") > 1:
        parser.error("'-' (standard input) can be read once.")
    if len(args.files) > 1:
        if args.v0 is not None:
            parser.error("--v0/--b0 constrain one curve; give one FILE.")
        if args.plot:
            parser.error("--plot draws one curve; give one FILE.")


def _check_form(args, parser) -> None:
    from pinnloss import eos  # the registry imports JAX: checked once the files have loaded

    if args.form != _NET:
        if args.form not in eos.FORM_REGISTRY:
            names = ", ".join([*eos.FORM_REGISTRY, _NET])
            parser.error(f"argument --form: unknown form {args.form!r}; choose one of {names}")


def _each(items, args, step, several: bool):
    """`step(item)` for each source. With several sources a failure is one line on stderr
    and the rest go on; returns (results, the failures' messages)."""
    done, failed = [], []
    for item in items:
        try:
            done.append(step(item))
        except Exception as e:  # noqa: BLE001 - one file's failure must not hide the others
            if not several:
                raise
            failed.append(_error(e, args))
    return done, failed


def _run_fit(args, parser) -> int:
    _check_options(args, parser)
    names = args.files or [None]
    several = len(names) > 1
    # read every file first (NumPy only): a bad file answers before JAX loads
    loaded, failed = _each(names, args, lambda name: _load(args, name), several)
    if not loaded:
        return 1
    import jax

    _check_form(args, parser)
    jax.config.update("jax_enable_x64", True)
    if not args.no_cache:
        from ._cache import enable_compilation_cache

        enable_compilation_cache()
    results, failed_fit = _each(loaded, args, lambda ds: _result(args, *ds), several)
    failed += failed_fit
    if not results:
        return 1
    if args.json == "-":
        _write_json(args, results, failed)
    else:
        print(_table_many(args, results) if several else _table_one(args, results[0]))
        if args.json:
            _write_json(args, results, failed)
    if args.plot:
        _save_plot(args, results[0])
    return 1 if failed else 0


def _debug(args=None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("PINNLOSS_DEBUG", "") not in (
        "",
        "0",
    )


def _error(e: BaseException, args=None) -> str:
    """One line on stderr (returned too); re-raises under --debug / PINNLOSS_DEBUG=1."""
    if _debug(args):
        raise e
    if isinstance(e, _Fail):
        msg = str(e)
    elif isinstance(e, (ValueError, OSError)) or type(e).__name__ == "SolveError":
        msg = getattr(e, "cli_message", None) or str(e)
    else:
        msg = (
            f"unexpected {type(e).__name__}: {e} (a bug in pinnloss; --debug or "
            "PINNLOSS_DEBUG=1 shows the traceback)"
        )
    msg = " ".join(msg.split())
    print(f"pinnloss: error: {msg}", file=sys.stderr)
    return msg


def _quiet_stdout() -> None:
    """After a broken pipe (`pinnloss fit | head -1`): no further writes, no exit message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (captured in tests)
        pass


def main(argv=None) -> int:
    """Entry point of the `pinnloss` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)  # usage errors: SystemExit(2) with argparse's message
    if args.command != "fit":
        parser.print_help(sys.stderr)
        return 2
    try:
        rc = _run_fit(args, parser.fit_parser)
        sys.stdout.flush()  # a broken pipe shows here, not at interpreter exit
        return rc
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command cut off by `head`
    except KeyboardInterrupt:
        print("pinnloss: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - never a traceback (unless --debug)
        _error(e, args)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
