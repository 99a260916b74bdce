"""pinnloss.optimizers: dense BFGS, SSBFGS and SSBroyden as Optax transformations."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pinnloss as pl
import pinnloss.optimizers as plo

SELF_SCALED = {"ssbfgs": plo.ssbfgs, "ssbroyden": plo.ssbroyden}


def run(opt, f, x0, steps):
    """A hand-written loop: value-and-grad, update, apply; returns x, losses and state."""
    vg = jax.value_and_grad(f)

    @jax.jit
    def go(x):
        def body(carry, _):
            x, state = carry
            v, g = vg(x)
            u, state = opt.update(g, state, x, value=v, grad=g, value_fn=f)
            return (optax.apply_updates(x, u), state), v

        (x, state), vs = jax.lax.scan(body, (x, opt.init(x)), None, length=steps)
        return x, vs, state

    return go(x0)


def quadratic():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    A = q @ np.diag(np.logspace(0.0, 2.0, 10)) @ q.T  # condition number 100
    b = rng.normal(size=10)
    return jnp.asarray(A), jnp.asarray(b)


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize("name", sorted(SELF_SCALED))
def test_quadratic_converges_to_solution(name):
    A, b = quadratic()
    x, vs, state = run(SELF_SCALED[name](), lambda x: 0.5 * x @ A @ x - b @ x, jnp.zeros(10), 30)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=0, atol=1e-10)
    assert np.all(np.diff(vs) <= 1e-12 * np.abs(vs[1:]))
    assert bool(jnp.all(jnp.isfinite(state.inv_hessian)))


@pytest.mark.parametrize("name", sorted(SELF_SCALED))
def test_rosenbrock_reaches_minimum_and_beats_adam(name):
    x0 = jnp.array([-1.2, 1.0])
    x, vs, _ = run(SELF_SCALED[name](), rosenbrock, x0, 200)
    np.testing.assert_allclose(x, [1.0, 1.0], rtol=0, atol=1e-8)
    xa, _, _ = run(optax.adam(1e-2), rosenbrock, x0, 200)
    assert rosenbrock(x) < 1e-6 * rosenbrock(xa)
    assert np.all(np.diff(vs) <= 0.0)


def test_bfgs_update_matches_numpy():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(6, 6))
    H = m @ m.T + np.eye(6)
    s, y = rng.normal(size=6), rng.normal(size=6)
    y = y if s @ y > 0 else -y
    rho = 1.0 / (s @ y)
    V = np.eye(6) - rho * np.outer(s, y)
    bfgs = V @ H @ V.T + rho * np.outer(s, s)  # Nocedal & Wright eq. 6.17
    dfp = H - np.outer(H @ y, H @ y) / (y @ H @ y) + rho * np.outer(s, s)  # eq. 6.15
    J = lambda M: jnp.asarray(M)
    np.testing.assert_allclose(plo.broyden_update(J(H), J(s), J(y)), bfgs, rtol=1e-12)
    np.testing.assert_allclose(plo.broyden_update(J(H), J(s), J(y), theta=1.0), dfp, rtol=1e-11)
    # scaling tau is BFGS of H / tau; every member satisfies the secant equation H+ y = s
    np.testing.assert_allclose(
        plo.broyden_update(J(H), J(s), J(y), tau=0.3),
        plo.broyden_update(J(H / 0.3), J(s), J(y)),
        rtol=1e-12,
    )
    for theta in (-0.2, 0.5, 2.0):
        Hn = plo.broyden_update(J(H), J(s), J(y), tau=0.7, theta=theta)
        np.testing.assert_allclose(Hn @ y, s, rtol=1e-10)
        np.testing.assert_allclose(Hn, Hn.T, rtol=1e-14)
    with pytest.raises(ValueError, match="broyden_update"):
        plo.broyden_update(jnp.eye(3), jnp.ones(2), jnp.ones(2))


def _two_steps(opt, f, x0):
    """H after the first update, with the step and gradient change that made it."""
    vg = jax.value_and_grad(f)
    state = opt.init(x0)
    x, gs, xs = x0, [], [x0]
    for _ in range(2):
        v, g = vg(x)
        u, state = opt.update(g, state, x, value=v, grad=g, value_fn=f)
        x = x + u
        gs.append(g)
        xs.append(x)
    return state, np.asarray(xs[1] - xs[0]), np.asarray(gs[1] - gs[0])


@pytest.mark.parametrize("name", ["bfgs", "ssbfgs", "ssbroyden"])
def test_first_update_of_the_optimizer_matches_numpy(name):
    A, b = quadratic()
    f = lambda x: 0.5 * x @ A @ x - b @ x + 0.1 * jnp.sum(x**4)
    state, s, y = _two_steps(getattr(plo, name)(), f, jnp.zeros(10) + 0.3)
    assert bool(state.updated)
    H0 = (s @ y) / (y @ y) * np.eye(10)  # Nocedal & Wright eq. 6.20
    rho = 1.0 / (s @ y)
    b_k = (s @ s) / (s @ y) * (y @ y) / (s @ y)  # s^T B s / s^T y with B = H0^-1
    tau = {"bfgs": 1.0, "ssbfgs": min(1.0, 1.0 / b_k)}.get(name, float(state.tau))
    if name != "ssbroyden":  # theta = 0: BFGS of H0 / tau
        V = np.eye(10) - rho * np.outer(s, y)
        np.testing.assert_allclose(
            state.inv_hessian, V @ (H0 / tau) @ V.T + rho * np.outer(s, s), rtol=1e-10, atol=1e-14
        )
        np.testing.assert_allclose(state.tau, tau, rtol=1e-12)
        assert float(state.theta) == 0.0
    else:
        # h = y^T H0 y / s^T y = 1, a = b - 1: theta from Al-Baali & Khalfan's interval
        a = b_k - 1.0
        c = np.sqrt(a / (1 + a))
        rho_m = min(1.0, 1.0 - c)
        theta = max((rho_m - 1) / a, min(1 / rho_m, (1 - b_k) / b_k))
        sigma = 1 + a * theta
        t1 = min(1.0, 1.0 / b_k)
        p = sigma ** (-1 / 9)
        tau = t1 * min(p, 1 / theta) if theta > 0 else min(t1 * p, sigma)
        np.testing.assert_allclose([state.theta, state.tau], [theta, tau], rtol=1e-10)
        expect = plo.broyden_update(
            jnp.asarray(H0), jnp.asarray(s), jnp.asarray(y), tau=tau, theta=theta
        )
        np.testing.assert_allclose(state.inv_hessian, expect, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(state.inv_hessian @ y, s, rtol=1e-10)


X = jnp.linspace(-1.0, 1.0, 40)


def mlp(key=0):
    return eqx.nn.MLP("scalar", "scalar", 12, 2, activation=jnp.tanh, key=jax.random.key(key))


@pytest.mark.parametrize("name", sorted(SELF_SCALED))
def test_fit_mlp_monotone_and_far_below_adam(name):
    obj = pl.DataMSE(X, jnp.sin(3 * X))
    res = pl.fit(mlp(), obj, SELF_SCALED[name](), steps=300, progress=False)
    adam = pl.fit(mlp(), obj, optax.adam(1e-2), steps=300, progress=False)
    h = np.asarray(res.history["total"])
    # the line search never increases the loss (beyond Hager-Zhang's 1e-6 |f| near a minimum)
    assert np.all(np.diff(h) <= 1e-6 * h[1:])
    assert float(res.loss) < 1e-3 * float(adam.loss)
    assert int(res.failed_step) == -1


def test_fit_under_vmap_and_jit():
    amp = jnp.array([1.0, 2.0])
    opt = plo.ssbroyden()

    def one(a):
        obj = pl.DataMSE(X, a * jnp.sin(3 * X))
        return pl.fit(mlp(), obj, opt, steps=80, progress=False).history["total"]

    batched = jax.vmap(one)(amp)
    jitted = jax.jit(one)(amp[1])
    # rounding differs between batched and single matrix products and grows over the
    # iterations: the first steps agree closely, and both runs converge
    np.testing.assert_allclose(batched[1, :10], jitted[:10], rtol=1e-8)
    assert np.all(batched[:, -1] < 1e-4) and jitted[-1] < 1e-4


def test_state_size_and_bad_method():
    model = mlp()
    params = eqx.filter(model, eqx.is_inexact_array)
    n = sum(x.size for x in jax.tree_util.tree_leaves(params))
    state = plo.ssbroyden().init(params)
    assert state.inv_hessian.shape == (n, n)
    with pytest.raises(ValueError, match="method must be one of"):
        plo.scale_by_quasi_newton("sr1")


def test_failed_line_search_is_rejected_and_resets():
    # one line-search evaluation: the unit step overshoots (x = 1 -> -5) and is refused
    f = lambda x: jnp.sum(x**2 + x**4)
    x0 = jnp.ones(3)
    x, vs, state = run(plo.ssbroyden(max_linesearch_steps=1), f, x0, 3)
    np.testing.assert_allclose(x, x0)
    np.testing.assert_allclose(vs, f(x0))
    assert bool(state.fresh) and not bool(state.updated)
    np.testing.assert_allclose(state.inv_hessian, np.eye(3))
    # with a working line search the same start converges
    x, _, _ = run(plo.ssbroyden(), f, x0, 30)
    np.testing.assert_allclose(x, 0.0, atol=1e-10)
