"""EVData and eos.load: per-atom float64 storage, shifting, file formats, bad input."""

import io
import json
import warnings

import jax
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from pinnloss import eos

V = np.array([11.2, 11.5, 11.7, 12.0, 12.2, 12.4, 12.7])
E = 0.44 * (V - 11.95) ** 2 - 0.02 * (V - 11.95) ** 3 - 45035.7486


def test_per_atom_shift_and_sorting():
    order = [3, 0, 6, 1, 5, 2, 4]
    d = eos.EVData(2 * V[order], 2 * E[order], n_atoms=2, label="Cu2")
    assert d.volume.dtype == np.float64 and d.energy.dtype == np.float64
    assert np.array_equal(d.volume, V)  # sorted, per atom
    assert d.energy_shift == E.min()
    assert d.energy.min() == 0.0
    # the shift keeps the full float64 precision of the differences
    assert np.allclose(d.energy, E - E.min(), rtol=0, atol=1e-10)
    assert np.allclose(d.absolute_energy, E, rtol=1e-15)
    assert len(d) == 7 and "Cu2" in repr(d)
    # an explicit reference, or none at all
    assert eos.EVData(V, E, reference=0.0).energy_shift == 0.0
    assert np.allclose(eos.EVData(V, E, reference=-45035.0).energy, E + 45035.0, atol=1e-10)
    with pytest.raises(AttributeError):
        d.volume = V  # frozen
    with pytest.raises(ValueError):
        d.volume[0] = 1.0  # read-only arrays


@pytest.mark.parametrize(
    "volume, energy, kw, match",
    [
        (V[:, None], E, {}, "must be 1-D"),
        (V, np.stack([E, E]), {}, "must be 1-D"),
        (V, E[:-1], {}, "volume has 7 points but energy has 6"),
        (np.where(np.arange(7) == 2, np.nan, V), E, {}, "NaN or inf value"),
        (V, np.where(np.arange(7) == 4, np.inf, E), {}, "energy contains 1 NaN or inf"),
        (np.where(np.arange(7) == 0, -1.0, V), E, {}, r"volumes must be positive; volume\[0\]"),
        (np.where(np.arange(7) == 0, 0.0, V), E, {}, "volumes must be positive"),
        (np.r_[V[:6], V[2]], E, {}, "duplicate volume 11.7"),
        (V[:1], E[:1], {}, "at least 2 points"),
        (V, E, {"n_atoms": 0}, "n_atoms must be a positive whole number"),
        (V, E, {"n_atoms": 1.5}, "n_atoms must be a positive whole number"),
        (V, E, {"reference": "max"}, "reference must be 'min'"),
        (["a"] * 7, E, {}, "volume must be a 1-D array of numbers"),
    ],
)
def test_bad_input(volume, energy, kw, match):
    with pytest.raises(ValueError, match=match):
        eos.EVData(volume, energy, **kw)


