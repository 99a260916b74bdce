"""properties() on any model, and bootstrap error bars against an independent NumPy refit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinnloss import eos


def _np_bm_fit(v, e, w):
    """Weighted BM3 fit as a cubic in V^(-2/3), written with NumPy only."""
    x = v ** (-2.0 / 3.0)
    c = np.polyfit(x, e, 3, w=np.sqrt(w))
    d1, d2, d3 = np.polyder(c, 1), np.polyder(c, 2), np.polyder(c, 3)
    roots = [r.real for r in np.roots(d1) if abs(r.imag) < 1e-12 and r.real > 0]
    x0 = [r for r in roots if np.polyval(d2, r) > 0][0]
    v0 = x0**-1.5
    # E(V) = P(x(V)), x = V^(-2/3): chain rule
    dxdv = -2.0 / 3.0 * v0 ** (-5.0 / 3.0)
    d2xdv2 = 10.0 / 9.0 * v0 ** (-8.0 / 3.0)
    d3xdv3 = -80.0 / 27.0 * v0 ** (-11.0 / 3.0)
    p1, p2, p3 = np.polyval(d1, x0), np.polyval(d2, x0), np.polyval(d3, x0)
    e2 = p2 * dxdv**2 + p1 * d2xdv2
    e3 = p3 * dxdv**3 + 3 * p2 * dxdv * d2xdv2 + p1 * d3xdv3
    return v0, v0 * e2, -1.0 - v0 * e3 / e2


def test_properties_of_forms_and_nets():
    data = eos.example_data()
    bm = eos.BirchMurnaghan(e0=-45035.7488, v0=11.951, b0=0.8795, b1=5.06)
    p = eos.properties(bm, data)
    assert np.isclose(p.v0, 11.951, rtol=1e-13) and np.isclose(p.b0, 0.8795, rtol=1e-12)
    assert np.isclose(p.b1, 5.06, rtol=1e-10) and np.isclose(p.e0, -45035.7488, rtol=1e-15)
    assert np.isclose(p.b0_gpa, 0.8795 * 160.21766208, rtol=1e-12)
    assert set(p.as_dict()) == {"v0", "e0", "b0", "b0_gpa", "b1"}
    # an arbitrary smooth model: Newton's V0 solves E'=0; B0 and B0' match finite differences
    net = eos.EnergyNet(data, width=8, depth=2, key=jax.random.key(3))
    model = lambda v: net(v) + 0.5 * (v - 12.0) ** 2  # a convex bowl plus a wiggly net
    q = eos.properties(model, bracket=(10.0, 14.0))
    assert abs(float(jax.grad(model)(q.v0))) < 1e-12
    E = lambda v: float(model(jnp.asarray(v)))
    h = 1e-3
    b_fd = q.v0 * (E(q.v0 + h) - 2 * E(q.v0) + E(q.v0 - h)) / h**2
    assert np.isclose(q.b0, b_fd, rtol=1e-5)
    B = lambda v: float(eos.bulk_modulus(model, v))
    P = lambda v: float(eos.pressure(model, v))
    bp_fd = (B(q.v0 + h) - B(q.v0 - h)) / (P(q.v0 + h) - P(q.v0 - h))
    assert np.isclose(q.b1, bp_fd, rtol=1e-5)
    # under jit and vmap (no checks, a validity flag instead)
    forms = eos.BirchMurnaghan(
        jnp.zeros(3), jnp.array([11.0, 12.0, 15.0]), jnp.full(3, 0.8), 4.5 + jnp.zeros(3)
    )
    out = jax.jit(jax.vmap(lambda f: eos.properties(f, bracket=(10.0, 13.0))))(forms)
    assert np.allclose(out.v0[:2], [11.0, 12.0], rtol=1e-12)
    assert list(np.asarray(out.valid)) == [True, True, False]


def test_properties_refuse_no_minimum():
    concave = eos.BirchMurnaghan(0.0, 12.0, -0.8, 4.5)  # a maximum, not a minimum
    with pytest.raises(ValueError, match="no energy minimum inside"):
        eos.properties(concave, bracket=(11.0, 13.0))
    bm = eos.BirchMurnaghan(0.0, 12.0, 0.8, 4.5)
    with pytest.raises(ValueError, match="no energy minimum inside the sampled volumes"):
        eos.properties(bm, bracket=(9.0, 11.0))
    with pytest.raises(ValueError, match="give the data"):
        eos.properties(bm)
    with pytest.raises(ValueError, match="v_lo < v_hi"):
        eos.properties(bm, bracket=(12.0, 11.0))
    with pytest.raises(ValueError, match="one energy per volume"):
        eos.properties(lambda v: jnp.stack([v, v]), bracket=(11.0, 13.0))


def test_bootstrap_matches_independent_refits():
    data = eos.example_data()
    full = eos.fit_eos(data)
    ens = eos.bootstrap(data, n=64, key=jax.random.key(0))
    assert ens.n == 64 and 40 <= ens.n_valid <= 64 and ens.weights.shape == (64, 7)
    assert np.all(ens.weights.sum(axis=1) == 7)
    s = ens.samples
    checked = 0
    for i in np.nonzero(np.asarray(s.valid))[0][:20]:
        v0, b0, b1 = _np_bm_fit(data.volume, data.energy, ens.weights[i])
        assert np.isclose(s.v0[i], v0, rtol=1e-9)
        assert np.isclose(s.b0[i], b0, rtol=1e-7)
        assert np.isclose(s.b1[i], b1, rtol=1e-5)
        checked += 1
    assert checked == 20
    # statistics: mean and std over the valid members, std small but not zero
    valid = np.asarray(s.valid)
    assert np.isclose(ens.mean.v0, np.mean(s.v0[valid]), rtol=1e-14)
    assert np.isclose(ens.std.b0, np.std(s.b0[valid], ddof=1), rtol=1e-12)
    assert abs(ens.mean.v0 - full.v0) < 3 * ens.std.v0 + 1e-6
    assert 0 < ens.std.v0 / ens.mean.v0 < 1e-3 and 0 < ens.std.b0 / ens.mean.b0 < 1e-2
    assert "± " in str(ens) and set(ens.as_dict()["b1"]) == {"mean", "std"}
    assert f"over {ens.n_valid}/64 members (members that converged to a valid fit" in str(ens)
    # a curve fit_eos refuses is refused by the bootstrap too (it used to report survivors)
    v = data.volume
    concave = eos.EVData(v, -0.3 * (v - v.mean()) ** 2, label="concave")
    with pytest.raises(ValueError, match="fit_eos: 1 of 1 curve.*concave: "):
        eos.bootstrap(concave, n=64, key=jax.random.key(0))
    with pytest.raises(ValueError, match="n must be an integer of at least 2"):
        eos.bootstrap(data, n=1, key=jax.random.key(0))


def test_rms_in_mev_per_atom_for_forms_and_nets():
    data = eos.example_data()
    bm = eos.fit_eos(data)
    ref = 1e3 * np.sqrt(
        np.mean((np.asarray(jax.vmap(bm)(data.volume)) - data.absolute_energy) ** 2)
    )
    assert eos.rms(bm, data) == pytest.approx(ref, rel=1e-12)
    assert 0 < eos.rms(bm, data) < 0.01  # the bundled BM fit: ~0.0017 meV/atom
    # a net predicts energies relative to its data: rms adds the shift back
    net = eos.EnergyNet(data, width=4, depth=1, key=jax.random.key(0))
    rel = 1e3 * np.sqrt(np.mean((np.asarray(jax.vmap(net)(data.volume)) - data.energy) ** 2))
    assert eos.rms(net, data) == pytest.approx(rel, rel=1e-9)
    assert eos.energy_offset(net, data) == data.energy_shift and eos.energy_offset(bm, data) == 0
    with pytest.raises(ValueError, match="EVData"):
        eos.rms(bm, data.volume)
