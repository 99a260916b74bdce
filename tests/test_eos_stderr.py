"""Standard errors of E(V) fits: calibration by noise injection, SciPy's curve_fit, FD Jacobians."""

import json
import os
import warnings

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

from pinnloss import eos
from pinnloss.eos import _properties
from pinnloss.eos._stderr import std_scale, t_coverage, t_quantile

HERE = os.path.dirname(__file__)
WIEN2K = os.path.join(
    HERE, "data", "acwf", "results-unaries-verification-PBE-v1-wien2k-dk_0.06.json"
)
# curves with a well of 9-40 meV/atom over their 7 points (none too soft for 1 meV noise)
KEYS = ("Ag-X/FCC", "Ti-X/SC", "Ni-X/FCC", "Si-X/BCC", "Mo-X/Diamond", "At-X/SC")


def _bm(v, e0, v0, b0, b1):
    eta = (v0 / v) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * ((eta - 1) ** 3 * b1 + (eta - 1) ** 2 * (6 - 4 * eta))


def test_t_quantiles_match_scipy():
    from scipy import stats  # the test extra

    for nu in (1, 2, 3, 4, 7, 30, 101):
        for x in (0.2, 1.0, 2.5, 6.0):
            assert np.isclose(t_coverage(x, nu), 1 - 2 * stats.t.sf(x, nu), rtol=0, atol=1e-13)
        assert np.isclose(t_quantile(0.95, nu), stats.t.ppf(0.975, nu), rtol=1e-10)
    assert np.isclose(t_quantile(0.95, None), stats.norm.ppf(0.975), rtol=1e-10)
    # the t-aware scale puts ±1/±2 std inside the target bands for every dof
    for nu in range(2, 200):
        k = std_scale(nu)
        assert 0.68 <= t_coverage(k, nu) <= 0.78 and 0.90 <= t_coverage(2 * k, nu) <= 0.96
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        t_quantile(1.0, 3)


def _noisy(n_draws, noises, seed=0):
    """Noisy draws around the published WIEN2k Birch–Murnaghan fits (the truth), per atom."""
    with open(WIEN2K) as f:
        d = json.load(f)
    rng = np.random.default_rng(seed)
    data, true, level = [], [], []
    for noise in noises:
        for k in KEYS:
            n = d["num_atoms_in_sim_cell"][k]
            fit = d["BM_fit_data"][k]
            v = np.array(d["eos_data"][k])[:, 0] / n
            t = (fit["min_volume"] / n, fit["bulk_modulus_ev_ang3"], fit["bulk_deriv"])
            clean = _bm(v, 0.0, *t)
            for _ in range(n_draws):
                data.append(eos.EVData(v, clean + noise * rng.standard_normal(7)))
                true.append(t)
                level.append(noise)
    return data, np.array(true), np.array(level)


