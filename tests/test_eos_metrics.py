"""Δ, ε and ν against an independent SciPy quadrature over the ACWF WIEN2k and FLEUR fits."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.integrate import quad

from pinnloss import eos

ACWF = Path(__file__).resolve().parent / "data" / "acwf"  # vendored, MIT (see its LICENSE)


def _params(name):
    d = json.loads((ACWF / f"results-unaries-verification-PBE-v1-{name}.json").read_text())
    keys = sorted(d["BM_fit_data"])
    p = np.array(
        [
            [
                d["BM_fit_data"][k]["min_volume"] / d["num_atoms_in_sim_cell"][k],
                d["BM_fit_data"][k]["bulk_modulus_ev_ang3"],
                d["BM_fit_data"][k]["bulk_deriv"],
            ]
            for k in keys
        ]
    )
    return keys, p


@pytest.fixture(scope="module")
def pairs():
    kw, w = _params("wien2k-dk_0.06")
    kf, f = _params("fleur")
    assert kw == kf and len(kw) == 384
    return kw, w, f


def _bm(v, v0, b0, b1):  # written out independently of pinnloss
    r = (v0 / v) ** (2.0 / 3.0)
    return 9.0 / 16.0 * b0 * v0 * ((r - 1.0) ** 3 * b1 + (r - 1.0) ** 2 * (6.0 - 4.0 * r))


def _reference(a, b):
    vbar = 0.5 * (a[0] + b[0])
    lo, hi = 0.94 * vbar, 1.06 * vbar
    q = lambda f: quad(f, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
    d2 = q(lambda v: (_bm(v, *a) - _bm(v, *b)) ** 2)
    ma = q(lambda v: _bm(v, *a)) / (hi - lo)
    mb = q(lambda v: _bm(v, *b)) / (hi - lo)
    va = q(lambda v: (_bm(v, *a) - ma) ** 2)
    vb = q(lambda v: (_bm(v, *b) - mb) ** 2)
    # the ACWF script centres the second variance on the first curve's mean
    vb_script = q(lambda v: (_bm(v, *b) - ma) ** 2)
    delta = 1000.0 * np.sqrt(d2 / (hi - lo))
    eps = np.sqrt(d2 / np.sqrt(va * vb))
    eps_script = np.sqrt(d2 / np.sqrt(va * vb_script))
    return delta, eps, eps_script


def test_delta_epsilon_nu_all_crystals(pairs):
    keys, w, f = pairs
    d = np.asarray(eos.delta(tuple(w.T), tuple(f.T)))
    e = np.asarray(eos.epsilon(tuple(w.T), tuple(f.T)))
    n = np.asarray(eos.nu(tuple(w.T), tuple(f.T)))
    assert d.shape == e.shape == n.shape == (384,)
    # ν written out from the paper's definition
    eta = 2.0 * (w - f) / (w + f)
    n_ref = 100.0 * np.sqrt(eta[:, 0] ** 2 + (eta[:, 1] / 20.0) ** 2 + (eta[:, 2] / 400.0) ** 2)
    assert np.allclose(n, n_ref, rtol=1e-13)
    # Δ and ε against SciPy adaptive quadrature, on every 8th crystal plus the worst Δ
    idx = sorted(set(range(0, 384, 8)) | {int(np.argmax(d)), int(np.argmax(e))})
    ref = np.array([_reference(w[i], f[i]) for i in idx])
    assert np.allclose(d[idx], ref[:, 0], rtol=1e-9)
    assert np.allclose(e[idx], ref[:, 1], rtol=1e-9)
    # the script's variant differs by well under 1e-3 relative
    assert np.max(np.abs(e[idx] / ref[:, 2] - 1.0)) < 1e-3
    # the two all-electron codes agree: the study's "excellent" thresholds hold in the median
    assert np.median(e) < 0.06 and np.median(n) < 0.10
    print(
        f"\nWIEN2k vs FLEUR, 384 crystals: median Δ = {np.median(d):.4f} meV/atom, "
        f"median ε = {np.median(e):.4f}, median ν = {np.median(n):.4f}; "
        f"max Δ = {d.max():.3f} ({keys[int(np.argmax(d))]})"
    )


def test_metric_properties(pairs):
    _, w, f = pairs
    a = eos.BirchMurnaghan(0.0, *w[100])
    b = eos.BirchMurnaghan(-7.0, *f[100])  # E0 does not matter: curves meet at their minima
    assert float(eos.delta(a, a)) == 0.0 and float(eos.nu(a, a)) == 0.0
    assert np.isclose(eos.delta(a, b), eos.delta(b, a), rtol=1e-12)
    assert np.isclose(eos.epsilon(a, b), eos.epsilon(b, a), rtol=1e-12)
    # forms, tuples and EOSProperties agree; 'own' curves equal BM curves for BM forms
    assert np.isclose(eos.delta(a, b), eos.delta(tuple(w[100]), tuple(f[100])), rtol=1e-13)
    assert np.isclose(eos.delta(a, b, curve="own"), eos.delta(a, b), rtol=1e-10)
    # Δ scales with B0; ε does not
    s = lambda p: (p[0], 3.0 * p[1], p[2])
    assert np.isclose(eos.delta(s(w[100]), s(f[100])), 3.0 * eos.delta(a, b), rtol=1e-10)
    assert np.isclose(eos.epsilon(s(w[100]), s(f[100])), eos.epsilon(a, b), rtol=1e-10)
    with pytest.raises(ValueError, match="expected an EOS form"):
        eos.delta(a, "Cu")


def test_own_curve_metrics_on_batched_forms():
    """Issue 11 §4: delta/epsilon(curve="own") on batched forms equal the per-member values."""
    a = eos.BirchMurnaghan(np.zeros(3), [11.0, 12.0, 20.0], [0.8, 0.9, 0.3], [4.5, 5.0, 4.0])
    b = eos.Vinet(np.ones(3), [11.1, 12.0, 20.3], [0.8, 0.92, 0.31], [4.5, 5.2, 4.4])
    one = lambda f, i: jax.tree.map(lambda x: x[i], f)
    for metric in (eos.delta, eos.epsilon):
        both = np.asarray(metric(a, b, curve="own"))
        each = [float(metric(one(a, i), one(b, i), curve="own")) for i in range(3)]
        assert both.shape == (3,) and np.allclose(both, each, rtol=1e-12)
        assert np.all(both > 0)
        # a single form against a batch broadcasts too
        assert np.allclose(metric(a, one(b, 0), curve="own")[0], each[0], rtol=1e-12)
    # own curves of BM forms are the BM curves the default builds
    assert np.allclose(eos.delta(a, b), [float(eos.delta(one(a, i), one(b, i))) for i in range(3)])
    assert np.allclose(eos.delta(a, a, curve="own"), 0.0)
