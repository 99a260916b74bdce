"""pl.hessian_matrix and pl.gauss_newton_matrix: against closed forms and finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose
from jax.flatten_util import ravel_pytree

import pinnloss as pl


class Linear(eqx.Module):
    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        return self.w @ x + self.b


class Cubic(eqx.Module):
    """Nonlinear in its parameters: f(x) = a * tanh(c x)."""

    a: jax.Array
    c: jax.Array

    def __call__(self, x):
        return self.a * jnp.tanh(self.c * x)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = rng.normal(size=20)
    return jnp.asarray(x), jnp.asarray(y)


def test_linear_mse_hessian_is_2xtx(data):
    x, y = data
    model = Linear(jnp.array([0.1, -0.2, 0.3]), jnp.asarray(0.5))
    h = pl.hessian_matrix(pl.DataMSE(x, y), model)
    design = np.column_stack([np.asarray(x), np.ones(len(y))])  # ravel order: w, then b
    assert h.shape == (4, 4)
    assert tree_allclose(h, 2.0 / len(y) * design.T @ design)
    # the Gauss-Newton matrix equals the Hessian for a model linear in its parameters
    assert tree_allclose(pl.gauss_newton_matrix(pl.DataMSE(x, y), model), h)


def test_weighted_objective_hessian_by_finite_differences(data):
    x, y = data
    model = Cubic(jnp.asarray(0.7), jnp.asarray(1.3))
    obj = pl.DataMSE(x[:, 0], y) + 3.0 * pl.Derivative(0.2, 1, 0.5)
    h = np.asarray(pl.hessian_matrix(obj, model))
    flat, unravel = ravel_pytree(model)
    grad = jax.grad(lambda p: obj(unravel(p)))
    eps = 1e-6
    fd = np.stack(
        [(grad(flat + eps * e) - grad(flat - eps * e)) / (2 * eps) for e in jnp.eye(flat.size)]
    )
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-14)


def test_gauss_newton_is_psd_part_of_an_indefinite_hessian(data):
    x, y = data
    model = Cubic(jnp.asarray(2.0), jnp.asarray(1.5))
    term = pl.DataMSE(x[:, 0], y)
    h = np.asarray(pl.hessian_matrix(term, model))
    g = np.asarray(pl.gauss_newton_matrix(term, model))
    # independent: 2/N sum_i grad f_i grad f_i^T from per-point gradients
    flat, unravel = ravel_pytree(model)
    jf = jax.vmap(lambda xi: jax.grad(lambda p: unravel(p)(xi))(flat))(x[:, 0])
    np.testing.assert_allclose(g, 2.0 / len(y) * jf.T @ jf, rtol=1e-10)
    assert np.linalg.eigvalsh(g).min() >= -1e-12
    assert not np.allclose(g, h)  # the residual-curvature term is not zero here


def test_under_jit_and_vmap(data):
    x, y = data
    models = Linear(jnp.zeros((4, 3)), jnp.arange(4.0))
    hs = jax.vmap(lambda m: pl.hessian_matrix(pl.DataMSE(x, y), m))(models)
    assert hs.shape == (4, 4, 4)
    # the MSE Hessian of a linear model does not depend on the parameters
    assert tree_allclose(hs[0], hs[3])


def test_errors(data):
    x, y = data
    model = Linear(jnp.zeros(3), jnp.asarray(0.0))
    with pytest.raises(ValueError, match="gauss_newton_matrix.*data_mae.*hessian_matrix"):
        pl.gauss_newton_matrix(pl.DataLoss(x, y, loss=pl.losses.mae), model)
    with pytest.raises(ValueError, match="hessian_matrix: objective must be a pinnloss term"):
        pl.hessian_matrix(lambda m: 0.0, model)
    with pytest.raises(ValueError, match="no trainable"):
        pl.hessian_matrix(pl.DataMSE(x, y), lambda v: jnp.sum(v))
