"""pl.GaussNewton: Gauss–Newton with a grid line search (the energy natural gradient of a
least-squares loss), tested on problems with known answers."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import Poly

import pinnloss as pl


class Exp(eqx.Module):
    p: jax.Array

    def __call__(self, x):
        return self.p[0] * jnp.exp(-self.p[1] * x) + self.p[2]


def test_a_linear_least_squares_problem_is_solved_in_one_step():
    x = jnp.linspace(-2.0, 2.0, 30)
    y = jnp.cos(x) + 0.1 * x**3
    res = pl.solve(Poly(jnp.zeros(4)), pl.DataMSE(x, y), pl.GaussNewton(), max_steps=20)
    A = np.stack([np.ones(30), x, x**2, np.sin(x)], 1)
    ref = np.linalg.lstsq(A, np.asarray(y), rcond=None)[0]
    np.testing.assert_allclose(res.model.c, ref, rtol=1e-9)
    # the first full step lands on the solution; what follows only polishes rounding
    np.testing.assert_allclose(res.history["total"][1], res.loss, rtol=1e-10)
    assert int(res.steps) <= 3 and bool(res.converged)


def test_matches_scipy_on_a_nonlinear_fit():
    from scipy.optimize import least_squares as scipy_lsq

    x = jnp.linspace(0, 4, 40)
    y = 2.0 * jnp.exp(-1.3 * x) + 0.5 + 0.01 * jnp.cos(9 * x)
    res = pl.solve(
        Exp(jnp.array([1.0, 1.0, 0.0])), pl.DataMSE(x, y), pl.GaussNewton(), max_steps=100
    )
    ref = scipy_lsq(
        lambda p: p[0] * np.exp(-p[1] * x) + p[2] - y, [1.0, 1.0, 0.0], xtol=1e-15, ftol=1e-15
    )
    np.testing.assert_allclose(res.model.p, ref.x, rtol=1e-8)
    # the line search never accepts an increase
    h = np.asarray(res.history["total"][: int(res.steps)])
    assert np.all(np.diff(h) <= 0)


def test_solves_a_small_poisson_pinn():
    class Hard(eqx.Module):
        net: eqx.nn.MLP

        def __call__(self, p):
            return p[0] * (1 - p[0]) * p[1] * (1 - p[1]) * self.net(p)

    def poisson(model, p):
        lap = jnp.trace(jax.hessian(model)(p))
        return lap + 2 * jnp.pi**2 * jnp.sin(jnp.pi * p[0]) * jnp.sin(jnp.pi * p[1])

    pts = jax.random.uniform(jax.random.key(2), (80, 2))
    model = Hard(eqx.nn.MLP(2, "scalar", 8, 1, activation=jnp.tanh, key=jax.random.key(3)))
    res = pl.solve(model, pl.Residual(poisson, pts), pl.GaussNewton(), max_steps=60)
    grid = jax.random.uniform(jax.random.key(4), (200, 2))
    exact = jnp.sin(jnp.pi * grid[:, 0]) * jnp.sin(jnp.pi * grid[:, 1])
    err = jnp.linalg.norm(jax.vmap(res.model)(grid) - exact) / jnp.linalg.norm(exact)
    assert float(err) < 2e-2, float(err)


def test_under_vmap_and_bad_settings():
    x = jnp.linspace(-1.0, 1.0, 12)

    def one(scale):
        return pl.solve(
            Poly(jnp.zeros(4)), pl.DataMSE(x, scale * jnp.sin(x)), pl.GaussNewton(), max_steps=10
        ).model.c

    cs = jax.vmap(one)(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(cs[1], 2 * cs[0], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="line_search_steps"):
        pl.GaussNewton(line_search_steps=0)
