"""A budget is not a failure (issue 17 §1): max_steps and time_limit end a solve with a
result code and the last iterate, eagerly, under jit, vmap and pl.sweep; the history holds
only the steps that ran."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pinnloss as pl

X = jnp.linspace(-1.0, 1.0, 24)
Y = jnp.sin(2.0 * X)
OBJ = pl.DataMSE(X, Y) + 1e-2 * pl.Derivative(0.0, 1, 2.0, name="slope")
ADAM = optax.adam(1e-3)


def mlp(seed=0):
    return eqx.nn.MLP("scalar", "scalar", 8, 2, activation=jnp.tanh, key=jax.random.key(seed))


def test_max_steps_returns_the_last_iterate_without_raising():
    res = pl.least_squares(mlp(), OBJ, max_steps=3)  # throw=True is the default
    assert res.result == pl.RESULTS.max_steps_reached
    assert not bool(res.converged) and int(res.steps) == 3
    # the iterate is the one three steps in: the same as three steps of a longer run
    longer = pl.least_squares(mlp(), OBJ, max_steps=6, tol=0.0)
    np.testing.assert_allclose(res.history["total"], longer.history["total"][:3], rtol=1e-10)
    assert float(res.loss) < float(res.history["total"][0])
    # the message names the budget and no longer tells a user to pass throw=False
    assert "max_steps" in res.reason and "throw=False" not in res.reason
    assert pl.RESULTS[res.result] == res.reason


def test_max_steps_under_jit_vmap_and_sweep_is_not_an_error():
    one = lambda m: pl.least_squares(m, OBJ, max_steps=3)
    jitted = eqx.filter_jit(one)(mlp())
    assert jitted.result == pl.RESULTS.max_steps_reached
    eager = one(mlp())
    np.testing.assert_allclose(jitted.loss, eager.loss, rtol=1e-10)
    # traced: the history keeps its static length max_steps
    assert jitted.history["total"].shape == (3,)

    models = eqx.filter_vmap(mlp)(jnp.arange(2))
    batched = eqx.filter_vmap(one)(models)
    assert batched.code.shape == (2,)
    assert np.all(np.asarray(batched.code) == int(pl.RESULTS.max_steps_reached._value))

    swept = pl.sweep(lambda k: pl.least_squares(mlp(k), OBJ, max_steps=3).loss, jnp.arange(2))
    assert swept.shape == (2,) and np.all(np.isfinite(swept))


def test_a_failure_still_raises_with_throw_true():
    class Blow(eqx.Module):
        a: jax.Array

        def __call__(self, x):
            return jnp.log(self.a) * x

    obj = pl.DataMSE(X, -10.0 * X)
    with pytest.raises(pl.NonFiniteLossError):
        pl.fit(Blow(jnp.array(0.5)), obj, optax.sgd(0.003), steps=12, progress=False)


def test_time_limit_stops_a_long_run_early():
    limit = 1.0
    res = pl.fit(mlp(), OBJ, ADAM, steps=10**9, time_limit=limit, progress=False)
    assert res.result == pl.RESULTS.time_limit_reached
    assert not bool(res.converged) and "time limit" in res.reason
    steps = int(res.steps)
    assert 0 < steps < 10**9
    assert float(res.stats["seconds"]) >= limit  # it ran until the limit, compilation counted
    # the history holds exactly the steps that ran, and they are finite
    assert res.history["total"].shape == (steps,)
    assert np.all(np.isfinite(res.history["total"]))
    # a time limit also ends a converging solver, with its own code
    lsq = pl.least_squares(mlp(), OBJ, max_steps=10**9, tol=0.0, time_limit=limit)
    assert lsq.result == pl.RESULTS.time_limit_reached and int(lsq.steps) < 10**9
    # and the state goes on from where it stopped
    more = pl.least_squares(lsq.model, OBJ, max_steps=2, tol=0.0, state=lsq.state)
    assert more.result == pl.RESULTS.max_steps_reached and float(more.loss) <= float(lsq.loss)


def test_time_limit_is_refused_under_tracing_and_checked():
    f = eqx.filter_jit(lambda m: pl.least_squares(m, OBJ, max_steps=3, time_limit=10.0).loss)
    with pytest.raises(ValueError, match="time_limit=.*concrete inputs"):
        f(mlp())
    for bad in (0, -1.0, float("nan"), float("inf"), True, "10"):
        with pytest.raises(ValueError, match="time_limit must be a positive finite number"):
            pl.least_squares(mlp(), OBJ, max_steps=3, time_limit=bad)


def test_history_memory_grows_with_the_steps_run_not_the_budget():
    class Line(eqx.Module):
        a: jax.Array
        b: jax.Array

        def __call__(self, x):
            return self.a * x + self.b

    budget = 5_000_000
    obj = pl.DataMSE(X, 3.0 * X - 1.0) + pl.DataMSE(X, 3.0 * X - 1.0 + 1e-3 * Y, name="noisy")
    res = pl.least_squares(Line(jnp.array(0.0), jnp.array(0.0)), obj, max_steps=budget)
    steps = int(res.steps)
    assert bool(res.converged) and steps < 100
    nbytes = sum(np.asarray(h).nbytes for h in res.history.values())
    assert nbytes == len(res.history) * steps * 8  # float64, one entry per step run
    # before, each of the 3 entries held 5e6 floats (120 MB)
    assert nbytes < 1e-3 * len(res.history) * budget * 8
    # a long first-order fit runs its compiled loop in calls of bounded length
    from pinnloss._driver import _MAX_ROWS

    fit = pl.fit(mlp(), OBJ, ADAM, steps=_MAX_ROWS + 5, progress=False)
    assert fit.history["total"].shape == (_MAX_ROWS + 5,)
    assert np.all(np.isfinite(fit.history["total"]))
