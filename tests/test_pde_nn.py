"""pinnloss.pde multi-scale inputs: Fourier features against their formula (NumPy) and their
sampling law, fixed matrices that are not parameters, normalisation and output scaling,
FourierMLP's composition, derivatives against finite differences under jit / vmap / grad, and
a Gauss-Newton solve through the per-point Jacobian path."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import pinnloss as pl
import pinnloss.pde as pde
from pinnloss._solvers._base import Problem


def _n_params(tree) -> int:
    return sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array)))


# ------------------------------------------------------------------------ Fourier features


def test_fourier_features_formula_law_and_scales():
    ff = pde.FourierFeatures(3, 4000, sigma=(0.5, 8.0), key=jax.random.key(0))
    B = np.asarray(ff.matrix)
    assert B.shape == (8000, 3) and ff.out_size == 16000
    # each scale's rows are N(0, σ²): sample std within 3% (n = 12000 per block)
    np.testing.assert_allclose(B[:4000].std(), 0.5, rtol=0.03)
    np.testing.assert_allclose(B[4000:].std(), 8.0, rtol=0.03)
    assert abs(B[4000:].mean()) < 0.05 * 8.0
    x = np.array([0.1, -0.4, 0.7])
    z = 2 * np.pi * B @ x
    want = np.concatenate([np.cos(z), np.sin(z)])
    np.testing.assert_allclose(ff(jnp.asarray(x)), want, rtol=1e-10, atol=1e-12)
    # space apart from time: only the chosen axes enter
    ft = pde.FourierFeatures(3, 5, 2.0, axes=(0,), key=jax.random.key(1))
    assert ft.matrix.shape == (5, 1)
    np.testing.assert_allclose(ft(jnp.array([0.3, 9.0, -9.0])), ft(jnp.array([0.3, 0.0, 0.0])))
    fs = pde.FourierFeatures("scalar", 3, 1.0, key=jax.random.key(2))
    zs = 2 * np.pi * np.asarray(fs.matrix)[:, 0] * 0.25
    np.testing.assert_allclose(fs(0.25), np.concatenate([np.cos(zs), np.sin(zs)]), rtol=1e-12)


def test_fourier_matrix_is_fixed_not_a_parameter():
    ff = pde.FourierFeatures(2, 16, 3.0, key=jax.random.key(0))
    assert _n_params(ff) == 0 and jax.tree_util.tree_leaves(ff) == []
    # same key: equal modules, one compiled program; another key: another matrix
    again = pde.FourierFeatures(2, 16, 3.0, key=jax.random.key(0))
    other = pde.FourierFeatures(2, 16, 3.0, key=jax.random.key(1))
    assert eqx.tree_equal(ff, again) is True and eqx.tree_equal(ff, other) is not True
    traces = []

    @eqx.filter_jit
    def f(m, x):
        traces.append(1)
        return m(x)

    x = jnp.array([0.2, 0.3])
    for m in (ff, again, other):
        f(m, x)
    assert len(traces) == 2
    np.testing.assert_allclose(f(other, x), other(x), rtol=1e-15)
    # a whole network: its parameters are the body's and the head's, nothing of B
    net = pde.FourierMLP(2, "scalar", 8, 2, sigma=(1.0, 5.0), num_features=6, key=jax.random.key(2))
    want = (12 * 8 + 8) + (8 * 8 + 8) + (2 * 8 + 1)  # body 12→8→8, head 16→1
    assert _n_params(net) == want
    # built under vmap (an ensemble of traced keys) B stays a leaf, its gradient stopped
    ens = eqx.filter_vmap(lambda k: pde.FourierFeatures(2, 4, 1.0, key=k))(
        jax.random.split(jax.random.key(3), 3)
    )
    assert ens.B.shape == (3, 4, 2)
    g = eqx.filter_grad(lambda m: jnp.sum(eqx.filter_vmap(lambda m: m(x))(m)))(ens)
    assert np.all(np.asarray(g.B) == 0.0)


# --------------------------------------------------------------- normalisation and scaling


def test_normalize_and_output_scale():
    norm = pde.Normalize([0.0, -2.0, 1.0], [4.0, 2.0, 3.0])
    np.testing.assert_allclose(norm(jnp.array([0.0, -2.0, 1.0])), -1.0)
    np.testing.assert_allclose(norm(jnp.array([4.0, 2.0, 3.0])), 1.0)
    np.testing.assert_allclose(norm(jnp.array([1.0, 0.0, 2.5])), [-0.5, 0.0, 0.5])
    assert _n_params(norm) == 0
    # bounds from domains: pde.box, pde.time_box, anything with a bbox
    tb = pde.time_box(0.0, 5.0, [0.0, 0.0], [1.0, 2.0])
    np.testing.assert_allclose(
        pde.Normalize(domain=tb)(jnp.array([5.0, 0.5, 0.0])), [1.0, 0.0, -1.0]
    )

    class Geo:
        bbox = (np.array([-1.0, -1.0]), np.array([3.0, 1.0]))

    np.testing.assert_allclose(pde.Normalize(domain=Geo())(jnp.array([1.0, 1.0])), [0.0, 1.0])
    np.testing.assert_allclose(pde.Normalize(domain=pde.box(2.0, 4.0))(3.5), 0.5)
    out = pde.OutputScale(jnp.array([10.0, 0.1]), jnp.array([300.0, 0.0]))
    np.testing.assert_allclose(out(jnp.array([0.5, 2.0])), [305.0, 0.2])
    assert _n_params(out) == 0
    with pytest.raises(ValueError, match=r"pde.Normalize: lower and upper .* lower < upper"):
        pde.Normalize([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="cannot read bounds from object"):
        pde.Normalize(domain=object())
    with pytest.raises(ValueError, match=r"bounds have shape \(3,\) but the point has shape"):
        norm(jnp.ones(2))
    with pytest.raises(ValueError, match="scale must be nonzero"):
        pde.OutputScale(0.0)
    with pytest.raises(ValueError, match="must be finite"):
        pde.OutputScale(1.0, np.nan)


def test_fourier_errors():
    k = jax.random.key(0)
    with pytest.raises(ValueError, match=r"FourierFeatures: sigma must be a positive"):
        pde.FourierFeatures(2, 4, -1.0, key=k)
    with pytest.raises(ValueError, match=r"FourierFeatures: sigma must be finite"):
        pde.FourierFeatures(2, 4, (1.0, np.inf), key=k)
    with pytest.raises(ValueError, match=r"num_features must be a positive integer"):
        pde.FourierFeatures(2, 0, 1.0, key=k)
    with pytest.raises(ValueError, match=r"axes must be distinct axes of the 2-d input"):
        pde.FourierFeatures(2, 4, 1.0, axes=(0, 2), key=k)
    with pytest.raises(ValueError, match=r"expects one point of shape \(2,\); got shape \(3,\)"):
        pde.FourierFeatures(2, 4, 1.0, key=k)(jnp.ones(3))
    with pytest.raises(ValueError, match=r"FourierMLP: sigma_t needs time_axis"):
        pde.FourierMLP(2, 1, 8, 1, sigma_t=1.0, key=k)
    with pytest.raises(ValueError, match=r"time_axis=2 must be an axis"):
        pde.FourierMLP(2, 1, 8, 1, time_axis=2, key=k)
    with pytest.raises(ValueError, match=r"the bounds have shape \(3,\); the input has shape"):
        pde.FourierMLP(2, 1, 8, 1, lower=[0.0] * 3, upper=[1.0] * 3, key=k)
    with pytest.raises(ValueError, match="sigma must be a concrete number"):
        jax.jit(lambda s: pde.FourierFeatures(2, 4, s, key=k).out_size)(1.0)


# ----------------------------------------------------------------------------- FourierMLP


def test_fourier_mlp_composition_space_time():
    dom = pde.time_box(0.0, 2.0, [-1.0, 0.0], [1.0, 4.0])
    net = pde.FourierMLP(3, 2, 8, 2, sigma=(1.0, 4.0), sigma_t=(0.5,), time_axis=0, domain=dom,
                         output_scale=[2.0, 3.0], output_shift=[1.0, 0.0],
                         key=jax.random.key(0))  # fmt: skip
    assert len(net.features) == 2 and len(net.time_features) == 1
    z = jnp.array([1.5, 0.2, 3.0])
    # the spatio-temporal network by hand, from the matrices and the layers' arrays
    zh = np.array([0.5, 0.2, 0.5])  # normalised
    gamma = lambda B, v: np.concatenate([np.cos(2 * np.pi * B @ v), np.sin(2 * np.pi * B @ v)])
    ws = [(np.asarray(lay.weight), np.asarray(lay.bias)) for lay in net.body.layers]

    def body(h):
        for w, b in ws:
            h = np.tanh(w @ h + b)
        return h

    ht = body(gamma(np.asarray(net.time_features[0].matrix), zh[:1]))
    hs = [body(gamma(np.asarray(f.matrix), zh[1:])) * ht for f in net.features]
    y = np.asarray(net.head.weight) @ np.concatenate(hs) + np.asarray(net.head.bias)
    np.testing.assert_allclose(net(z), np.array([2.0, 3.0]) * y + [1.0, 0.0], rtol=1e-12)
    # vector-valued derivatives against central differences, under jit and vmap
    h = 1e-5
    e = jnp.eye(3)
    fd_t = (net(z + h * e[0]) - net(z - h * e[0])) / (2 * h)
    np.testing.assert_allclose(pde.dt(net)(z), fd_t, rtol=1e-7, atol=1e-9)
    h2 = 1e-4
    fd_lap = sum((net(z + h2 * e[i]) - 2 * net(z) + net(z - h2 * e[i])) / h2**2 for i in (1, 2))
    lap = eqx.filter_jit(lambda m, z: pde.spatial_laplacian(m, out=(0, 1))(z))(net, z)
    np.testing.assert_allclose(lap, fd_lap, rtol=1e-5, atol=1e-5)
    zs = jnp.stack([z, z * 0.5])
    batched = jax.jit(jax.vmap(lambda q: pde.spatial_laplacian(net, out=1)(q)))(zs)
    np.testing.assert_allclose(batched[0], lap[1], rtol=1e-12)


def test_fourier_mlp_parameter_gradient_matches_finite_difference():
    net = pde.FourierMLP("scalar", "scalar", 8, 1, sigma=(1.0, 3.0), num_features=4,
                         lower=0.0, upper=2.0, key=jax.random.key(1))  # fmt: skip
    xs = jnp.linspace(0.1, 1.9, 7)
    loss = lambda m: jnp.sum(jax.vmap(pde.laplacian(m))(xs) ** 2)
    params, static = eqx.partition(net, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    g = ravel_pytree(eqx.filter_jit(eqx.filter_grad(loss))(net))[0]
    v = jax.random.normal(jax.random.key(2), flat.shape)
    at = eqx.filter_jit(lambda s: loss(eqx.combine(unravel(flat + s * v), static)))
    eps = 1e-6
    np.testing.assert_allclose(jnp.vdot(g, v), (at(eps) - at(-eps)) / (2 * eps), rtol=1e-6)


def _poisson(model, x):  # u'' = f for u = sin(2πx) + 0.1 sin(8πx) on [0, 1]
    f = -((2 * jnp.pi) ** 2) * jnp.sin(2 * jnp.pi * x) - 6.4 * jnp.pi**2 * jnp.sin(8 * jnp.pi * x)
    return pde.laplacian(model)(x) - f


def test_least_squares_on_a_fourier_mlp_per_point_jacobian():
    # σ = 2 on [-1, 1]: features up to ~6 cycles per half-width, resolved by 48 points (with
    # σ = 4 the same solve stalls at 5e-3: frequencies the points cannot see)
    net = pde.FourierMLP("scalar", "scalar", 8, 1, sigma=(1.0, 2.0), num_features=4,
                         lower=0.0, upper=1.0, key=jax.random.key(0))  # fmt: skip
    model = pde.dirichlet(net, pde.box_distance(0.0, 1.0), 0.0)
    x = pde.box(0.0, 1.0).grid(50)[1:-1]
    term = pl.Residual(_poisson, x)
    # the per-point Jacobian rows equal the Jacobian of the stacked residuals; no column for B
    y, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(y)
    assert flat.size == _n_params(net) == (8 * 8 + 8) + (16 + 1)
    problem = Problem(pl.Objective.of(term), static)
    J = eqx.filter_jit(lambda f: problem.jacobian(f, unravel, (x.shape[0],)))(flat)
    ref = jax.jacrev(lambda f: term.scaled_residuals(eqx.combine(unravel(f), static)))(flat)
    np.testing.assert_allclose(J, ref, rtol=1e-10, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = pl.least_squares(model, term, max_steps=60, throw=False)
    xt = jnp.linspace(0.0, 1.0, 301)
    exact = jnp.sin(2 * jnp.pi * xt) + 0.1 * jnp.sin(8 * jnp.pi * xt)
    err = float(jnp.max(jnp.abs(jax.vmap(sol.model)(xt) - exact)))
    assert err < 1e-3, err
    assert float(sol.model(0.0)) == 0.0 and float(sol.model(1.0)) == 0.0
    # the fixed parts are untouched by the solve
    assert eqx.tree_equal(sol.model.net.features, net.features) is True
