"""Langevin sampling and per-sample losses / gradients (pinnloss/extras/_samples.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pinnloss as pl


@pytest.fixture
def mlp(key):
    return eqx.nn.MLP(2, 3, 8, 2, activation=jnp.tanh, key=key)


@pytest.fixture
def data(key):
    kx, ky = jax.random.split(jax.random.key(1))
    return jax.random.normal(kx, (17, 2)), jax.random.normal(ky, (17, 3))


# --------------------------------------------------------------------------- per-sample


@pytest.mark.parametrize("loss", [pl.losses.mse, pl.losses.mae, pl.losses.huber])
def test_per_sample_losses_match_loop_and_mean(mlp, data, loss):
    x, y = data
    got = pl.per_sample_losses(loss, mlp, x, y)
    want = np.array([float(loss(mlp(x[i]), y[i])) for i in range(len(x))])
    assert got.shape == (17,)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # mean-type losses: the mean of the per-sample losses is the full loss
    full = loss(jax.vmap(mlp)(x), y)
    np.testing.assert_allclose(got.mean(), full, rtol=1e-12)


def test_per_sample_losses_mse_equals_datamse(mlp, data):
    x, y = data
    got = pl.per_sample_losses(pl.losses.mse, mlp, x, y).mean()
    np.testing.assert_allclose(got, pl.DataMSE(x, y)(mlp), rtol=1e-12)


def test_per_sample_grads_mean_is_full_gradient(mlp, data):
    x, y = data
    grads = pl.per_sample_grads(pl.losses.mse, mlp, x, y)
    mean = jax.tree_util.tree_map(lambda g: g.mean(axis=0), grads)
    full = eqx.filter_grad(lambda m: pl.DataMSE(x, y)(m))(mlp)
    assert tree_allclose(mean, full)
    # every leaf has a leading axis of N
    for g, p in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(full)):
        assert g.shape == (17, *p.shape)


def test_per_sample_grads_match_single_sample_grad(mlp, data):
    x, y = data
    losses, grads = pl.per_sample_grads(pl.losses.huber, mlp, x, y, return_losses=True)
    for i in (0, 5, 16):
        gi = eqx.filter_grad(lambda m, i=i: pl.losses.huber(m(x[i]), y[i]))(mlp)
        assert tree_allclose(jax.tree_util.tree_map(lambda g, i=i: g[i], grads), gi)
        np.testing.assert_allclose(losses[i], pl.losses.huber(mlp(x[i]), y[i]), rtol=1e-12)


def test_per_sample_grads_finite_difference():
    # linear model f(x) = w x + b, scalar MSE: d/dw (w x_i + b - y_i)^2 = 2 r_i x_i
    class Line(eqx.Module):
        w: jax.Array
        b: jax.Array

        def __call__(self, x):
            return self.w * x + self.b

    m = Line(jnp.asarray(0.7), jnp.asarray(-0.2))
    x = jnp.linspace(-1.0, 2.0, 9)
    y = jnp.cos(x)
    g = pl.per_sample_grads(pl.losses.mse, m, x, y)
    h = 1e-6
    for i in range(9):
        lp = pl.losses.mse(Line(m.w + h, m.b)(x[i]), y[i])
        lm = pl.losses.mse(Line(m.w - h, m.b)(x[i]), y[i])
        np.testing.assert_allclose(g.w[i], (lp - lm) / (2 * h), rtol=1e-7, atol=1e-9)
    r = m(x) - y
    np.testing.assert_allclose(g.b, 2 * r, rtol=1e-12)
    norms = pl.per_sample_grad_norms(pl.losses.mse, m, x, y)
    np.testing.assert_allclose(norms, 2 * jnp.abs(r) * jnp.sqrt(1 + x**2), rtol=1e-12)


def test_per_sample_grad_norms_find_outlier(mlp, data):
    x, y = data
    y = y.at[7].add(50.0)
    norms = pl.per_sample_grad_norms(pl.losses.mse, mlp, x, y)
    assert norms.shape == (17,)
    assert int(norms.argmax()) == 7


def test_per_sample_under_jit_and_static_fields_skipped(mlp, data):
    x, y = data
    eager = pl.per_sample_losses(pl.losses.mse, mlp, x, y)
    jitted = eqx.filter_jit(pl.per_sample_losses)(pl.losses.mse, mlp, x, y)
    np.testing.assert_allclose(eager, jitted, rtol=1e-12)
    grads = pl.per_sample_grads(pl.losses.mse, mlp, x, y)
    # activation functions and sizes are not parameters: no gradient leaf for them
    assert grads.activation is None


def test_per_sample_errors(mlp, data):
    x, y = data
    with pytest.raises(ValueError, match="per_sample_losses.*leading axis"):
        pl.per_sample_losses(pl.losses.mse, mlp, x, y[:5])
    with pytest.raises(ValueError, match="per_sample_grads.*shape"):
        pl.per_sample_grads(pl.losses.mse, mlp, x, y[:, :2])
    with pytest.raises(ValueError, match="per_sample_losses: loss_fn must be callable"):
        pl.per_sample_losses("mse", mlp, x, y)
    with pytest.raises(ValueError, match="per_sample_losses.*scalar"):
        pl.per_sample_losses(lambda p, t: p - t, mlp, x, y)
    with pytest.raises(ValueError, match="per_sample_grad_norms.*NaN"):
        pl.per_sample_grad_norms(pl.losses.mse, mlp, x.at[0, 0].set(jnp.nan), y)


# --------------------------------------------------------------------------- Langevin


def test_langevin_quadratic_energy_gaussian():
    mu = jnp.array([1.0, -2.0])
    a = jnp.array([1.0, 4.0])  # curvatures: variances T/a
    energy = lambda x: 0.5 * jnp.sum(a * (x - mu) ** 2)
    x0 = jnp.zeros((4000, 2))
    eps, temp = 0.01, 0.5
    x = pl.langevin_sample(
        energy, x0, key=jax.random.key(3), step_size=eps, n_steps=1500, temperature=temp
    )
    assert x.shape == x0.shape
    mean, var = np.asarray(x.mean(0)), np.asarray(x.var(0))
    # exact stationary variance of the discretised chain: T / (a (1 - eps a / 2))
    exact = temp / (a * (1 - eps * a / 2))
    se_mean = np.sqrt(exact / 4000)
    assert np.all(np.abs(mean - np.asarray(mu)) < 5 * se_mean), (mean, se_mean)
    np.testing.assert_allclose(var, exact, rtol=0.08)
    # and close to the continuous answer T / a
    np.testing.assert_allclose(var, temp / a, rtol=0.1)


def test_langevin_deterministic_limit_is_gradient_descent():
    # with T -> 0 a step is x - eps * grad E(x)
    energy = lambda x: 0.5 * jnp.sum(x**2)
    x0 = jnp.ones((3, 2))
    x = pl.langevin_sample(
        energy, x0, key=jax.random.key(0), step_size=0.1, n_steps=10, temperature=1e-300
    )
    np.testing.assert_allclose(x, 0.9**10 * x0, rtol=1e-12)


def test_langevin_snapshots_and_module_energy(key):
    class Quad(eqx.Module):
        centre: jax.Array

        def __call__(self, x):
            return 0.5 * jnp.sum((x - self.centre) ** 2)

    x0 = jnp.zeros((500, 1))
    x, traj = pl.langevin_sample(
        Quad(jnp.array([3.0])), x0, key=key, step_size=0.05, n_steps=200, n_saved=4
    )
    assert traj.shape == (4, 500, 1)
    np.testing.assert_allclose(traj[-1], x)
    means = np.asarray(traj.mean(axis=(1, 2)))
    assert np.all(np.diff(means) > -0.05)  # the chains drift toward the centre
    assert abs(means[-1] - 3.0) < 0.2
    # same chain without snapshots: same key, same path
    x2 = pl.langevin_sample(Quad(jnp.array([3.0])), x0, key=key, step_size=0.05, n_steps=200)
    np.testing.assert_allclose(x2, x, rtol=1e-12)


def test_langevin_no_recompile_for_new_energy_values(key):
    class Quad(eqx.Module):
        centre: jax.Array

        def __call__(self, x):
            return 0.5 * jnp.sum((x - self.centre) ** 2)

    from pinnloss.extras import _samples

    x0 = jnp.zeros((8, 2))
    pl.langevin_sample(Quad(jnp.zeros(2)), x0, key=key, step_size=0.1, n_steps=7)
    before = _samples._langevin._cached._cache_size()
    for c in (1.0, 2.0, 3.0):
        pl.langevin_sample(
            Quad(c * jnp.ones(2)), x0, key=key, step_size=0.1 * c, n_steps=7, temperature=c
        )
    assert _samples._langevin._cached._cache_size() == before


def test_langevin_errors(key):
    energy = lambda x: jnp.sum(x**2)
    x0 = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="langevin_sample: step_size must be positive"):
        pl.langevin_sample(energy, x0, key=key, step_size=0.0, n_steps=5)
    with pytest.raises(ValueError, match="langevin_sample: n_steps"):
        pl.langevin_sample(energy, x0, key=key, step_size=0.1, n_steps=0)
    with pytest.raises(ValueError, match="langevin_sample: temperature"):
        pl.langevin_sample(energy, x0, key=key, step_size=0.1, n_steps=5, temperature=-1.0)
    with pytest.raises(ValueError, match="langevin_sample: energy_fn must return a scalar"):
        pl.langevin_sample(lambda x: x**2, x0, key=key, step_size=0.1, n_steps=5)
    with pytest.raises(ValueError, match="langevin_sample: x0 must be floating"):
        pl.langevin_sample(energy, jnp.zeros((4, 2), int), key=key, step_size=0.1, n_steps=5)
    with pytest.raises(ValueError, match="langevin_sample: x0 contains"):
        pl.langevin_sample(energy, x0.at[1, 1].set(jnp.inf), key=key, step_size=0.1, n_steps=5)
    with pytest.raises(ValueError, match="langevin_sample: key must be one JAX PRNG key"):
        pl.langevin_sample(energy, x0, key=0, step_size=0.1, n_steps=5)
    with pytest.raises(ValueError, match="multiple of n_saved"):
        pl.langevin_sample(energy, x0, key=key, step_size=0.1, n_steps=5, n_saved=2)


def test_langevin_divergence_is_an_error_not_nan(key):
    # a step far beyond 2 / curvature makes the chain blow up: refused, never NaN samples
    energy = lambda x: 0.5 * 100.0 * jnp.sum(x**2)
    with pytest.raises(Exception, match="langevin_sample: the chains became non-finite"):
        pl.langevin_sample(energy, jnp.ones((4, 2)), key=key, step_size=1.0, n_steps=400)