def test_load_tables(tmp_path):
    p = tmp_path / "cu.csv"
    p.write_text(
        "# a comment\nvolume,energy\n"
        + "".join(f"{float(v)!r},{float(e)!r}\n" for v, e in zip(V, E))
    )
    d = eos.load(p)
    assert np.array_equal(d.volume, V) and np.allclose(d.absolute_energy, E, rtol=1e-15)
    # whitespace, other column names and order, per-cell values with n_atoms
    q = tmp_path / "cu.dat"
    q.write_text(
        "E[eV]  V[A^3]  extra\n"
        + "".join(f"{float(2 * e)!r} {float(2 * v)!r} 1\n" for v, e in zip(V, E))
    )
    d2 = eos.load(q, n_atoms=2)
    assert np.array_equal(d2.volume, V) and np.allclose(d2.absolute_energy, E, rtol=1e-15)
    # an n_atoms column
    r = tmp_path / "cells.csv"
    r.write_text("volume,energy,n_atoms\n" + "".join(f"{4 * v},{4 * e},4\n" for v, e in zip(V, E)))
    assert np.allclose(eos.load(r).volume, V)
    # the bundled example
    ex = eos.example_data()
    assert len(ex) == 7 and 11.0 < ex.volume.mean() < 13.0 and ex.energy_shift < -45000


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "the file is empty"),
        ("1.0,2.0\n3.0,4.0\n", "first line must be a header"),
        ("just some words\nand more\n", "first line must be a header"),
        ("volume,energy\n", "no rows of numbers"),
        ("volume,energy\n11.0,abc\n", "line 2, column 'energy': 'abc' is not a number"),
        ("volume,energy\n11.0\n", "line 2 has 1 field.* header names 2 column"),
        ("volume,energy\n11.0,-1.0\n-12.0,-1.1\n", "volumes must be positive"),
        ("volume,energy\n11.0,nan\n12.0,-1.1\n", "NaN or inf"),
        ("{not json", "invalid JSON"),
        ('{"a": 1}', "not an ACWF results file"),
    ],
)
def test_load_bad_files(tmp_path, text, match):
    p = tmp_path / ("bad.json" if text.startswith("{") else "bad.csv")
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        eos.load(p)


