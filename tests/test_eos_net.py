"""EnergyNet and the physics terms: the Cu reference case, finite differences, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinnloss import eos

BM = eos.BirchMurnaghan(e0=0.0, v0=11.95, b0=0.88, b1=5.05)


def _fd1(f, v, h=1e-3):
    d = lambda h: (f(v + h) - f(v - h)) / (2 * h)
    return (4 * d(h / 2) - d(h)) / 3


def test_energy_net_scaling_and_shapes():
    data = eos.example_data()
    net = eos.EnergyNet(data, width=8, depth=1, key=jax.random.key(1))
    assert np.isclose(net.v_center, data.volume.mean(), rtol=1e-2)
    assert np.isclose(net.v_scale, np.ptp(data.volume) / 2)
    assert net.relative_to_data and not hasattr(eos.BirchMurnaghan, "relative_to_data")
    # scaling constants are not trained: zero gradient through stop_gradient
    g = eqx.filter_grad(lambda m: m(12.0))(net)
    assert g.v_center == 0 and g.v_scale == 0 and g.e_center == 0 and g.e_scale == 0
    assert jnp.any(g.mlp.layers[0].weight != 0)
    # nets for different crystals share one pytree structure, hence one compiled solver
    other = eos.EVData(2 * data.volume, 3 * data.absolute_energy)
    net2 = eos.EnergyNet(other, width=8, depth=1, key=jax.random.key(1))
    assert jax.tree_util.tree_structure(net) == jax.tree_util.tree_structure(net2)
    with pytest.raises(ValueError, match="call on one scalar volume"):
        net(jnp.ones(3))
    with pytest.raises(ValueError, match="data must be an EVData"):
        eos.EnergyNet(np.ones((7, 2)), key=jax.random.key(0))
    with pytest.raises(ValueError, match="width and depth must be >= 1"):
        eos.EnergyNet(data, width=0, key=jax.random.key(0))


@pytest.mark.parametrize("model", ["bm", "net"])
def test_terms_match_finite_differences(model):
    if model == "bm":
        m = BM
    else:
        m = eos.EnergyNet(eos.example_data(), width=8, depth=2, key=jax.random.key(2))
    energy = eqx.filter_jit(lambda m, v: m(v))
    res = eqx.filter_jit(lambda t, m: t.residuals(m))  # compiled once per term type
    E = lambda v: float(energy(m, jnp.asarray(v)))
    P = lambda v: float(eos.pressure(m, v))
    B = lambda v: float(eos.bulk_modulus(m, v))
    for v in (11.4, 11.95, 12.5):
        r = res(eos.ZeroPressure(v0=v), m)
        assert r.shape == (1,) and np.isclose(r[0], _fd1(E, v), rtol=1e-7, atol=1e-10)
        r = res(eos.BulkModulus(v0=v, b0=0.5), m)
        assert np.isclose(r[0], -v * _fd1(P, v) - 0.5, rtol=1e-7, atol=1e-9)
        r = res(eos.BulkModulusDerivative(v0=v, b1=4.0), m)
        assert np.isclose(r[0], _fd1(B, v) / _fd1(P, v) - 4.0, rtol=1e-6, atol=1e-7)
    vols = np.array([11.3, 11.9, 12.6])
    pd = eos.PressureData(vols, [0.1, 0.0, -0.05])
    fd = np.array([-_fd1(E, v) for v in vols])
    assert np.allclose(res(pd, m), fd - np.array([0.1, 0.0, -0.05]), rtol=1e-7, atol=1e-10)
    assert np.isclose(pd.value(m), np.mean((fd - [0.1, 0.0, -0.05]) ** 2), rtol=1e-6)


def test_terms_vanish_on_exact_curve_and_compose():
    objective = (
        1e2 * eos.ZeroPressure(v0=BM.v0)
        + eos.BulkModulus(v0=BM.v0, b0=BM.b0)
        + eos.BulkModulusDerivative(v0=BM.v0, b1=BM.b1)
        + eos.PressureData(np.array([11.0, 13.0]), eos.pressure(BM, np.array([11.0, 13.0])))
    )
    assert objective.names == (
        "zero_pressure",
        "bulk_modulus",
        "bulk_modulus_derivative",
        "pressure_data",
    )
    assert float(objective.value(BM)) < 1e-26
    # weights multiply the term's mean square
    off = eos.ZeroPressure(v0=11.0)
    assert np.isclose((3.0 * off).value(BM), 3.0 * float(jax.grad(BM)(11.0)) ** 2, rtol=1e-12)


def test_terms_under_jit_vmap_grad():
    v0s = jnp.array([11.0, 11.5, 12.0])
    r = jax.jit(jax.vmap(lambda v0: eos.ZeroPressure(v0).residuals(BM)[0]))(v0s)
    assert np.allclose(r, -eos.pressure(BM, v0s), rtol=1e-12)
    # targets are arrays: a new target does not retrace
    f = eqx.filter_jit(eqx.debug.assert_max_traces(lambda t, m: t.value(m), max_traces=1))
    f(eos.BulkModulus(v0=11.9, b0=0.8), BM)
    f(eos.BulkModulus(v0=12.1, b0=0.9), BM)
    # gradient of a term with respect to the model against finite differences
    term = eos.BulkModulus(v0=11.7, b0=0.7)
    g = jax.grad(lambda m: term.value(m))(BM)
    h = 1e-6
    up = term.value(eqx.tree_at(lambda m: m.b1, BM, BM.b1 + h))
    dn = term.value(eqx.tree_at(lambda m: m.b1, BM, BM.b1 - h))
    assert np.isclose(g.b1, (up - dn) / (2 * h), rtol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: eos.ZeroPressure(v0=-1.0), "ZeroPressure: v0 must be positive"),
        (lambda: eos.ZeroPressure(v0=[11.0, 12.0]), "v0 must be a scalar; got shape \\(2,\\)"),
        (lambda: eos.BulkModulus(v0=11.0, b0=float("nan")), "b0 must be finite"),
        (lambda: eos.BulkModulus(v0=11.0, b0=-0.1), "b0 must be positive"),
        (lambda: eos.BulkModulusDerivative(v0=0.0, b1=4.0), "v0 must be positive"),
        (lambda: eos.PressureData([11.0, 12.0], [0.1]), "pressure has shape \\(1,\\)"),
        (lambda: eos.PressureData([[11.0, 12.0]], [[0.1, 0.2]]), "must be a non-empty 1-D"),
        (lambda: eos.PressureData([-11.0], [0.1]), "volumes must be positive"),
        (lambda: eos.PressureData([11.0], [np.nan]), "NaN or inf"),
    ],
)
def test_term_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()
