"""`pinnloss fit` on awkward input (issue 12 §2): per cell vs per atom, ambiguous headers,
units, malformed JSON and tables, several files, standard input, and the habits of a command
line (--version, --help, quiet broken pipes, no tracebacks). In-process via `cli.main`,
except the checks that need a real process (tests/test_cli.py runs the console script on
standard input)."""

import io
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from pinnloss import cli, eos
from pinnloss.eos._data import BOHR_A, RYDBERG_EV

CU = eos.example_data()
V, E = CU.volume.tolist(), CU.absolute_energy.tolist()
V0 = 11.951030236652795  # ACWF's published WIEN2k Cu fit (tests/test_cli.py)


def _run(capsys, *args):
    rc = cli.main(["fit", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def _csv(path, header, fmt, sv=1.0, se=1.0, encoding="utf-8"):
    rows = "".join(fmt.format(v=v * sv, e=e * se) for v, e in zip(V, E))
    path.write_text(header + "\n" + rows, encoding=encoding)
    return path


def _json(capsys, *args):
    rc, out, err = _run(capsys, *args, "--json", "-")
    assert rc == 0, err
    return json.loads(out)


def _one_error(rc, out, err, *needles):
    assert rc == 1 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("pinnloss: error:"), err
    for n in needles:
        assert n in err, (n, err)


def test_per_cell_file_is_divided_and_says_so(capsys, tmp_path):
    """A per-cell 2-atom CSV printed V0 40.07 'Å³/atom' for a truth of 20.035."""
    p = _csv(tmp_path / "cu2.csv", "volume,energy,n_atoms", "{v!r},{e!r},2\n", 2, 2)
    rc, out, _ = _run(capsys, p)
    assert rc == 0 and "per cell of 2 atoms, divided to per atom" in out.splitlines()[1]
    res = _json(capsys, p)
    assert np.isclose(res["v0"], V0, rtol=1e-8) and res["n_atoms"] == 2
    assert res["basis"] == "per cell"
    # the same numbers with --n-atoms instead of a column
    q = _csv(tmp_path / "cu2b.csv", "volume,energy", "{v!r},{e!r}\n", 2, 2)
    assert np.isclose(_json(capsys, q, "--n-atoms", 2)["v0"], V0, rtol=1e-8)
    # no count anywhere: the fit is of the values as given, and the header line says so
    rc, out, _ = _run(capsys, q)
    assert rc == 0 and "atoms per cell unknown" in out.splitlines()[1]
    assert _json(capsys, q)["n_atoms"] is None


def test_ambiguous_or_lookalike_headers(capsys, tmp_path):
    f = _csv(tmp_path / "f.csv", "volume,e_fermi,energy", "{v!r},7.1,{e!r}\n")
    assert np.isclose(_json(capsys, f)["v0"], V0, rtol=1e-8)  # the energy, not E_Fermi
    two = _csv(tmp_path / "two.csv", "volume_cell,volume_atom,energy", "{v!r},{v!r},{e!r}\n")
    _one_error(*_run(capsys, two), "two.csv:", "ambiguous header: 2 volume columns")
    au = _csv(tmp_path / "au.csv", "Volume (bohr^3),Energy (a.u.)", "{v!r},{e!r}\n")
    _one_error(*_run(capsys, au), "au.csv:", "'a.u.' is ambiguous")


def test_units_in_the_header_are_converted(capsys, tmp_path):
    p = _csv(
        tmp_path / "qe.csv",
        "Volume (bohr^3),Energy (Ry)",
        "{v!r},{e!r}\n",
        BOHR_A**-3,
        1 / RYDBERG_EV,
    )
    rc, out, _ = _run(capsys, p)
    assert rc == 0 and "note: converted volume from bohr³ and energy from Ry" in out
    res = _json(capsys, p)
    assert np.isclose(res["v0"], V0, rtol=1e-8) and res["units"]["v0"] == "Å³/atom"


def test_malformed_tables(capsys, tmp_path):
    four = _csv(tmp_path / "four.csv", "volume,energy", "{v!r},{e!r},1,2\n")
    _one_error(*_run(capsys, four), "four.csv: line 2 has 4 field(s)", "header names 2")
    frac = _csv(tmp_path / "frac.csv", "volume,energy,n_atoms", "{v!r},{e!r},2.7\n")
    _one_error(*_run(capsys, frac), "frac.csv: line 2, column 'n_atoms': '2.7'")
    long = tmp_path / "long.csv"
    long.write_text('volume,energy\n"' + "1" * 140_000 + '",2\n')
    _one_error(*_run(capsys, long), "long.csv: line 2 cannot be read")
    bom = _csv(tmp_path / "bom.csv", "volume,energy", "{v!r},{e!r}\n", encoding="utf-8-sig")
    assert np.isclose(_json(capsys, bom)["v0"], V0, rtol=1e-8)


@pytest.mark.parametrize(
    "doc, needle",
    [
        ('{"eos_data": {}}', "'eos_data' holds no crystal"),
        ('{"eos_data": [[10, 1]]}', "'eos_data' must map crystal keys"),
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ('{"eos_data": {"Cu-X/FCC": [[1, 2, 3]]}}', "eos_data['Cu-X/FCC'] is not a list"),
    ],
    ids=["empty", "list", "deep", "triples"],
)
def test_malformed_json(capsys, tmp_path, doc, needle):
    p = tmp_path / "r.json"
    p.write_text(doc)
    _one_error(*_run(capsys, p), f"{p}: ", needle)


def test_acwf_errors_name_the_option(capsys, tmp_path):
    pts = [[v, e] for v, e in zip(V, E)]
    p = tmp_path / "acwf.json"
    p.write_text(json.dumps({"eos_data": {"Cu-X/FCC": pts, "Cu-X/BCC": pts}}))
    rc, out, err = _run(capsys, p)
    _one_error(rc, out, err, "pick one with --key 'Cu-X/BCC'")
    assert "key=" not in err
    assert np.isclose(_json(capsys, p, "--key", "Cu-X/FCC")["v0"], V0, rtol=1e-8)


def test_several_files_one_table(capsys, tmp_path):
    a = _csv(tmp_path / "a.csv", "volume,energy", "{v!r},{e!r}\n")
    b = _csv(tmp_path / "b.csv", "volume,energy,n_atoms", "{v!r},{e!r},2\n", 2, 2)
    bad = tmp_path / "missing.csv"
    mono = tmp_path / "mono.csv"  # loads, but its fit fails: no minimum inside the volumes
    mono.write_text("volume,energy\n10,-1.0\n10.5,-1.2\n11,-1.35\n11.5,-1.45\n12,-1.5\n")
    rc, out, err = _run(capsys, a, bad, b, mono)
    assert rc == 1 and err.count("\n") == 2 and "Traceback" not in err
    assert f"{bad}: no such file" in err and f"{mono}: " in err and "minimum" in err
    lines = out.splitlines()
    # issue 17: it said "1 files" when one of two failed, and cut the basis to "unknown n"
    assert lines[0] == "pinnloss fit: 2 of 4 files; form: Birch–Murnaghan (3rd order)"
    assert lines[2].split()[:3] == ["file", "points", "basis"]
    rows = [ln for ln in lines if ln.strip().startswith(str(tmp_path))]
    assert len(rows) == 2 and " atoms per cell unknown " in rows[0]
    assert " per cell of 2 " in rows[1]
    rc, out, err = _run(capsys, a, bad)
    assert rc == 1 and out.startswith("pinnloss fit: 1 of 2 files;") and "no such file" in err
    _, out, _ = _run(capsys, a, b)
    assert out.startswith("pinnloss fit: 2 files;")
    for row in rows:
        assert f"{V0:.6f} ±" in row
    rc, out, _ = _run(capsys, a, b, bad, "--json", "-")
    res = json.loads(out)
    assert rc == 1 and [r["source"] for r in res["results"]] == [str(a), str(b)]
    assert res["errors"] == [f"{bad}: no such file."] and "v0" in res["units"]
    assert res["pinnloss_version"]


def test_utf16_files_links_and_the_ase_type_option(capsys, tmp_path):
    """Issue 17: UTF-16 was "not a text file", a symlink loop "no such file", and `-t` (the
    `ase eos` habit) was refused without pointing to --form."""
    for enc in ("utf-16", "utf-16-be", "utf-32"):  # with a byte-order mark: read
        p = _csv(tmp_path / f"{enc}.csv", "\ufeffvolume,energy", "{v!r},{e!r}\n", encoding=enc)
        assert np.isclose(_json(capsys, p)["v0"], V0, rtol=1e-8), enc
    for enc in ("utf-16-le", "utf-16-be"):  # without one: named, not guessed
        p = _csv(tmp_path / f"{enc}.csv", "volume,energy", "{v!r},{e!r}\n", encoding=enc)
        _one_error(*_run(capsys, p), f"{p}: not a text file: UTF-16 without a byte-order mark")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("volume,énergie\n1,2\n".encode("latin-1"))
    _one_error(*_run(capsys, latin), "not a text file: invalid UTF-8 (invalid continuation byte")
    binary = tmp_path / "x.npy"
    np.save(binary, np.arange(4.0))
    _one_error(*_run(capsys, binary), "not a text file (binary data)")
    loop_a, loop_b = tmp_path / "loop_a", tmp_path / "loop_b"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    _one_error(*_run(capsys, loop_a), f"{loop_a}: a loop of symbolic links")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone.csv")
    _one_error(*_run(capsys, dangling), f"{dangling}: a broken symbolic link (to ", "gone.csv")
    with pytest.raises(ValueError, match="a loop of symbolic links"):
        eos.load(loop_b)
    for opt in ("-t", "--type"):
        with pytest.raises(SystemExit) as e:
            cli.main(["fit", opt, "vinet"])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "pinnloss fit names the form with --form (--form vinet" in err


@pytest.mark.parametrize("scale, form", [(1e300, "vinet"), (1e300, "bm"), (1e-300, "bm")])
def test_data_of_unfittable_scale_is_refused(capsys, tmp_path, scale, form):
    """Issue 17: energies and volumes x1e300 printed B0' = -1 and RMS inf (vinet) or a wrong
    reason (bm: "turns over"; x1e-300: "not convex")."""
    p = _csv(tmp_path / "big.csv", "volume,energy", "{v!r},{e!r}\n", scale, scale)
    _one_error(*_run(capsys, p, "--form", form), "cannot be fitted in floating point", "units")


def test_standard_input(capsys, monkeypatch, tmp_path):
    text = _csv(tmp_path / "x.csv", "volume,energy", "{v!r},{e!r}\n").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    res = _json(capsys, "-")
    assert res["source"] == "standard input" and np.isclose(res["v0"], V0, rtol=1e-8)
    monkeypatch.setattr(sys, "stdin", io.StringIO("volume,energy\n"))
    _one_error(*_run(capsys, "-"), "no rows of numbers")


def test_fit_quality_verdicts_are_notes_not_warnings(capsys, tmp_path):
    """eos.assess's verdicts print as one-line notes (and go to JSON with their kind); no
    FitQualityWarning reaches the terminal as a Python warning line."""
    # Cu's 7 volumes, energies of a Birch–Murnaghan curve whose minimum is at the top edge
    bm = eos.BirchMurnaghan(e0=-3.0, v0=12.6, b0=0.88, b1=5.0)
    e = np.asarray(bm(np.asarray(V))) + 1e-6 * np.cos(np.arange(7))
    edge = tmp_path / "edge.csv"
    edge.write_text("volume,energy\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(V, e.tolist())))
    d = eos.load(edge)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", eos.FitQualityWarning)
        expected = [v.kind for v in eos.assess(eos.fit_eos(d), d)]
    assert "v0_edge" in expected  # V0 = 12.6 against volumes up to 12.68
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping the CLI fails the test
        rc, out, err = _run(capsys, edge)
        res = _json(capsys, edge)
    assert rc == 0 and err == ""
    for kind in expected:
        assert f"  note ({kind}): " in out
    assert [v["kind"] for v in res["verdicts"]] == expected


def test_sigma_sets_the_standard_errors(capsys):
    """--sigma: errors from the given noise, linear in it (the covariance is σ² (JᵀJ)⁻¹)."""
    one, two = _json(capsys, "--sigma", 1), _json(capsys, "--sigma", 2)
    assert one["sigma"] == 1 and "given by --sigma" in one["std_method"]
    for k in ("v0", "b0_gpa", "b1"):
        assert np.isclose(two["std"][k], 2 * one["std"][k], rtol=1e-9)
    props = eos.properties(eos.fit_eos(CU), CU, sigma=1e-3)
    assert np.isclose(one["std"]["v0"], float(props.std.v0), rtol=1e-9)


def test_form_net_is_the_flexible_fit_and_says_what_it_chose(capsys, monkeypatch, tmp_path):
    """--form net without --v0 calls fit_eos(form='net') and prints λ, CV RMS, ensemble."""
    fits = []
    fit_eos = eos.fit_eos
    monkeypatch.setattr(eos, "fit_eos", lambda *a, **k: fits.append(fit_eos(*a, **k)) or fits[-1])
    rc, out, _ = _run(capsys, "--form", "net", "--json", tmp_path / "n.json")
    res = json.loads((tmp_path / "n.json").read_text())
    (flex,) = fits  # one fit, the flexible form's
    props, spread = eos.properties(flex, CU), flex.uncertainty()
    assert rc == 0 and "form: flexible (smoothing spline" in out and "  flexible: " in out
    assert res["form"] == "net" and res["flexible"]["lambda"] == float(flex.report.lam)
    assert res["flexible"]["n_folds"] == 7 and "parametric bootstrap" in res["std_method"]
    for k in ("v0", "b0_gpa", "b1"):
        assert np.isclose(res[k], float(getattr(props, k)), rtol=1e-10)
        assert np.isclose(res["std"][k], float(getattr(spread.std, k)), rtol=1e-10)
    assert np.isclose(res["v0"], V0, rtol=1e-5)  # and it agrees with Birch–Murnaghan on Cu
    with pytest.raises(SystemExit):  # the net's options without the net they shape
        cli.main(["fit", "--form", "net", "--width", "8"])
    assert "only for the EnergyNet of --form net with --v0" in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["fit", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "examples:" in out and "pinnloss fit a.csv b.csv" in out
    assert "vinet" in out and "net: flexible" in out  # forms from the registry


def test_unexpected_errors_are_one_line_unless_debugging(capsys, monkeypatch):
    def broken(*a, **k):
        raise TypeError("something internal")

    monkeypatch.setattr(eos, "rms", broken)
    monkeypatch.delenv("PINNLOSS_DEBUG", raising=False)
    rc, out, err = _run(capsys)
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected TypeError: something internal" in err and "--debug" in err
    with pytest.raises(TypeError):
        cli.main(["fit", "--debug"])
    monkeypatch.setenv("PINNLOSS_DEBUG", "1")
    with pytest.raises(TypeError):
        cli.main(["fit"])


# --- the checks that need a real process ---------------------------------------------


def test_version_is_instant():
    """--version answers without importing JAX."""
    code = (
        "import sys\nfrom pinnloss import cli\ntry:\n    cli.main(['--version'])\n"
        "except SystemExit as e:\n    assert e.code == 0\nassert 'jax' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import pinnloss

    assert out.stdout.strip() == f"pinnloss {pinnloss.__version__}"


def test_a_closed_pipe_is_quiet(capsys, monkeypatch):
    """`pinnloss fit | head -1`: no 'Broken pipe' message, no traceback, status 141.

    In-process for the fit (a stdout whose write fails as a closed pipe's does), then a real
    process whose reader is gone, for the file descriptor and interpreter exit (its table
    stubbed, so that it needs no JAX)."""

    class ClosedPipe(io.StringIO):
        def write(self, s):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["fit"]) == 141
    assert capsys.readouterr().err == ""
    monkeypatch.undo()
    code = (
        "import sys\nfrom pinnloss import cli\n"
        "cli._run_fit = lambda args, parser: print('x' * 100_000) or 0\n"
        "sys.exit(cli.main(['fit']))\n"
    )
    r, w = os.pipe()
    os.close(r)  # the reader is gone before pinnloss writes: its write fails with EPIPE
    proc = subprocess.run([sys.executable, "-c", code], stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    assert (proc.returncode, proc.stderr.decode()) == (141, "")
