"""Dense Jacobians assembled term by term: per-point rows for pointwise terms, jacrev or
jacfwd otherwise — always equal to `jax.jacrev` of the stacked residual vector."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import pinnloss as pl
from pinnloss._solvers._base import Problem


def poisson(model, p):
    lap = jnp.trace(jax.hessian(lambda q: model(q))(p))
    return -lap - 2 * jnp.pi**2 * jnp.sin(jnp.pi * p[0]) * jnp.sin(jnp.pi * p[1])


def two_outputs(model, p):
    return jnp.stack([model(p), jax.grad(model)(p)[0]])


MODEL = eqx.nn.MLP(2, "scalar", 8, 2, activation=jnp.tanh, key=jax.random.key(0))
PTS = jax.random.uniform(jax.random.key(1), (12, 2))
Y = jnp.sin(PTS[:, 0])
COV = 0.1 * jnp.eye(12) + 0.05 * jnp.ones((12, 12))

TERMS = {
    "residual": pl.Residual(poisson, PTS),
    "vector residual": pl.Residual(two_outputs, PTS),
    "data": pl.DataMSE(PTS, Y),
    "weighted data": pl.DataMSE(PTS, Y, weights=jnp.linspace(0.0, 2.0, 12)),
    "whitened data (not pointwise)": pl.DataMSE(PTS, Y, cov=COV),
    "derivative (not pointwise)": pl.Derivative(jnp.array([0.3, 0.4]), 1, jnp.zeros(2)),
    "mixture": 3.0 * pl.Residual(poisson, PTS) + pl.DataMSE(PTS, Y) + pl.UnitNorm(PTS),
}


@pytest.mark.parametrize("name", list(TERMS))
def test_assembled_jacobian_equals_jacrev_of_the_stacked_residuals(name):
    objective = pl.Objective.of(TERMS[name])
    params, static = eqx.partition(MODEL, eqx.is_inexact_array)
    x, unravel = ravel_pytree(params)
    problem = Problem(objective, static)
    sizes = problem.sizes(params)
    J = problem.jacobian(x, unravel, sizes)
    ref = jax.jacrev(lambda z: problem.residuals(unravel(z)))(x)
    assert J.shape == ref.shape == (sum(sizes), x.size)
    np.testing.assert_allclose(J, ref, rtol=1e-12, atol=1e-14)


def test_pointwise_residuals_reproduce_the_scaled_residuals():
    for name in ("residual", "vector residual", "data", "weighted data"):
        term = TERMS[name]
        fn, points = term.pointwise()
        rows = jax.vmap(fn, in_axes=(None, 0))(MODEL, points)
        np.testing.assert_allclose(jnp.ravel(rows), term.scaled_residuals(MODEL), rtol=1e-13)
    assert TERMS["whitened data (not pointwise)"].pointwise() is None


def test_least_squares_on_a_pde_uses_it_and_solves():
    """A small 2-D Poisson problem with a hard-wired zero boundary: LM with the per-point
    Jacobian reaches a small error against the exact solution sin(πx) sin(πy)."""

    class Hard(eqx.Module):
        net: eqx.nn.MLP

        def __call__(self, p):
            return p[0] * (1 - p[0]) * p[1] * (1 - p[1]) * self.net(p)

    pts = jax.random.uniform(jax.random.key(2), (80, 2))
    model = Hard(eqx.nn.MLP(2, "scalar", 8, 1, activation=jnp.tanh, key=jax.random.key(3)))
    res = pl.least_squares(model, pl.Residual(poisson, pts), max_steps=100)
    grid = jax.random.uniform(jax.random.key(4), (200, 2))
    exact = jnp.sin(jnp.pi * grid[:, 0]) * jnp.sin(jnp.pi * grid[:, 1])
    err = jnp.linalg.norm(jax.vmap(res.model)(grid) - exact) / jnp.linalg.norm(exact)
    assert float(err) < 2e-2, float(err)
    assert float(res.loss) < 1e-4 * float(res.initial_loss)


def test_warns_when_a_pde_objective_has_fewer_residuals_than_parameters():
    few = pl.Residual(poisson, PTS[:5])  # 5 residuals, 105 parameters
    with pytest.warns(pl.UnderdeterminedWarning, match="5 residuals but the model 105"):
        pl.least_squares(MODEL, few, max_steps=1)
    with pytest.warns(pl.UnderdeterminedWarning):
        pl.fit(MODEL, few, optax.adam(1e-3), steps=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.UnderdeterminedWarning)
        many = pl.Residual(poisson, jax.random.uniform(jax.random.key(5), (200, 2)))
        pl.least_squares(MODEL, many, max_steps=1)
        pl.least_squares(MODEL, pl.DataMSE(PTS[:5], Y[:5]), max_steps=1)  # not a PDE