def test_load_missing_and_binary(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        eos.load(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="is a directory"):
        eos.load(tmp_path)
    b = tmp_path / "x.csv"
    b.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(ValueError, match="not a text file"):
        eos.load(b)
    with pytest.raises(ValueError, match="expected a file path, an open text stream"):
        eos.load(42)


def test_scales_that_float64_cannot_fit_are_refused(tmp_path):
    """Issue 17: x1e300 / x1e-300 data gave B0' = -1 or a wrong reason; now EVData, load and
    fit_eos refuse them naming the scales; scales inside the bound fit to the scaled answer."""
    d = eos.example_data()
    v, e = d.volume.tolist(), d.absolute_energy.tolist()
    ref = eos.fit_eos(d, "vinet")
    for fv, fe in [(1e300, 1e300), (1e-300, 1e-300), (1e70, 1.0), (1.0, 1e130), (1.0, 1e-130)]:
        vs, es = [a * fv for a in v], [b * fe for b in e]
        with pytest.raises(ValueError, match="EVData: volumes of .* cannot be fitted in floating"):
            eos.EVData(vs, es)
        with pytest.raises(ValueError, match="fit_eos.*cannot be fitted in floating point"):
            eos.fit_eos(vs, es, "vinet")
        p = tmp_path / "big.csv"
        p.write_text("volume,energy\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(vs, es)))
        with pytest.raises(ValueError, match="big.csv'\\): volumes of .* Check the units"):
            eos.load(p)
    for fv, fe in [(1e30, 1e-30), (1e-55, 1.0), (1.0, 1e110)]:  # inside: the scaled answer
        with warnings.catch_warnings():  # B0 = 1e-58 GPa is "implausible", and right here
            warnings.simplefilter("ignore", eos.FitQualityWarning)
            fit = eos.fit_eos(eos.EVData([a * fv for a in v], [b * fe for b in e]), "vinet")
        got = [fit.v0 / fv, fit.b0 * fv / fe, fit.b1]
        np.testing.assert_allclose(got, [ref.v0, ref.b0, ref.b1], rtol=1e-6)


def test_fast_table_reader_is_the_row_reader(monkeypatch):
    """Plain tables go through NumPy's parser; what it reads is bitwise what the row-by-row
    reader (which names the line at fault) reads, and anything else falls back to that."""
    from pinnloss.eos import _data

    gen = np.random.default_rng(0)
    v = np.sort(gen.uniform(5, 50, 40)).tolist()
    e = gen.normal(-3.0, 0.5, 40).tolist()
    spell = ["{:.17g}", "{:.6e}", "{:+.3f}", "{:.10E}", " {!r} "]
    texts = {
        "csv": "# comment\nvolume,energy,n_atoms\n"
        + "".join(f"{spell[i % 5].format(a)},{b!r},2\n\n" for i, (a, b) in enumerate(zip(v, e))),
        "ws": "V E\r\n"
        + "".join(f"  {a!r}\t {spell[i % 4].format(b)}\r\n" for i, (a, b) in enumerate(zip(v, e))),
        "semi": "volume;energy\n" + "".join(f"{a!r};{b!r}\n" for a, b in zip(v, e)),
    }
    for kind, text in texts.items():
        fast = _data._read_table("t", text, None, "min", "t")
        with monkeypatch.context() as m:
            m.setattr(_data, "_read_numbers", lambda *a: None)
            slow = _data._read_table("t", text, None, "min", "t")
        assert fast.volume.tobytes() == slow.volume.tobytes(), kind
        assert fast.energy.tobytes() == slow.energy.tobytes(), kind
        assert (fast.energy_shift, fast.n_atoms, fast.basis, fast.notes) == (
            slow.energy_shift,
            slow.n_atoms,
            slow.basis,
            slow.notes,
        ), kind
        assert _data._read_numbers(text, 2 if kind == "csv" else 1, *_header(text)) is not None
    # not plain: a trailing comment, quotes, underscores, an empty field -> the row reader
    for row, ok in [("11.5,-3.2 # x", False), ('"11.5",-3.2', True), ("1_1.5,-3.2", True),
                    ("11.5,", False)]:  # fmt: skip
        text = "volume,energy\n10,-3.0\n" + row + "\n12,-3.1\n13,-2.9\n"
        assert _data._read_numbers(text, 1, *_header(text)) is None
        if ok:
            assert eos.load(io.StringIO(text)).volume[1] == 11.5
        else:
            with pytest.raises(ValueError, match="line 3"):
                eos.load(io.StringIO(text))


def _header(text):
    from pinnloss.eos import _data

    head = next(ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))
    delim = next((d for d in (",", ";", "\t") if d in head), None)
    return (delim, *_data._header_columns("t", 1, head, delim))


def test_load_acwf(tmp_path):
    doc = {
        "eos_data": {
            "Cu-X/FCC": [[v, e] for v, e in zip(V, E)],
            "Si-X/Diamond": [[2 * v, 2 * e] for v, e in zip(V, E)],
            "Xx-X/SC": None,
        },
        "num_atoms_in_sim_cell": {"Cu-X/FCC": 1, "Si-X/Diamond": 2, "Xx-X/SC": 1},
    }
    p = tmp_path / "acwf.json"
    p.write_text(json.dumps(doc))
    d = eos.load(p, key="Si-X/Diamond")
    assert np.allclose(d.volume, V) and d.n_atoms == 2 and d.label == "Si-X/Diamond"
    with pytest.raises(ValueError, match="holds 2 crystals; pick one with key='Cu-X/FCC'"):
        eos.load(p)
    with pytest.raises(
        ValueError, match="no E\\(V\\) points for key 'Cu-X/BCC' in 'eos_data'; did you mean"
    ):
        eos.load(p, key="Cu-X/BCC")
    with pytest.raises(ValueError, match="key selects a crystal in an ACWF JSON"):
        q = tmp_path / "t.csv"
        q.write_text("volume,energy\n1,2\n3,4\n")
        eos.load(q, key="Cu-X/FCC")


def _images():
    out = []
    for v, e in zip(V, E):
        a = (2 * v) ** (1 / 3)
        atoms = Atoms("Cu2", positions=[[0, 0, 0], [a / 2, a / 2, a / 2]], cell=[a, a, a], pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=2 * e)
        out.append(atoms)
    return out


def test_from_ase(tmp_path):
    import ase.io

    d = eos.load(_images())
    assert d.n_atoms == 2 and np.allclose(d.volume, V) and np.allclose(d.absolute_energy, E)
    p = tmp_path / "eos.traj"
    ase.io.write(p, _images())
    d2 = eos.load(p)
    assert np.allclose(d2.volume, V, rtol=1e-12)
    bare = _images()
    bare[3].calc = None
    with pytest.raises(ValueError, match="structure 3 has no energy"):
        eos.from_ase(bare)


def test_float32_refuses_unresolvable_energies():
    """With x64 off, absolute 1e6 eV energies cannot be fitted: say so, do not fit garbage."""
    absolute = eos.EVData(V, E * 30.0, reference=0.0)  # |E| ~ 1.4e6 eV, unshifted
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="float32 cannot resolve these energies"):
            eos.fit_eos(absolute)
        with pytest.raises(ValueError, match="jax_enable_x64"):
            eos.EnergyNet(absolute, key=jax.random.key(0))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            eos.EnergyNet(eos.EVData(V, E * 30.0), key=jax.random.key(0))  # shifted: fine
    finally:
        jax.config.update("jax_enable_x64", prev)


