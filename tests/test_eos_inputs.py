"""fit_eos inputs: ASE's (volumes, energies), DataFrames, structure pairs, curves of any length
(padded to a few compiled shapes with zero weights: the same answer), and a robust start."""

import types
import warnings

import jax
import numpy as np
import pytest

from pinnloss import eos
from pinnloss.eos import _fit


def _same(a, b, rtol=1e-12):
    for k in ("e0", "v0", "b0", "b1"):
        x, y = np.asarray(getattr(a, k)), np.asarray(getattr(b, k))
        assert np.allclose(x, y, rtol=rtol, atol=0), (k, x, y)


def test_ase_habit_volumes_energies():
    d = eos.example_data()
    ref = eos.fit_eos(d)
    _same(eos.fit_eos(d.volume, d.absolute_energy), ref, rtol=0)  # the very same fit
    # lists, ASE's form names, positionally or as ASE's eos= keyword
    _same(eos.fit_eos(list(d.volume), list(d.absolute_energy), "birchmurnaghan"), ref, rtol=0)
    sj = eos.fit_eos(d.volume, d.absolute_energy, "sj")
    assert type(sj) is eos.StabilizedJellium
    _same(eos.fit_eos(d.volume, d.absolute_energy, eos="sj"), sj, rtol=0)
    _same(eos.fit_eos(d, eos="sj"), sj, rtol=0)
    with pytest.raises(ValueError, match="give the form once"):
        eos.fit_eos(d, "vinet", eos="sj")
    with pytest.raises(ValueError, match=r"fit_eos\(volumes, energies\): volume has 7 points"):
        eos.fit_eos(d.volume, d.absolute_energy[:6])
    with pytest.raises(ValueError, match=r"fit_eos\(table\[:, 0\], table\[:, 1\]\)"):
        eos.fit_eos(np.c_[d.volume, d.absolute_energy])
    with pytest.raises(ValueError, match=r"fit_eos\(volumes, energies\)"):
        eos.fit_eos(d.volume)
    with pytest.raises(ValueError, match="form must be a name"):
        eos.fit_eos(d, d.absolute_energy)


class _Frame:
    """The duck type of a pandas DataFrame that fit_eos reads (pandas is not a dependency)."""

    def __init__(self, **cols):
        self._cols = cols
        self.columns = list(cols)

    def __getitem__(self, k):
        return self._cols[k]


def test_dataframe_duck_typed():
    d = eos.example_data()
    ref = eos.fit_eos(d)
    frames = [_Frame(volume=d.volume, energy=d.absolute_energy)]
    # per cell (2 atoms) with an n_atoms column, and case/whitespace in the names
    frames.append(_Frame(Volume=2 * d.volume, Energy=2 * d.absolute_energy, n_atoms=np.full(7, 2)))
    try:
        import pandas as pd
    except ImportError:
        pass
    else:
        frames.append(pd.DataFrame({"volume": d.volume, "energy": d.absolute_energy}))
    for f in frames:
        _same(eos.fit_eos(f), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="2 .*energy column"):
        eos.fit_eos(_Frame(volume=d.volume, energy_total=d.volume, energy_fermi=d.volume))
    with pytest.raises(ValueError, match="no volume column"):
        eos.fit_eos(_Frame(v_cell=d.volume, energy=d.absolute_energy))


def test_structure_energy_pairs():
    from ase.build import bulk

    d = eos.example_data()
    ref = eos.fit_eos(d)
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)  # 4 atoms
    pairs = []
    for v, e in zip(d.volume, d.absolute_energy, strict=True):
        a = cu.copy()
        a.set_cell(cu.cell * (4 * v / cu.get_volume()) ** (1 / 3), scale_atoms=True)
        pairs.append((a, 4 * e))
    _same(eos.fit_eos(pairs), ref, rtol=1e-10)
    # a pymatgen Structure's duck type: .volume and .num_sites (pymatgen is not imported)
    st = [(types.SimpleNamespace(volume=2 * v, num_sites=2), 2 * e) for v, e in pairs_pa(d)]
    _same(eos.fit_eos(st), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="pair 1 has energy 'x'"):
        eos.fit_eos([st[0], (st[1][0], "x")] + st[2:])


