"""The `pinnloss fit` command: bundled example, files, JSON, plot, and clean errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pinnloss
from pinnloss import cli, eos

ACWF = Path(__file__).resolve().parent / "data" / "acwf"  # vendored, MIT (see its LICENSE)
WIEN2K_CU = dict(v0=11.951030236652795, b0=0.8795254466984688, b1=5.059358041834583)


def _run(capsys, *args):
    rc = cli.main(["fit", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_bundled_example_table_json_plot(capsys, tmp_path):
    rc, out, err = _run(capsys, "--json", tmp_path / "r.json", "--plot", tmp_path / "r.png")
    assert rc == 0 and err == ""
    assert "bundled example" in out and "B0'" in out and "GPa" in out
    assert "7 points, V 11.243–12.6783 Å³/atom, per atom;" in out  # the basis, said
    text = (tmp_path / "r.json").read_text()
    assert text.endswith("}\n")  # a trailing newline
    res = json.loads(text)
    assert res["pinnloss_version"] == pinnloss.__version__
    # a unit for every number in the file
    numbers = [
        k
        for k, v in res.items()
        if isinstance(v, (int, float, list)) and k not in ("notes", "verdicts")
    ]
    numbers += [f"constraints.{k}" for k in res["constraints"]]
    assert set(numbers) <= set(res["units"]), set(numbers) - set(res["units"])
    assert set(res["std"]) == {"v0", "e0", "b0", "b0_gpa", "b1"} and res["dof"] == 3
    # standard errors agree with the library's, and the table shows them
    props = eos.properties(eos.fit_eos(eos.example_data()), eos.example_data())
    for k in res["std"]:
        assert np.isclose(res["std"][k], float(getattr(props.std, k)), rtol=1e-6)
        lo, hi = res["interval_95"][k]
        assert lo < res[k] < hi
    assert f"{res['std']['b0_gpa']:.2g}" in out and "std. error" in out
    # the bundled curve is the ACWF WIEN2k Cu curve: its published fit is reproduced
    assert np.isclose(res["v0"], WIEN2K_CU["v0"], rtol=1e-6)
    assert np.isclose(res["b0"], WIEN2K_CU["b0"], rtol=1e-5)
    assert np.isclose(res["b1"], WIEN2K_CU["b1"], rtol=1e-3)
    assert np.isclose(res["b0_gpa"], res["b0"] * eos.EV_PER_A3_TO_GPA, rtol=1e-12)
    assert f"{res['v0']:.8f}" in out and f"{res['b0_gpa']:.5f}" in out
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_file_and_forms(capsys, tmp_path):
    d = eos.example_data()
    p = tmp_path / "cu2.txt"  # two atoms per cell, whitespace table
    p.write_text(
        "V E\n"
        + "".join(
            f"{2 * v!r} {2 * e!r}\n" for v, e in zip(d.volume.tolist(), d.absolute_energy.tolist())
        )
    )
    rc, out, _ = _run(capsys, p, "--n-atoms", 2, "--form", "vinet", "--json", tmp_path / "v.json")
    assert rc == 0 and "Vinet" in out
    res = json.loads((tmp_path / "v.json").read_text())
    assert np.isclose(res["v0"], float(eos.fit_eos(d, "vinet").v0), rtol=1e-10)
    assert res["form"] == "vinet"


@pytest.mark.parametrize("form", ["pt", "poirier_tarantola"])
def test_form_aliases_from_the_registry(capsys, tmp_path, form):
    rc, out, _ = _run(capsys, "--form", form, "--json", tmp_path / "f.json")
    assert rc == 0 and "form: Poirier–Tarantola" in out
    res = json.loads((tmp_path / "f.json").read_text())
    assert res["form"] == "poirier_tarantola"  # the canonical name, whatever alias was given
    ref = eos.fit_eos(eos.example_data(), "poirier_tarantola")
    assert np.isclose(res["v0"], float(ref.v0), rtol=1e-12)
    assert np.isclose(res["rms_residual_mev_per_atom"], eos.rms(ref, eos.example_data()))


def test_acwf_file_and_net_with_constraints(capsys, tmp_path):
    f = ACWF / "results-unaries-verification-PBE-v1-fleur.json"
    rc, out, err = _run(
        capsys,
        f,
        "--key",
        "Cu-X/FCC",
        "--form",
        "net",
        "--v0",
        11.9522,
        "--b0",
        141.0,
        "--json",
        tmp_path / "n.json",
    )
    assert rc == 0, err
    res = json.loads((tmp_path / "n.json").read_text())
    assert np.isclose(res["v0"], 11.9522, rtol=5e-4) and np.isclose(res["b0_gpa"], 141.0, rtol=1e-2)
    assert res["rms_residual_mev_per_atom"] < 0.5 and "constraints" in out
    assert "nothing constrains its B0'" in out  # the caveat issue 11 asked for


def test_constrained_refit_is_the_library_function(capsys, tmp_path):
    """`pinnloss fit --v0 --b0` is `eos.fit_constrained` on the fit_eos result: a script gets
    the same numbers (issue 18); the constraint holds better than in the free fit."""
    data = eos.example_data()
    v0, b0_gpa = 11.9522, 141.0
    for form in ("bm", "vinet"):
        rc, out, err = _run(
            capsys, "--form", form, "--v0", v0, "--b0", b0_gpa, "--json", tmp_path / "c.json"
        )
        assert rc == 0, err
        res = json.loads((tmp_path / "c.json").read_text())
        free = eos.fit_eos(data, form)
        held = eos.fit_constrained(free, data, v0=v0, b0=b0_gpa / eos.EV_PER_A3_TO_GPA)
        p = eos.properties(held, data).as_dict()
        for k in ("v0", "e0", "b0", "b1"):
            assert np.isclose(res[k], float(p[k]), rtol=1e-12, atol=0), (form, k)
        assert abs(float(eos.pressure(held, v0))) < 1e-3 * abs(float(eos.pressure(free, v0)))
        assert abs(res["v0"] - v0) < abs(float(free.v0) - v0)
    with pytest.raises(ValueError, match="fit_constrained: v0 = 30.0 Å³/atom lies outside"):
        eos.fit_constrained(free, data, v0=30.0)
    with pytest.raises(ValueError, match="fit_constrained: model must be a form"):
        eos.fit_constrained(lambda v: v, data, v0=v0)
    with pytest.raises(ValueError, match="b0 must be a positive finite"):
        eos.fit_constrained(free, data, v0=v0, b0=-1.0)


def test_one_unit_table(capsys):
    """The table, the JSON and `properties` print the units of `eos.UNITS`."""
    rc, out, _ = _run(capsys, "--json", "-")
    res = json.loads(out)
    for k in ("v0", "e0", "b0", "b0_gpa"):
        assert res["units"][k] == eos.UNITS[k]
    assert res["units"]["volume_range"] == eos.UNITS["volume"] == "Å³/atom"
    _, table, _ = _run(capsys)
    assert f"  {eos.UNITS['b0']}\n" in table and f"  {eos.UNITS['v0']}\n" in table
    assert eos.UNITS["v0"] in str(
        eos.properties(eos.fit_eos(eos.example_data()), eos.example_data())
    )


BAD = {
    "missing": (None, "no such file"),
    "not_a_table": ("hello world\nthis is prose\n", "not an energy–volume table"),
    "nan": ("volume,energy\n10,-1\n11,nan\n12,-1.1\n13,-1.0\n", "NaN or inf"),
    "negative_volume": ("volume,energy\n-10,-1\n11,-1.2\n12,-1.1\n13,-1.0\n", "must be positive"),
    "too_few": ("volume,energy\n10,-1\n11,-1.2\n12,-1.1\n", "needs at least 4 points; got 3"),
    "no_minimum": (
        "volume,energy\n10,-1.0\n10.5,-1.2\n11,-1.35\n11.5,-1.45\n12,-1.5\n",
        "do not bracket a minimum",
    ),
    "duplicate": ("volume,energy\n10,-1\n10,-1.2\n12,-1.1\n13,-1.0\n", "duplicate volume"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_one_line_no_traceback(capsys, tmp_path, case):
    text, match = BAD[case]
    p = tmp_path / "bad.csv"
    if text is not None:
        p.write_text(text)
    rc, out, err = _run(capsys, p)
    assert rc != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("pinnloss: error:") and match in err
    assert "Traceback" not in err


def test_bad_options(capsys):
    """Usage errors exit 2 with argparse's usage line and one error line; never a traceback."""
    cases = [
        (["--b0", "100"], "give --v0 too"),
        (["--form", "spline"], "unknown form 'spline'"),
        (["--n-atoms", "0"], "--n-atoms: must lie between 1"),
        (["--n-atoms", "2.7"], "--n-atoms: expected a whole number; got '2.7'"),
        (["--seed", "1180591620717411303424"], "--seed: must lie between 0 and 2**32 - 1"),
        (["--v0", "nan"], "--v0: must be a positive finite number"),
        (["--b0", "inf", "--v0", "12"], "--b0: must be a positive finite number"),
        (["--width", "100000"], "--width: must lie between 1 and 4096"),
        (["a.csv", "b.csv", "--plot", "x.png"], "--plot draws one curve"),
        (["-", "-"], "'-' (standard input) can be read once"),
    ]
    for args, match in cases:
        with pytest.raises(SystemExit) as e:
            cli.main(["fit", *args])
        err = capsys.readouterr().err
        assert e.value.code == 2 and match in err and "Traceback" not in err, (args, err)
        assert err.strip().splitlines()[-1].startswith("pinnloss fit: error:")
    rc, _, err = _run(capsys, "--v0", 30.0, "--b0", 100)
    assert rc == 1 and "outside the data's volumes" in err
    assert cli.main([]) == 2


def test_console_script(tmp_path):
    """The installed script, reading standard input ('-'); a bad file answers before JAX loads."""
    exe = Path(sys.executable).with_name("pinnloss")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pinnloss.cli"]
    with open(eos.example_path()) as stdin:
        out = subprocess.run(
            [*cmd, "fit", "-"], stdin=stdin, capture_output=True, text=True, timeout=300
        )
    assert out.returncode == 0, out.stderr
    assert "pinnloss fit: standard input" in out.stdout and "11.9510" in out.stdout
    bad = subprocess.run([*cmd, "fit", "/nonexistent.csv"], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "pinnloss: error: /nonexistent.csv: no such file."