# --- issue 12 §2 / issue 11 §4: per cell vs per atom, units, ambiguity, robustness ---------


def _table(path, header, rows, *, encoding="utf-8"):
    path.write_text(header + "\n" + "".join(rows), encoding=encoding)
    return path


def _rows(fmt, scale_v=1.0, scale_e=1.0):
    return [fmt.format(v=float(v) * scale_v, e=float(e) * scale_e) for v, e in zip(V, E)]


def test_n_atoms_column_is_reported_and_divides(tmp_path):
    """Issue 11 §4: a CSV with an n_atoms column reported n_atoms=1."""
    p = _table(tmp_path / "c.csv", "volume,energy,n_atoms", _rows("{v!r},{e!r},2\n", 2, 2))
    d = eos.load(p)
    assert d.n_atoms == 2 and d.basis == "per cell" and "per cell of 2 atoms" in d.describe()
    assert np.allclose(d.volume, V, rtol=1e-15) and np.allclose(d.absolute_energy, E, rtol=1e-15)
    assert eos.load(p, n_atoms=2).n_atoms == 2  # agreeing argument: fine
    with pytest.raises(ValueError, match="n_atoms=3 contradicts the file's column 'n_atoms'"):
        eos.load(p, n_atoms=3)
    # no count anywhere: taken as given, and the data says the count is unknown
    q = _table(tmp_path / "u.csv", "volume,energy", _rows("{v!r},{e!r}\n"))
    u = eos.load(q)
    assert u.n_atoms is None and u.basis == "unknown" and "unknown" in u.describe()
    assert any("units not stated" in n for n in u.notes)
    # a per-atom header records the count without dividing; a per-cell one needs it
    a = _table(
        tmp_path / "a.csv", "volume_per_atom,energy_per_atom,natoms", _rows("{v!r},{e!r},4\n")
    )
    da = eos.load(a)
    assert da.basis == "per atom" and da.n_atoms == 4 and np.allclose(da.volume, V)
    b = _table(tmp_path / "b.csv", "V [A^3/atom],E [eV/atom]", _rows("{v!r},{e!r}\n"))
    with pytest.raises(ValueError, match="per atom .* but n_atoms=2 was given"):
        eos.load(b, n_atoms=2)
    c = _table(tmp_path / "cell.csv", "volume_per_cell,energy_per_cell", _rows("{v!r},{e!r}\n"))
    with pytest.raises(ValueError, match="is per cell but the number of atoms is unknown"):
        eos.load(c)
    assert np.allclose(eos.load(c, n_atoms=2).volume, V / 2)
    # one column says its basis, the other not, and the count makes it matter: refused
    m = _table(tmp_path / "m.csv", "volume,energy_per_atom,n_atoms", _rows("{v!r},{e!r},2\n"))
    with pytest.raises(ValueError, match="'energy_per_atom' says per atom but 'volume' does not"):
        eos.load(m)


