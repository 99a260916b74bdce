"""Fit-quality verdicts: eos.assess, FitQualityWarning from fit_eos, fit_eos/properties agree."""

import warnings

import jax
import numpy as np
import pytest

from pinnloss import eos


def _kinds(found):
    return sorted({v.kind for v in found})


def _exact(form, v, label=""):
    return eos.EVData(v, np.asarray(form.energy(np.asarray(v))), label=label)


def test_a_good_fit_has_no_verdicts_and_fit_eos_stays_quiet():
    data = eos.example_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", eos.FitQualityWarning)
        fit = eos.fit_eos(data)
    assert eos.assess(fit, data) == []


def test_wide_range_curve_with_a_shoulder_is_flagged():
    """BM through a ±35 % curve with a shoulder: RMS 13 meV/atom, systematic residuals."""
    bm = eos.BirchMurnaghan(0.0, 16.0, 0.6, 4.5)
    v = np.linspace(16 * 0.65, 16 * 1.4, 25)
    e = np.asarray(bm.energy(v)) + 0.08 * np.exp(-(((v - 13.0) / 1.2) ** 2))
    e = e + 2e-5 * np.random.default_rng(0).standard_normal(25)
    data = eos.EVData(v, e, label="wide")
    with pytest.warns(eos.FitQualityWarning) as rec:
        fit = eos.fit_eos(data)
    found = eos.assess(fit, data)
    assert {"rms", "pattern"} <= set(_kinds(found))
    assert sorted(str(w.message) for w in rec) == sorted(v.message for v in found)
    msg = {v.kind: v.message for v in found}
    assert msg["rms"].startswith("wide: RMS residual 13") and "choose another form" in msg["rms"]
    assert "systematic" in msg["pattern"] and "p = " in msg["pattern"]
    # the same curve with its noise given: the chi² test says the residuals exceed it
    assert "rms" in _kinds(eos.assess(fit, data, sigma=2e-5))
    # pure noise around the right form: no pattern, no rms verdict
    clean = eos.EVData(
        v, np.asarray(bm.energy(v)) + 2e-5 * np.random.default_rng(1).normal(size=25)
    )
    assert _kinds(eos.assess(eos.fit_eos(clean), clean)) == []


def test_absurd_parameters_edges_and_turnover_are_named():
    v = np.linspace(9.0, 24.0, 7)
    turn = eos.BirchMurnaghan(0.0, 12.0, 0.5, 3.0)  # E'' < 0 beyond V ~ 21.6, still a minimum
    found = eos.assess(turn, _exact(turn, v, "turn"))
    assert _kinds(found) == ["turnover"]
    assert "turn: the fitted curve turns over inside the data (E'' < 0 from V = 21" in (
        found[0].message
    )
    w = np.linspace(11.2, 12.8, 7)
    cases = {
        "b1": eos.BirchMurnaghan(0.0, 12.0, 0.8, 16.0),
        "b0": eos.BirchMurnaghan(0.0, 12.0, 1e-5, 4.0),
        "v0_edge": eos.BirchMurnaghan(0.0, 11.3, 0.8, 4.0),
    }
    for kind, form in cases.items():
        found = eos.assess(form, _exact(form, w))
        assert kind in _kinds(found), (kind, found)
    b0 = [v for v in eos.assess(cases["b0"], _exact(cases["b0"], w)) if v.kind == "b0"][0]
    assert "B0 = 0.0016 GPa is implausibly small" in b0.message
    # a batch: verdicts carry the member's index and label
    forms = jax.tree.map(lambda *a: np.stack(a), cases["b1"], cases["v0_edge"])
    found = eos.assess(forms, [_exact(cases["b1"], w, "x"), _exact(cases["v0_edge"], w)])
    assert {(v.index, v.kind) for v in found} >= {(0, "b1"), (1, "v0_edge")}
    assert any(v.message.startswith("x: B0' = 16") for v in found)
    assert any(v.message.startswith("curve 1: V0 = 11.3") for v in found)


def test_fit_eos_and_properties_refuse_the_same_curves():
    """A curve with an interior maximum: the BM fit turns over inside the data. fit_eos used to
    accept it (V0 inside, B0 > 0) while properties refused it; now both refuse, saying why."""
    from scipy import optimize  # the test extra

    v = np.linspace(10.5, 14.5, 7)
    data = eos.EVData(v, (v - 12) ** 2 - 0.4 * (v - 12) ** 3, label="turn")
    with pytest.raises(ValueError, match="turn: the fitted curve has its minimum at V0 = 11.8"):
        eos.fit_eos(data)
    with pytest.warns(UserWarning, match="1 of 1 curve"):
        assert np.isnan(float(eos.fit_eos(data, check=False).v0))

    def bm(x, e0, v0, b0, b1):
        return np.asarray(eos.BirchMurnaghan(e0, v0, b0, b1).energy(x))

    p, _ = optimize.curve_fit(bm, v, data.energy, p0=[0.0, 11.9, 20.0, 4.0])
    raw = eos.BirchMurnaghan(*p)  # the unrefused least-squares fit
    assert v[0] < p[1] < v[-1] and p[2] > 0  # the old checks would have passed it
    with pytest.raises(ValueError, match="no energy minimum inside the sampled volumes"):
        eos.properties(raw, data)
    assert _kinds(eos.assess(raw, data)) == ["no_minimum"]


