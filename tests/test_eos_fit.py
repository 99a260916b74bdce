"""fit_eos: all 768 ACWF all-electron curves, ASE, and bad input."""

import json
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
from ase.eos import EquationOfState

from pinnloss import eos

ACWF = Path(__file__).resolve().parent / "data" / "acwf"  # vendored, MIT (see its LICENSE)
FILES = {
    "WIEN2k": "results-unaries-verification-PBE-v1-wien2k-dk_0.06.json",
    "FLEUR": "results-unaries-verification-PBE-v1-fleur.json",
}


@pytest.fixture(scope="module")
def acwf():
    """Every curve of both all-electron codes, with the published BM fits (per atom)."""
    data, ref, names = [], [], []
    for code, fn in FILES.items():
        d = json.loads((ACWF / fn).read_text())
        for key in sorted(d["eos_data"]):
            n = d["num_atoms_in_sim_cell"][key]
            pts = np.asarray(d["eos_data"][key])
            data.append(eos.EVData(pts[:, 0], pts[:, 1], n_atoms=n, label=f"{code} {key}"))
            b = d["BM_fit_data"][key]
            ref.append(
                [b["min_volume"] / n, b["bulk_modulus_ev_ang3"], b["bulk_deriv"], b["E0"] / n]
            )
            names.append(f"{code} {key}")
    return data, np.array(ref), names


@pytest.fixture(scope="module")
def fitted(acwf):
    data, _, _ = acwf
    return eos.fit_eos(data)  # one compiled, vmapped call over all 768 curves


def test_reproduces_all_768_published_fits(acwf, fitted):
    data, ref, names = acwf
    assert len(data) == 768
    got = np.stack([np.asarray(fitted.v0), np.asarray(fitted.b0), np.asarray(fitted.b1)], axis=1)
    rel = np.abs(got - ref[:, :3]) / np.abs(ref[:, :3])
    worst = rel.max(axis=0)
    at = [names[i] for i in rel.argmax(axis=0)]
    print(
        f"\nworst relative error over 768 ACWF curves: V0 {worst[0]:.2e} ({at[0]}), "
        f"B0 {worst[1]:.2e} ({at[1]}), B0' {worst[2]:.2e} ({at[2]})"
    )
    assert worst[0] < 1e-6 and worst[1] < 1e-5 and worst[2] < 1e-3
    # E0 is absolute (the shift is added back); the published fits lose ~1e-7 eV to cancellation
    assert np.max(np.abs(np.asarray(fitted.e0) - ref[:, 3])) < 1e-5


def test_agrees_with_ase(acwf, fitted):
    data, _, names = acwf
    for i in range(0, 768, 64):
        d = data[i]
        # ASE is given shifted energies: unshifted, its fit loses B0 on heavy elements
        fit = EquationOfState(d.volume, d.energy, eos="birchmurnaghan")
        v0, e0, b = fit.fit()
        assert np.isclose(fitted.v0[i], v0, rtol=1e-8), names[i]
        assert np.isclose(fitted.b0[i], b, rtol=1e-6), names[i]
        assert np.isclose(fitted.b1[i], fit.eos_parameters[2], rtol=1e-5), names[i]
        assert np.isclose(fitted.e0[i], e0 + d.energy_shift, rtol=0, atol=1e-8), names[i]


def test_single_curve_matches_batch(acwf, fitted):
    data, ref, _ = acwf
    one = eos.fit_eos(data[5])
    assert one.v0.shape == ()
    for k in ("v0", "b0", "b1", "e0"):
        assert np.isclose(getattr(one, k), getattr(fitted, k)[5], rtol=1e-10)


def _concave():
    v = np.linspace(10.0, 13.0, 7)
    return eos.EVData(v, -0.3 * (v - 11.5) ** 2, label="concave")


def test_bad_data_never_gives_silent_nonsense():
    with pytest.raises(ValueError, match="concave: .*do not bracket a minimum"):
        eos.fit_eos(_concave())
    bm = eos.BirchMurnaghan(0.0, 12.5, 0.8, 5.0)
    v = np.linspace(10.0, 11.5, 7)
    left = eos.EVData(v, np.asarray(jax.vmap(bm)(v)), label="left")
    with pytest.raises(
        ValueError,
        match=r"left: the fitted minimum V0 = 12.5.* lies outside.* at the largest volume",
    ):
        eos.fit_eos(left)
    # check=False: NaN and a warning, never the extrapolated value or a negative B0
    with pytest.warns(UserWarning, match="2 of 2 curve"):
        out = eos.fit_eos([left, _concave()], check=False)
    assert np.isnan(np.asarray(out.v0)).all() and np.isnan(np.asarray(out.b0)).all()
    # properties of a model refuse a minimum outside the data as well
    with pytest.raises(ValueError, match="no energy minimum inside the sampled volumes"):
        eos.properties(bm, left)


def test_bad_arguments():
    d = eos.example_data()
    with pytest.raises(ValueError, match="needs at least 4 points; got 3"):
        eos.fit_eos(eos.EVData(d.volume[:3], d.energy[:3]))
    with pytest.raises(ValueError, match="BirchMurnaghan4 has 5 parameters"):
        eos.fit_eos(eos.EVData(d.volume[:4], d.energy[:4]), "bm4")
    with pytest.raises(ValueError, match=r"weights of shape \(6,\) do not fit 1 curve"):
        eos.fit_eos(d, weights=np.ones(6))
    with pytest.raises(ValueError, match=r"needs at least 4 points; got 3 \(short\)"):
        eos.fit_eos([d, eos.EVData(d.volume[:3], d.energy[:3], label="short")])
    with pytest.raises(ValueError, match="must be an EVData"):
        eos.fit_eos(np.c_[d.volume, d.energy])
    with pytest.raises(ValueError, match="all energies equal"):
        eos.fit_eos(eos.EVData(d.volume, np.zeros(7)))
    with pytest.raises(ValueError, match="weights must be finite, non-negative"):
        eos.fit_eos(d, weights=-np.ones(7))


def test_float32_fit_is_accurate_and_says_so_about_e0():
    d = eos.example_data()
    ref = eos.fit_eos(d)
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.warns(UserWarning, match="jax_enable_x64 is off"):
            f32 = eos.fit_eos(d)
    finally:
        jax.config.update("jax_enable_x64", prev)
    # V0, B0, B0' come from shifted, rescaled data: fine in float32
    assert np.isclose(float(f32.v0), float(ref.v0), rtol=1e-6)
    assert np.isclose(float(f32.b0), float(ref.b0), rtol=1e-5)
    assert np.isclose(float(f32.b1), float(ref.b1), rtol=1e-4)
    assert abs(float(f32.e0) - float(ref.e0)) < 0.01  # float32 at 4.5e4 eV: ~4 meV spacing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eos.fit_eos(d)  # float64: no warning
