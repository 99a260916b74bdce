"""pl.fit (Optax, compiled lax.scan) and pl.least_squares (Levenberg–Marquardt)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import trace_count

import pinnloss as pl
from pinnloss import losses as L


def mlp(key=0):
    return eqx.nn.MLP("scalar", "scalar", 16, 2, activation=jnp.tanh, key=jax.random.key(key))


X = jnp.linspace(-1.0, 1.0, 9)
Y = jnp.sin(2 * X)
OBJ = pl.DataMSE(X, Y) + 1e2 * pl.Derivative(0.0, 1, 2.0, name="slope")
ADAM = optax.adam(1e-2)


def test_fit_decreases_loss_and_records_history():
    model = mlp()
    res = pl.fit(model, OBJ, ADAM, steps=200, progress=False)
    h = res.history
    assert set(h) == {"data_mse", "slope", "total"}
    assert h["total"].shape == (200,)
    np.testing.assert_allclose(h["total"][0], OBJ(model), rtol=1e-12)
    np.testing.assert_allclose(h["total"], h["data_mse"] + 1e2 * h["slope"], rtol=1e-12)
    np.testing.assert_allclose(res.loss, OBJ(res.model), rtol=1e-12)
    assert res.loss < 1e-2 * h["total"][0]
    assert int(res.failed_step) == -1


def test_chunks_and_progress_do_not_change_the_result():
    model = mlp()
    a = pl.fit(model, OBJ, ADAM, steps=200, progress=False)
    b = pl.fit(model, OBJ, ADAM, steps=200, chunk_size=60, progress=True)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)
    np.testing.assert_allclose(a.history["total"], b.history["total"], rtol=1e-12)
    # continuing from the optimizer state equals one long run
    c1 = pl.fit(model, OBJ, ADAM, steps=100, progress=False)
    c2 = pl.fit(c1.model, OBJ, ADAM, steps=100, opt_state=c1.opt_state, progress=False)
    np.testing.assert_allclose(c2.loss, a.loss, rtol=1e-10)


def test_fit_matches_hand_written_adam_loop():
    model = mlp()
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = ADAM.init(params)
    f = lambda p: OBJ(eqx.combine(p, static))

    @jax.jit
    def step(params, state):
        g = jax.grad(f)(params)
        upd, state = ADAM.update(g, state, params)
        return eqx.apply_updates(params, upd), state

    for _ in range(200):
        params, state = step(params, state)
    res = pl.fit(model, OBJ, ADAM, steps=200, progress=False)
    np.testing.assert_allclose(res.loss, f(params), rtol=1e-10)


def test_new_weights_do_not_recompile_the_loop():
    model = mlp()
    pl.fit(model, OBJ, ADAM, steps=200, progress=False)
    before = trace_count()
    for w in (1.0, 7.0, 1e3):
        pl.fit(
            model,
            pl.DataMSE(X, Y) + w * pl.Derivative(0.0, 1, 2.0, name="slope"),
            ADAM,
            steps=200,
            progress=False,
        )
    assert trace_count() == before


def test_fit_under_vmap_over_weights_and_seeds():
    ws = jnp.array([0.0, 1.0, 100.0])
    keys = jax.random.split(jax.random.key(1), 3)

    def one(w, k):
        model = mlp_from_key(k)
        obj = pl.DataMSE(X, Y) + w * pl.Derivative(0.0, 1, 2.0, name="slope")
        return pl.fit(model, obj, ADAM, steps=200, progress=False).history["slope"][-1]

    slopes = jax.vmap(one)(ws, keys)
    single = one(ws[2], keys[2])
    np.testing.assert_allclose(slopes[2], single, rtol=1e-9)
    # the slope penalty is honoured more the larger its weight
    assert slopes[2] < slopes[0]


def mlp_from_key(k):
    return eqx.nn.MLP("scalar", "scalar", 16, 2, activation=jnp.tanh, key=k)


def test_lbfgs_works():
    res = pl.fit(mlp(), OBJ, optax.lbfgs(), steps=100, progress=False)
    adam = pl.fit(mlp(), OBJ, ADAM, steps=100, progress=False)
    assert res.loss < adam.loss


class Blow(eqx.Module):
    a: jax.Array

    def __call__(self, x):
        return jnp.log(self.a) * x  # log of a negative number once a crosses 0


SGD = optax.sgd(0.003)


def _manual_sgd(a, obj, n):
    """Plain SGD by hand: the parameters after n steps."""
    model = Blow(jnp.asarray(a))
    for _ in range(n):
        g = jax.grad(lambda m: obj(m))(model)
        model = Blow(model.a - 0.003 * g.a)
    return model


@pytest.mark.parametrize("chunk_size", [None, 1, 3, 7])
def test_non_finite_loss_stops_with_step_and_term_and_keeps_last_finite_model(chunk_size):
    model = Blow(jnp.array(0.5))
    obj = pl.DataMSE(X, -10.0 * X, name="fit_me")
    match = r"step \d+ \(term 'fit_me' is non-finite\)"
    with pytest.raises(pl.NonFiniteLossError, match=match) as e:
        pl.fit(model, obj, SGD, steps=12, chunk_size=chunk_size, progress=chunk_size is not None)
    err = e.value
    assert err.term == "fit_me" and err.step > 0
    # the model on the error is exactly the one before the failing step
    last = _manual_sgd(0.5, obj, err.step - 1)
    np.testing.assert_allclose(err.model.a, last.a, rtol=1e-12)
    assert np.isfinite(obj(err.model)) and float(err.model.a) > 0
    assert not np.isfinite(obj(_manual_sgd(0.5, obj, err.step)))
    res = pl.fit(model, obj, SGD, steps=12, chunk_size=chunk_size, throw=False)
    assert int(res.failed_step) == err.step
    assert np.isfinite(res.loss)
    np.testing.assert_allclose(res.model.a, err.model.a, rtol=1e-12)
    # the history ends with the steps that ran: finite up to the failing step
    h = np.asarray(res.history["total"])
    assert h.shape == (int(res.steps),) and int(res.steps) <= err.step + 1
    assert np.all(np.isfinite(h[: err.step]))


def test_non_finite_loss_under_vmap_keeps_last_finite_model():
    obj = pl.DataMSE(X, -10.0 * X, name="fit_me")
    a0 = jnp.array([0.5, 2.0])
    res = jax.vmap(lambda a: pl.fit(Blow(a), obj, SGD, steps=12, progress=False, throw=False))(a0)
    j = int(res.failed_step[0])
    assert j > 0
    np.testing.assert_allclose(res.model.a[0], _manual_sgd(0.5, obj, j - 1).a, rtol=1e-12)
    assert np.all(np.isfinite(res.loss))


def test_non_finite_initial_model():
    obj = pl.DataMSE(X, X, name="fit_me")
    with pytest.raises(pl.NonFiniteLossError, match="step 0.*initial model"):
        pl.fit(Blow(jnp.array(-1.0)), obj, SGD, steps=12, progress=False)


def test_fit_bad_arguments():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        pl.fit(mlp(), OBJ, ADAM, steps=0)
    with pytest.raises(ValueError, match="optimizer must be an optax"):
        pl.fit(mlp(), OBJ, 1e-3, steps=10)


# --- least squares -------------------------------------------------------------------------


def test_least_squares_beats_adam_on_physics_informed_problem():
    model = mlp()
    obj = OBJ + pl.Derivative(0.0, 2, 0.0, name="curvature")
    adam = pl.fit(model, obj, ADAM, steps=1000, progress=False)
    lm = pl.least_squares(model, obj, max_steps=100)
    assert lm.loss < 1e-12
    assert lm.loss < 1e-6 * adam.loss
    np.testing.assert_allclose(lm.loss, obj(lm.model), rtol=1e-6, atol=1e-20)
    assert bool(lm.converged)
    assert isinstance(lm.reason, str)


def test_least_squares_weighted_residual_stacking():
    """Each term contributes sqrt(w/n) r: LM on w*A + B reaches the weighted optimum."""

    class Line(eqx.Module):
        p: jax.Array

        def __call__(self, x):
            return self.p[0] + self.p[1] * x

    x = jnp.linspace(0.0, 1.0, 20)
    y = 1.0 + 2.0 * x + 0.1 * jnp.sin(17 * x)
    w = jnp.linspace(0.5, 2.0, 20)
    obj = 3.0 * pl.DataMSE(x, y, weights=w) + pl.Derivative(0.0, 1, 1.5)
    res = pl.least_squares(Line(jnp.zeros(2)), obj)
    # closed form: minimise 3 sum(w r^2)/sum(w) + (b - 1.5)^2 -> weighted normal equations
    W = 3.0 * np.asarray(w) / np.sum(np.asarray(w))
    A = np.stack([np.ones(20), np.asarray(x)], 1)
    M = A.T @ (W[:, None] * A) + np.diag([0.0, 1.0])
    rhs = A.T @ (W * np.asarray(y)) + np.array([0.0, 1.5])
    np.testing.assert_allclose(res.model.p, np.linalg.solve(M, rhs), rtol=1e-9)


def test_least_squares_primal_and_dual_agree():
    model = mlp()
    obj = pl.DataMSE(X, Y)
    dual = pl.least_squares(model, obj, method="dual", max_steps=30)
    primal = pl.least_squares(model, obj, method="primal", max_steps=30)
    assert dual.loss < 1e-10 and primal.loss < 1e-10


def test_least_squares_matches_scipy_on_overdetermined_problem():
    from scipy.optimize import least_squares as scipy_lsq

    class Exp(eqx.Module):
        p: jax.Array

        def __call__(self, x):
            return self.p[0] * jnp.exp(-self.p[1] * x) + self.p[2]

    x = jnp.linspace(0, 4, 40)
    y = 2.0 * jnp.exp(-1.3 * x) + 0.5 + 0.01 * jnp.cos(9 * x)
    res = pl.least_squares(Exp(jnp.array([1.0, 1.0, 0.0])), pl.DataMSE(x, y))
    ref = scipy_lsq(
        lambda p: p[0] * np.exp(-p[1] * x) + p[2] - y,
        [1.0, 1.0, 0.0],
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
    )
    np.testing.assert_allclose(res.model.p, ref.x, rtol=1e-8)


def test_least_squares_refuses_non_square_terms():
    obj = pl.DataMSE(X, Y) + pl.DataLoss(X, Y, loss=L.mae)
    with pytest.raises(ValueError, match=r"least_squares: term\(s\) \['data_mae'\].*pl.fit"):
        pl.least_squares(mlp(), obj)


def test_least_squares_non_finite_start():
    obj = pl.Residual(lambda m, x: jnp.log(m(x) - 100.0), X, name="bad_log")
    with pytest.raises(ValueError, match=r"initial loss is not finite.*bad_log"):
        pl.least_squares(mlp(), obj)


def test_least_squares_under_vmap():
    targets = jnp.array([0.5, 1.0, 2.0])

    def one(t):
        obj = pl.DataMSE(X, Y) + pl.Derivative(0.0, 1, t)
        r = pl.least_squares(mlp(), obj, max_steps=50)
        return r.loss, pl.Derivative(0.0, 1, t).derivative(r.model)

    losses, slopes = jax.vmap(one)(targets)
    assert np.all(losses < 1e-10)
    np.testing.assert_allclose(slopes, targets, rtol=1e-4)