def test_no_dof_and_bad_arguments():
    d = eos.example_data()
    four = eos.EVData(d.volume[1:5], d.energy[1:5])
    with pytest.warns(eos.FitQualityWarning, match="4 points for 4 parameters"):
        fit = eos.fit_eos(four)
    assert _kinds(eos.assess(fit, four)) == ["no_dof"]
    assert eos.assess(fit, four, sigma=1e-4) == []
    with pytest.raises(ValueError, match="assess: fit must be a classical form"):
        eos.assess(lambda x: x, d)
    with pytest.raises(ValueError, match="assess: a form with parameter shape \\(\\) needs one"):
        eos.assess(fit, [four, four])
    with pytest.raises(ValueError, match="give sigma= .* or weights=, not both"):
        eos.assess(fit, four, sigma=1e-3, weights=np.ones(4))
    assert issubclass(eos.FitQualityWarning, UserWarning)


# --- the lag-1 p-value: same numbers as before, bounded memory, an exact-cumulant tail ---


def _old_lag1_pvalue(u, Jw, rng, draws=2000):
    """The 0.2 implementation, kept here as the reference: one (draws, n) matrix."""
    Q, _ = np.linalg.qr(Jw)
    Z = rng.standard_normal((draws, Jw.shape[0]))
    R0 = Z - (Z @ Q) @ Q.T
    rho = lambda x: np.sum(x[..., 1:] * x[..., :-1], axis=-1) / np.sum(x * x, axis=-1)
    r = float(rho(u))
    return r, float((1 + np.sum(rho(R0) >= r)) / (draws + 1))


def _bm_jacobian(n):
    x = np.linspace(0.8, 1.2, n) ** (-2.0 / 3.0)
    return np.stack([np.ones(n), x, x**2, x**3], axis=1)


@pytest.mark.parametrize("n", [7, 40, 600, 2000])
def test_lag1_pvalue_is_the_old_simulation_in_blocks(n):
    """Up to 2000 points the p-value is the 0.2 simulation, drawn in blocks: bit-identical."""
    from pinnloss.eos._quality import _lag1_pvalue

    J = _bm_jacobian(n)
    gen = np.random.default_rng(5)
    for u in (gen.standard_normal(n), np.sin(np.linspace(0, 3, n)) + 0.3 * gen.standard_normal(n)):
        assert _lag1_pvalue(u, J, np.random.default_rng(0)) == _old_lag1_pvalue(
            u, J, np.random.default_rng(0)
        )


def test_lag1_tail_matches_a_large_simulation():
    """The cumulant (Pearson) tail used above 2000 points against 20 000 simulated draws."""
    from pinnloss.eos._quality import _lag1, _lag1_tail

    n = 800
    Q, _ = np.linalg.qr(_bm_jacobian(n))
    gen = np.random.default_rng(3)
    r0 = np.concatenate(
        [_lag1(Z - (Z @ Q) @ Q.T) for Z in (gen.standard_normal((1000, n)) for _ in range(20))]
    )
    for q in (0.5, 0.9, 0.99, 0.998):
        r = float(np.quantile(r0, q))
        p_sim = float(np.mean(r0 >= r))
        se = np.sqrt(p_sim * (1 - p_sim) / r0.size)
        assert abs(_lag1_tail(Q, r) - p_sim) < 4 * se + 0.05 * p_sim, (q, _lag1_tail(Q, r), p_sim)
    # residuals with a clear pattern get a tiny p-value, white ones a large one
    assert _lag1_tail(Q, 0.5) < 1e-30 and _lag1_tail(Q, -0.2) > 0.999


@pytest.mark.parametrize("n", [1500, 300_000])
def test_lag1_pvalue_memory_grows_with_the_data_not_the_draws(n):
    """Peak NumPy memory of the p-value stays a few times the Jacobian (the 0.2 code drew a
    (2000, n) matrix: 4.8 GB at n = 300 000)."""
    import tracemalloc

    from pinnloss.eos._quality import _lag1_pvalue

    J = _bm_jacobian(n)
    u = np.random.default_rng(0).standard_normal(n)
    tracemalloc.start()
    try:
        r, p = _lag1_pvalue(u, J, np.random.default_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0 < p <= 1 and abs(r) < 0.05
    assert peak < 8 * J.nbytes + 4 * 8 * (1 << 20), peak / J.nbytes  # 4 blocks of 2**20