@pytest.mark.parametrize(
    "column, cell", [("n_atoms", "2.7"), ("n_atoms", "0"), ("n_atoms", "-1"), ("natoms", "two")]
)
def test_atom_counts_are_positive_whole_numbers(tmp_path, column, cell):
    p = _table(tmp_path / "n.csv", f"volume,energy,{column}", _rows("{v!r},{e!r}," + cell + "\n"))
    with pytest.raises(ValueError, match=rf"load\('.*n.csv'\): line 2, column '{column}'"):
        eos.load(p)
    for bad in (0, 2.7, -1, True, "2"):
        with pytest.raises(ValueError, match="n_atoms must be a positive whole number"):
            eos.load(eos.example_path(), n_atoms=bad)


def test_headers_pick_the_energy_not_a_lookalike(tmp_path):
    ref = eos.load(_table(tmp_path / "ref.csv", "volume,energy", _rows("{v!r},{e!r}\n")))
    p = _table(tmp_path / "f.csv", "volume,e_fermi,energy", _rows("{v!r},7.25,{e!r}\n"))
    d = eos.load(p)
    assert np.array_equal(d.absolute_energy, ref.absolute_energy)  # not the Fermi level
    only = _table(tmp_path / "g.csv", "volume,e_fermi", _rows("{v!r},{e!r}\n"))
    with pytest.raises(ValueError, match="no energy column.*'e_fermi' \\(unknown unit or"):
        eos.load(only)
    two = _table(tmp_path / "t.csv", "volume_cell,volume_atom,energy", _rows("{v!r},{v!r},{e!r}\n"))
    with pytest.raises(ValueError, match="ambiguous header: 2 volume columns"):
        eos.load(two)
    two_e = _table(tmp_path / "te.csv", "V,E_total,energy", _rows("{v!r},{e!r},{e!r}\n"))
    with pytest.raises(ValueError, match="ambiguous header: 2 energy columns"):
        eos.load(two_e)
    au = _table(tmp_path / "au.csv", "volume,Energy (a.u.)", _rows("{v!r},{e!r}\n"))
    with pytest.raises(ValueError, match="'a.u.' is ambiguous"):
        eos.load(au)


@pytest.mark.parametrize(
    "header, unit_v, unit_e, sep",
    [
        ("Volume (bohr^3),Energy (Ry)", "bohr", "Ry", ","),
        ("Volume (bohr^3)   Energy (Ry)", "bohr", "Ry", "  "),  # whitespace, spaced units
        ("V [Å³];E [Hartree]", "A", "hartree", ";"),
        ("volume_nm3\tenergy_meV", "nm", "meV", "\t"),
        ("V (A^3), E (kJ/mol)", "A", "kJ/mol", ","),
    ],
)
def test_units_are_converted_with_codata(tmp_path, header, unit_v, unit_e, sep):
    """bohr³, nm³, Ry, Hartree, meV, kJ/mol against scipy.constants (an independent source)."""
    from scipy import constants as c

    bohr_a = c.physical_constants["Bohr radius"][0] * 1e10
    per_v = {"bohr": bohr_a**3, "A": 1.0, "nm": 1e3}[unit_v]
    per_e = {
        "Ry": c.physical_constants["Rydberg constant times hc in eV"][0],
        "hartree": c.physical_constants["Hartree energy in eV"][0],
        "meV": 1e-3,
        "kJ/mol": 1e3 / (c.N_A * c.e),
    }[unit_e]
    p = _table(tmp_path / "u.dat", header, _rows("{v!r}" + sep + "{e!r}\n", 1 / per_v, 1 / per_e))
    d = eos.load(p)
    # 1e-8: CODATA revisions move a0 by ~7e-10 (scipy may hold 2018 or 2022 values); a wrong
    # factor (Ry for Ha, bohr for bohr³) is off by far more
    assert np.allclose(d.volume, V, rtol=1e-8) and np.allclose(d.absolute_energy, E, rtol=1e-8)
    if unit_v != "A" or unit_e != "meV":
        assert any("converted" in n for n in d.notes)