def pairs_pa(d):
    return list(zip(d.volume, d.absolute_energy, strict=True))


def _curve(n, noise=2e-5):
    """A Birch–Murnaghan curve of n points (±6 %) with a deterministic wiggle as noise."""
    bm = eos.BirchMurnaghan(-3.7, 11.95, 0.88, 5.05)
    v = np.linspace(0.94, 1.06, n) * 11.95
    return eos.EVData(v, np.asarray(jax.vmap(bm)(v)) + noise * np.sin(3.7 * np.arange(n)))


def test_padded_fit_is_the_unpadded_fit():
    d = eos.example_data()
    padded = eos.fit_eos(d)  # 7 points in the 8-point program (zero weight on the 8th)
    # a program for exactly 7 points
    exact = _fit._fit_eos(d, "bm", None, None, 50, 1e-12, True, pad=False, share=True)
    _same(padded, exact, rtol=1e-12)
    assert abs(float(padded.e0) - float(exact.e0)) < 1e-12


def test_new_lengths_reuse_one_program():
    assert [_fit._length_bucket(n) for n in (4, 8, 9, 13, 37, 46, 49, 100)] == [
        8, 8, 12, 16, 48, 48, 64, 128,
    ]  # fmt: skip
    assert [_fit._batch_bucket(n) for n in (1, 2, 3, 33, 64, 65, 768)] == [
        1, 2, 4, 64, 64, 128, 768,
    ]  # fmt: skip
    eos.fit_eos(_curve(5))
    size = _fit._fit_batch._cached._cache_size()
    fits = [eos.fit_eos(_curve(n)) for n in (6, 7, 8)]
    assert _fit._fit_batch._cached._cache_size() == size  # no new program for 6, 7, 8 points
    for f in fits:
        assert np.isclose(f.v0, 11.95, rtol=1e-4) and np.isclose(f.b1, 5.05, rtol=0.05)


def test_curves_of_different_lengths_in_one_batch():
    curves = [_curve(n) for n in (5, 8, 6)]
    many = eos.fit_eos(curves)
    assert many.v0.shape == (3,)
    for i, c in enumerate(curves):  # each alone: the same numbers
        one = eos.fit_eos(c)
        for k in ("v0", "b0", "b1", "e0"):
            assert np.isclose(getattr(many, k)[i], getattr(one, k), rtol=1e-10), (i, k)
    with pytest.raises(ValueError, match="one vector per curve"):
        eos.fit_eos(curves, weights=np.ones(5))
    w = [np.ones(5), np.ones(8), np.r_[1.0, 1, 1, 1, 1, 0]]
    wf = eos.fit_eos(curves, weights=w)
    alone = eos.fit_eos(eos.EVData(curves[2].volume[:5], curves[2].absolute_energy[:5]))
    assert np.isclose(wf.v0[2], alone.v0, rtol=1e-10)  # a zero weight drops the point
    with pytest.raises(ValueError, match="weights for curve 1 have shape"):
        eos.fit_eos(curves, weights=[np.ones(5), np.ones(7), np.ones(6)])


def _lennard_jones():
    """A 7-point Lennard-Jones (12-6) curve, 0.45–1.13 V0, minimum at V0 = 12 (index 5)."""
    v = np.geomspace(0.45, 1.13, 7) * 12.0
    r = (v / 12.0) ** (1.0 / 3.0)
    return v, 0.5 * (r**-12 - 2.0 * r**-6)


def test_start_falls_back_to_a_parabola_around_the_minimum():
    v, e = _lennard_jones()
    assert np.argmin(e) == 5 and e[6] - e[5] > 0.005  # an interior minimum, 6 meV deep ...
    assert not bool(eos.cubic_guess(v / v.mean(), e / np.ptp(e))[4])  # ... the cubic misses
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fit-quality note (systematic residuals) is fine
        fit = eos.fit_eos(v, e, "antonschmidt")
    assert abs(float(fit.v0) - 12.0) < 0.1 and float(fit.b0) > 0
    # Birch-Murnaghan starts too; what fails is the fit's shape, and the message says so
    with pytest.raises(ValueError, match="turns over inside the sampled volumes") as err:
        eos.fit_eos(v, e)
    assert "start" not in str(err.value) and "concave or monotonic" not in str(err.value)