def test_standard_errors_cover_the_truth_at_their_level():
    """Noise injection on 6 ACWF curves (7 points, 3 dof) at 0.1 and 1 meV/atom, 40 draws each,
    all fitted in one batched fit_eos call: ±1/±2 std cover 60–78 % / 90–98.5 %, the 68 %/95 %
    t intervals hold their level (binomial sd ~2 % / ~1 % at n = 480), per parameter."""
    data, true, level = _noisy(40, (1e-4, 1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", eos.FitQualityWarning)
        fits = eos.fit_eos(data)
    p = eos.properties(fits, data)
    assert np.all(np.asarray(p.dof) == 3)
    i68, i95 = p.interval(0.68), p.interval(0.95)
    for j, k in enumerate(("v0", "b0", "b1")):
        z = np.abs(np.asarray(getattr(p, k)) - true[:, j]) / np.asarray(getattr(p.std, k))
        c1, c2 = np.mean(z < 1), np.mean(z < 2)
        assert 0.60 <= c1 <= 0.78 and 0.90 <= c2 <= 0.985, (k, c1, c2)
        for iv, lev in ((i68, 0.68), (i95, 0.95)):
            lo, hi = np.asarray(iv[k][0]), np.asarray(iv[k][1])
            cov = np.mean((lo <= true[:, j]) & (true[:, j] <= hi))
            assert abs(cov - lev) < 0.05, (k, lev, cov)
        # both noise levels, separately: no level carried by the other
        for noise in (1e-4, 1e-3):
            assert 0.86 <= np.mean(z[level == noise] < 2) <= 0.99
    # without the t scale, ±2 plain standard errors would cover far less (the 86 %)
    z = np.abs(np.asarray(p.b1) - true[:, 2]) / (np.asarray(p.std.b1) / std_scale(3))
    assert np.mean(z < 2) < 0.9


def test_covariance_matches_scipy_curve_fit():
    from scipy import optimize  # the test extra

    data = eos.example_data()
    fit = eos.fit_eos(data)
    p = eos.properties(fit, data)
    p0 = [0.0, float(fit.v0), float(fit.b0), float(fit.b1)]
    popt, pcov = optimize.curve_fit(_bm, data.volume, data.energy, p0=p0, xtol=1e-15, ftol=1e-15)
    sd = np.sqrt(np.diag(pcov)) * std_scale(len(data) - 4)  # curve_fit: σ² = SSR/(N-p)
    assert np.allclose([p.v0, p.b0, p.b1], popt[1:], rtol=1e-7)
    assert np.allclose([p.std.v0, p.std.b0, p.std.b1], sd[1:], rtol=1e-5)
    assert np.isclose(p.std.b0_gpa, p.std.b0 * eos.EV_PER_A3_TO_GPA)
    # with the noise given: absolute_sigma, no t scale
    q = eos.properties(fit, data, sigma=2e-4)
    _, pcov = optimize.curve_fit(
        _bm, data.volume, data.energy, p0=p0, sigma=np.full(7, 2e-4), absolute_sigma=True
    )
    assert np.allclose([q.std.v0, q.std.b0, q.std.b1], np.sqrt(np.diag(pcov))[1:], rtol=1e-5)
    assert q.sigma_known and q.dof == 3
    lo, hi = q.interval(0.95)["v0"]
    assert np.isclose(hi - lo, 2 * 1.959963984540054 * q.std.v0, rtol=1e-9)


class _Skewed(eos.BirchMurnaghan):
    """BM plus c·(V - 11)³: its minimum, B0 and B0' all move with c (a non-trivial map)."""

    c: Array = eqx.field(converter=jnp.asarray, default=0.0)

    def energy(self, v):
        return super().energy(v) + self.c * (v - 11.0) ** 3

    def params(self):
        return {**super().params(), "c": self.c}


def test_property_jacobian_matches_finite_differences():
    data = eos.example_data()
    form = _Skewed(0.0, 11.95, 0.88, 5.0, 2e-3)
    names = tuple(form.params())
    diag = _properties.diagnose(form, [data])
    P = diag.pjac[0]
    theta = np.array([float(getattr(form, k)) for k in names])

    def props(th):
        f = _Skewed(*th)
        q = eos.properties(f, bracket=(data.volume.min(), data.volume.max()))
        return np.array([q.v0, q.e0, q.b0, q.b1])

    base = props(theta)
    assert not np.isclose(base[0], 11.95, rtol=1e-4)  # c moves the minimum
    for j in range(len(names)):
        h = 1e-5 * max(abs(theta[j]), 1e-2)
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        fd = (props(up) - props(dn)) / (2 * h)
        assert np.allclose(P[:, j], fd, rtol=1e-5, atol=1e-7 * np.abs(P).max()), names[j]


def test_standard_errors_of_batches_and_edge_cases():
    data = eos.example_data()
    one = eos.properties(eos.fit_eos(data), data)
    half = eos.EVData(data.volume[:6], data.energy[:6])
    fits = eos.fit_eos([data, data])
    both = eos.properties(fits, [data, data])
    assert np.allclose(np.asarray(both.std.b0), one.std.b0, rtol=1e-9)
    assert np.asarray(both.dof).tolist() == [3, 3]
    # 4 points, 4 parameters: no residual dof, no standard errors (unless sigma is given)
    four = eos.EVData(data.volume[1:5], data.energy[1:5])
    f4 = eos.fit_eos(four)
    p4 = eos.properties(f4, four)
    assert p4.std is None and p4.dof == 0 and "no standard errors" in str(p4)
    assert eos.properties(f4, four, sigma=1e-4).std.v0 > 0
    with pytest.raises(ValueError, match="no standard errors"):
        p4.interval(0.68)
    with pytest.raises(ValueError, match="sigma must be positive"):
        eos.properties(f4, four, sigma=0.0)
    with pytest.raises(ValueError, match="sigma must be a scalar or one value per point"):
        eos.properties(f4, four, sigma=np.ones(3))
    with pytest.raises(ValueError, match="needs a list of 2 EVData"):
        eos.properties(fits, data)
    with pytest.raises(ValueError, match="sigma= and weights= give standard errors"):
        eos.properties(lambda v: (v - 12.0) ** 2, half, sigma=1e-3)
    # a readable repr: values with their errors and units, no np.float64(...)
    text = repr(one)
    assert "Å³/atom" in text and "GPa" in text and "±" in text and "np.float64" not in text
    assert "t-scaled for 3 residual dof" in text
