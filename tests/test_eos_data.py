"""EVData and eos.load: per-atom float64 storage, shifting, file formats, bad input."""

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
        (V, E, {"n_atoms": 0}, "n_atoms must be a positive integer"),
        (V, E, {"n_atoms": 1.5}, "n_atoms must be a positive integer"),
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
        ("volume,energy\n11.0,abc\n", "row 2 is not numeric"),
        ("volume,energy\n11.0\n", "row 2 has 1 column"),
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
    with pytest.raises(ValueError, match="expected a file path"):
        eos.load(42)


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
    with pytest.raises(ValueError, match="holds 2 crystals; pick one with key="):
        eos.load(p)
    with pytest.raises(ValueError, match="no E\\(V\\) points for key 'Cu-X/BCC'; did you mean"):
        eos.load(p, key="Cu-X/BCC")
    with pytest.raises(ValueError, match="key= selects a crystal in an ACWF JSON"):
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