def test_rows_must_match_the_header_and_bom_is_accepted(tmp_path):
    four = _table(tmp_path / "four.csv", "volume,energy", _rows("{v!r},{e!r},1,2\n"))
    with pytest.raises(ValueError, match="line 2 has 4 field.*header names 2 column"):
        eos.load(four)
    # a UTF-8 byte-order mark (Excel's "CSV UTF-8") is read, from a file and from a stream
    bom = _table(
        tmp_path / "bom.csv", "volume,energy", _rows("{v!r},{e!r}\n"), encoding="utf-8-sig"
    )
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    assert np.array_equal(eos.load(bom).volume, V)
    assert np.array_equal(eos.load(io.StringIO(bom.read_text("utf-8"))).volume, V)
    assert np.array_equal(eos.load(io.BytesIO(bom.read_bytes())).volume, V)
    # a 131 kB field (the csv module's limit) is one clear error, not _csv.Error
    long = tmp_path / "long.csv"
    long.write_text('volume,energy\n"' + "1" * 140_000 + '",2\n')
    with pytest.raises(ValueError, match=r"long.csv'\): line 2 cannot be read"):
        eos.load(long)


@pytest.mark.parametrize(
    "doc, match",
    [
        ('{"eos_data": {}}', "'eos_data' holds no crystal"),
        ('{"eos_data": [[1, 2]]}', "'eos_data' must map crystal keys.*got a list"),
        (
            '{"eos_data": {"A": [[1, 2, 3]]}}',
            r"eos_data\['A'\] is not a list of \[volume, energy\]",
        ),
        ('{"eos_data": {"A": "abc"}}', r"eos_data\['A'\] is not a list"),
        ('{"eos_data": {"A": [[1, 2], [3, 4]]}, "num_atoms_in_sim_cell": {"A": 2.7}}', "2.7"),
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ('{"eos_data": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested too deeply"),
        ("[1, 2]", "without an 'eos_data' entry"),
    ],
    ids=["empty", "list", "triple", "string", "fractional_atoms", "deep", "deep_in", "array"],
)
def test_bad_json_is_a_value_error_naming_file_and_field(tmp_path, doc, match):
    p = tmp_path / "r.json"
    p.write_text(doc)
    with pytest.raises(ValueError, match=match) as e:
        eos.load(p, key="A" if '"A"' in doc else None)
    assert "r.json" in str(e.value) and "r.json" in e.value.cli_message


def test_acwf_messages_speak_cli_in_the_cli(tmp_path):
    doc = {"eos_data": {"Cu-X/FCC": [[v, e] for v, e in zip(V, E)], "Si-X/SC": [[1, 2]]}}
    p = tmp_path / "acwf.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ValueError) as e:
        eos.load(p)
    assert "key='Cu-X/FCC'" in str(e.value) and "--key 'Cu-X/FCC'" in e.value.cli_message
    assert "key=" not in e.value.cli_message and e.value.cli_message.startswith(str(p))
    d = eos.load(p, key="Cu-X/FCC")
    assert d.n_atoms is None and d.basis == "unknown"  # ACWF file without num_atoms_in_sim_cell
    doc["num_atoms_in_sim_cell"] = {"Cu-X/FCC": 1}
    p.write_text(json.dumps(doc))
    with pytest.raises(ValueError) as e:
        eos.load(p, key="Cu-X/FCC", n_atoms=2)
    assert "n_atoms=2 contradicts" in str(e.value) and "--n-atoms 2 contradicts" in (
        e.value.cli_message
    )


def test_streams(tmp_path):
    text = "volume,energy\n" + "".join(_rows("{v!r},{e!r}\n"))
    d = eos.load(io.StringIO(text))
    assert np.array_equal(d.volume, V) and d.label == "stream"
    doc = json.dumps({"eos_data": {"Cu-X/FCC": [[v, e] for v, e in zip(V, E)]}})
    assert eos.load(io.StringIO(doc)).label == "Cu-X/FCC"
    with pytest.raises(ValueError, match="<stream>.*no rows of numbers"):
        eos.load(io.StringIO("volume,energy\n"))
