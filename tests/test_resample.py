"""Terms over a domain (issue 16 §2-3): resampling between chunks without recompiling, the
held-out residual in history and stats, pl.OverfitWarning, and loss balancing between
chunks of second-order solves (an update hook; CausalResidual as a sum of squares)."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import trace_count

import pinnloss as pl
from pinnloss import balancing as bal

BOX = pl.pde.box(0.0, 1.0)


def poisson(model, x):
    """u'' = -pi^2 sin(pi x): u = sin(pi x) with u(0) = u(1) = 0."""
    return jax.grad(jax.grad(model))(x) + jnp.pi**2 * jnp.sin(jnp.pi * x)


def net(width, depth=2, seed=0):
    return eqx.nn.MLP(
        "scalar", "scalar", width, depth, activation=jnp.tanh, key=jax.random.key(seed)
    )


def objective(n, seed=0):
    bc = pl.DataMSE(jnp.array([0.0, 1.0]), jnp.zeros(2), name="bc")
    return pl.Residual(poisson, BOX, n=n, key=jax.random.key(seed)) + 10.0 * bc


class Zero(eqx.Module):
    w: jax.Array

    def __call__(self, x):
        return self.w * x


def test_residual_over_a_domain_draws_points_and_keeps_arrays_working():
    term = pl.Residual(lambda m, x: m(x) - x, BOX, n=32)
    assert term.points.shape == (32,) and term.resamplable
    assert np.all((term.points >= 0) & (term.points <= 1))
    fixed = pl.Residual(lambda m, x: m(x) - x, term.points)
    assert not fixed.resamplable and fixed.heldout(Zero(jnp.array(1.0)), jax.random.key(0)) is None
    model = Zero(jnp.array(0.5))
    np.testing.assert_allclose(term(model), fixed(model), rtol=1e-14)
    with pytest.raises(ValueError, match="n="):
        pl.Residual(poisson, BOX)
    with pytest.raises(ValueError, match="n= is for a domain"):
        pl.Residual(poisson, jnp.linspace(0, 1, 5), n=5)


def test_resample_uniform_and_rad_keep_shape_and_rad_follows_the_residual():
    # residual r(x) = x^4: RAD should put its points where x is large
    term = pl.Residual(lambda m, x: m.w * x**4, BOX, n=400)
    model = Zero(jnp.array(1.0))
    uni = term.resample(jax.random.key(1), model, "uniform")
    rad = term.resample(jax.random.key(1), model, "rad")
    for t in (uni, rad):
        assert t.points.shape == term.points.shape and t.points.dtype == term.points.dtype
        assert np.all((t.points >= 0) & (t.points <= 1))
        assert not np.allclose(t.points, term.points)
    # density ∝ x^4 / mean(x^4) + 1 = 5x^4 + 1 has mean (5/6 + 1/2) / 2 = 2/3 (uniform: 1/2)
    assert abs(float(jnp.mean(uni.points)) - 0.5) < 0.05
    assert abs(float(jnp.mean(rad.points)) - 2 / 3) < 0.05
    with pytest.raises(ValueError, match="'uniform' or 'rad'"):
        term.resample(jax.random.key(1), model, "sobol")


def test_heldout_is_the_mean_squared_residual_at_fresh_points():
    # r(x) = x on [0, 1]: E[r^2] = 1/3 (an independent, exact value)
    term = pl.Residual(lambda m, x: m(x), BOX, n=4000)
    h = term.heldout(Zero(jnp.array(1.0)), jax.random.key(3))
    np.testing.assert_allclose(float(h), 1 / 3, rtol=0.05)


def test_resampling_between_chunks_changes_the_points_without_recompiling():
    seen = []

    def spy(step, model, obj):
        seen.append((step, np.asarray(obj.terms[0].points)))
        return obj

    obj = objective(40)
    kw = dict(max_steps=6, tol=0.0, resample="uniform", resample_every=2, update=spy)
    pl.least_squares(net(4), obj, **kw)  # compiles
    before, seen[:] = trace_count(), []
    sol = pl.least_squares(net(4), obj, **kw)
    assert trace_count() == before  # new points of the same shape: the same compiled loop
    assert [s for s, _ in seen] == [2, 4]
    first = np.asarray(obj.terms[0].points)
    assert not np.allclose(seen[0][1], first) and not np.allclose(seen[1][1], seen[0][1])
    h = np.asarray(sol.history["heldout/residual"])
    assert h.shape == (int(sol.steps),)
    assert np.all(np.isfinite(h[[0, 2, 4]])) and np.all(np.isnan(h[[1, 3, 5]]))
    assert np.isfinite(float(sol.stats["heldout/residual"]))
    # GaussNewton and RAD through pl.solve
    gn = pl.solve(net(4), obj, pl.GaussNewton(), max_steps=4, resample="rad", resample_every=2)
    assert gn.history["total"].shape == (int(gn.steps),)
    # first order too: pl.fit resamples between its chunks
    fit = pl.fit(net(4), obj, optax.adam(1e-3), steps=10, resample="uniform", resample_every=5)
    assert fit.history["total"].shape == (10,) and "heldout/residual" in fit.history
    with pytest.raises(ValueError, match="needs a term over a domain"):
        pl.least_squares(net(4), pl.Residual(poisson, obj.terms[0].points), resample="rad")


def test_overfit_warning_on_a_tiny_point_set_not_on_a_well_posed_problem():
    # 8 points and ~300 parameters: the loss goes to ~0 at the points only
    with pytest.warns(pl.OverfitWarning, match="more points .* resample"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pl.UnderdeterminedWarning)  # it says so too
            bad = pl.least_squares(net(16), objective(8), max_steps=60)
    train = float(bad.history["residual"][-1])
    assert float(bad.stats["heldout/residual"]) > 100 * train
    # 128 points and ~100 parameters: held-out close to the training residual
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.OverfitWarning)
        good = pl.least_squares(net(8), objective(128), max_steps=100)
    x = jnp.linspace(0.0, 1.0, 101)
    err = jnp.max(jnp.abs(jax.vmap(good.model)(x) - jnp.sin(jnp.pi * x)))
    assert float(err) < 1e-3


def test_balancing_hook_changes_weights_without_recompiling():
    weights = []

    def ntk(step, model, obj):
        new = bal.reweight(obj, bal.ntk_weights(obj, model))
        weights.append(np.asarray(new.weights))
        return new

    obj = objective(40)
    kw = dict(max_steps=6, tol=0.0, chunk_size=2, update=ntk)
    pl.least_squares(net(4), obj, **kw)
    before, weights[:] = trace_count(), []
    sol = pl.least_squares(net(4), obj, **kw)
    assert trace_count() == before
    assert len(weights) == 2 and not np.allclose(weights[0], np.asarray(obj.weights))
    assert np.isfinite(float(sol.loss))
    with pytest.raises(ValueError, match="same terms and array shapes"):
        pl.least_squares(net(4), obj, max_steps=4, chunk_size=2, update=lambda s, m, o: o.terms[0])


def test_causal_residual_is_a_sum_of_squares_for_least_squares():
    # u' = -u on [0, 1], u(0) = 1: u = exp(-t)
    ts = jnp.linspace(0.0, 1.0, 32)
    ode = pl.Residual(lambda m, t: jax.grad(m)(t) + m(t), ts, name="ode")
    causal = bal.CausalResidual(ode, num_slabs=4, epsilon=1.0)
    model = net(8)
    s = causal.scaled_residuals(model)
    np.testing.assert_allclose(jnp.sum(s**2), causal.value(model), rtol=1e-12)
    obj = causal + 10.0 * pl.DataMSE(jnp.zeros(1), jnp.ones(1), name="ic")
    sol = pl.least_squares(model, obj, max_steps=100)
    err = jnp.max(jnp.abs(jax.vmap(sol.model)(ts) - jnp.exp(-ts)))
    assert float(err) < 1e-3
