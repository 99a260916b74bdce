"""Nyström-preconditioned CG (`pl.NystromCG`): the sketch, the step against a dense solve, a
PINN solved with it, jit/vmap of a step, and the choice made by `AutoLinearSolve`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import pinnloss as pl
from pinnloss._solvers._base import Problem
from pinnloss._solvers._nystrom import nystrom_sketch


def poisson(model, x):
    """u'' = -π² sin(πx) on [0, 1]; with u(0) = u(1) = 0 the solution is sin(πx)."""
    return jax.grad(jax.grad(model))(x) + jnp.pi**2 * jnp.sin(jnp.pi * x)


def objective(n_points):
    return pl.Residual(poisson, jnp.linspace(0.0, 1.0, n_points), name="pde") + 1e2 * pl.DataMSE(
        jnp.array([0.0, 1.0]), jnp.zeros(2), name="boundary"
    )


def make_model(key=0, width=8):
    return eqx.nn.MLP("scalar", "scalar", width, 2, activation=jnp.tanh, key=jax.random.key(key))


def flat_problem(model, obj):
    """(x, resid, J, r): the flat parameters, the weighted residual function, and J (by
    `jax.jacfwd` of the whole residual vector, not pinnloss's per-point rows) and r at x."""
    y, static = eqx.partition(model, eqx.is_inexact_array)
    prob = Problem(obj, static)
    x, unravel = ravel_pytree(y)
    sw = prob.sqrt_weights(prob.sizes(y), x.dtype)
    resid = lambda z: sw * prob.residuals(unravel(z))
    jac = lambda z: sw[:, None] * prob.jacobian(z, unravel, prob.sizes(y))
    return x, resid, jac, np.asarray(jax.jit(jax.jacfwd(resid))(x)), np.asarray(resid(x))


def solver_of(ls, resid, jac, x, r):
    """Jitted (solve(mu), mu0()) of `ls` linearised at x, the sketch made afresh."""

    def lin():
        cache = jnp.zeros(ls.cache_shape(r.size, x.size), x.dtype)
        return ls.linearise(resid, jac, x, cache, jnp.asarray(True))[0]

    return jax.jit(lambda mu: lin().solve(mu, r)), jax.jit(lambda: lin().mu0())


def test_sketch_is_exact_at_full_rank_and_captures_the_top_below_it():
    rng = np.random.default_rng(0)
    n = 40
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = 10.0 ** -np.arange(n, dtype=float) * 0.5  # 1 … 1e-39: a PINN-like decay
    lam[:3] = [3.0, 2.0, 1.0]
    A = (Q * lam) @ Q.T
    U, lam_hat = nystrom_sketch(lambda V: A @ V, n, n, jax.random.key(1), jnp.float64)
    np.testing.assert_allclose((U * lam_hat) @ U.T, A, atol=1e-13)
    np.testing.assert_allclose(U.T @ U, np.eye(n), atol=1e-12)
    # rank 10: the top eigenvalues to high accuracy, and nothing negative
    U, lam_hat = nystrom_sketch(lambda V: A @ V, n, 10, jax.random.key(1), jnp.float64)
    np.testing.assert_allclose(lam_hat[:3], [3.0, 2.0, 1.0], rtol=1e-10)
    np.testing.assert_allclose(lam_hat[3:5], [5e-4, 5e-5], rtol=1e-5)
    assert np.all(np.asarray(lam_hat) >= 0)


@pytest.mark.parametrize("matrix_free", [False, True])
def test_full_rank_preconditioner_is_exact(matrix_free):
    """rank ≥ n: P⁻¹(JᵀJ + μI) = (λ_n + μ)I, so ONE CG iteration gives the dense LM step."""
    model, obj = make_model(width=4), objective(60)  # 33 parameters, 62 residuals
    x, resid, jac, J, r = flat_problem(model, obj)
    ls = pl.NystromCG(rank=64, maxiter=1, tol=1e-14, matrix_free=matrix_free)
    solve, _ = solver_of(ls, resid, jac, x, r)
    mu = 1e-8 * np.max(np.sum(J**2, 0))
    d_ref = np.linalg.solve(J.T @ J + mu * np.eye(x.size), J.T @ r)
    # to rounding: the solve amplifies the sketch's ~1e-15 errors by cond(JᵀJ + μI) ~ 1e8
    np.testing.assert_allclose(solve(mu), d_ref, rtol=1e-5, atol=1e-8 * np.abs(d_ref).max())


@pytest.mark.parametrize("matrix_free", [False, True])
def test_step_equals_the_dense_lm_step(matrix_free):
    """rank 20 < n = 97: the damped normal equations solved to CG's tolerance, and the step
    equal to NumPy's dense solve, at a large and a small damping (where plain CG with 100
    iterations is 10–90 % off on PINNs)."""
    model, obj = make_model(), objective(200)  # 97 parameters, 202 residuals
    x, resid, jac, J, r = flat_problem(model, obj)
    ls = pl.NystromCG(rank=20, maxiter=200, tol=1e-12, matrix_free=matrix_free)
    solve, mu0 = solver_of(ls, resid, jac, x, r)
    scale = np.max(np.sum(J**2, 0))
    for mu_rel in (1e-2, 1e-8):
        mu = mu_rel * scale
        A, b = J.T @ J + mu * np.eye(x.size), J.T @ r
        d, d_ref = np.asarray(solve(mu)), np.linalg.solve(A, b)
        assert np.linalg.norm(A @ d - b) <= 1e-9 * np.linalg.norm(b), mu_rel
        np.testing.assert_allclose(d, d_ref, rtol=0, atol=1e-5 * np.abs(d_ref).max())
    # mu0 is 1e-3 max diag(JᵀJ): exact with J stored, a lower bound from the sketch
    mu0 = float(mu0())
    if matrix_free:
        assert 0.5e-3 * scale <= mu0 <= 1e-3 * scale * (1 + 1e-10)
    else:
        np.testing.assert_allclose(mu0, 1e-3 * scale, rtol=1e-12)


def test_preconditioning_cuts_cg_iterations():
    """With the same iteration cap (10), the Nyström-preconditioned solve is accurate where
    plain CG is not, at a small damping."""
    model, obj = make_model(), objective(200)
    x, resid, jac, J, r = flat_problem(model, obj)
    mu = 1e-9 * np.max(np.sum(J**2, 0))
    A, b = J.T @ J + mu * np.eye(x.size), J.T @ r
    res = {}
    for name, ls in (
        ("nys", pl.NystromCG(rank=40, maxiter=10, tol=1e-14)),
        ("cg", pl.MatrixFreeCG(maxiter=10, tol=1e-14)),
    ):
        d = np.asarray(solver_of(ls, resid, jac, x, r)[0](mu))
        res[name] = np.linalg.norm(A @ d - b) / np.linalg.norm(b)
    assert res["nys"] < 1e-6 and res["cg"] > 1e3 * res["nys"], res


def test_solves_a_poisson_pinn():
    """1-D Poisson, 97 parameters, 1000 points: sin(πx) within 2e-3 after 40 LM steps, as
    dense LM reaches (tests/test_lsq_cg.py), and the loss equal to the objective at the model."""
    obj = objective(1000)
    solver = pl.LevenbergMarquardt(linear_solve=pl.NystromCG(rank=40))
    sol = pl.least_squares(make_model(), obj, solver=solver, max_steps=40, throw=False)
    assert float(sol.loss) < 1e-7 * float(sol.initial_loss)
    xs = jnp.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(jax.vmap(sol.model)(xs), jnp.sin(jnp.pi * xs), atol=2e-3)
    np.testing.assert_allclose(sol.loss, obj(sol.model), rtol=1e-10)


def test_steps_under_jit_and_vmap_match_dense_lm():
    """Five LM steps for two models at once under vmap equal each alone, and equal dense LM's
    steps (the first three are rejected by both, as μ grows from 1e-3 max diag; then taken)."""
    obj = objective(100)
    parts = [eqx.partition(make_model(k), eqx.is_inexact_array) for k in (0, 1)]
    static = parts[0][1]

    def steps(y, ls):
        prob = Problem(obj, static)
        s = pl.LevenbergMarquardt(linear_solve=ls)
        # the steps inside lax.fori_loop: one compiled step, as the driver's loop has it
        body = lambda i, carry: s.step(prob, *carry, i)[:2]
        y, state = jax.lax.fori_loop(0, 5, body, (y, s.init(prob, y)))
        return ravel_pytree(y)[0], state.loss

    nys = jax.jit(lambda y: steps(y, pl.NystromCG(rank=30)))
    dense = jax.jit(lambda y: steps(y, pl.DensePrimal()))
    alone = [nys(y) for y, _ in parts]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[y for y, _ in parts])
    xs, losses = jax.jit(jax.vmap(nys))(stacked)
    for k in range(2):
        np.testing.assert_allclose(xs[k], alone[k][0], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(losses[k], alone[k][1], rtol=1e-8)
        x_dense, loss_dense = dense(parts[k][0])
        np.testing.assert_allclose(losses[k], loss_dense, rtol=1e-8)
        np.testing.assert_allclose(xs[k], x_dense, rtol=1e-6, atol=1e-9)
        assert float(losses[k]) < 0.9 * float(obj(eqx.combine(parts[k][0], static)))


def test_bad_settings_are_refused():
    for kw, msg in (
        (dict(rank=0), "rank must be a positive integer"),
        (dict(maxiter=2.5), "maxiter must be a positive integer"),
        (dict(batch=True), "batch must be a positive integer"),
        (dict(tol=-1.0), "tol must be positive"),
        (dict(matrix_free=1), "matrix_free must be a bool"),
    ):
        with pytest.raises(ValueError, match=f"NystromCG: {msg}"):
            pl.NystromCG(**kw)


def test_auto_picks_nystrom_between_dense_and_matrix_free():
    auto = pl.AutoLinearSolve()
    assert isinstance(auto.resolve(600, 1185, 8), pl.DenseDual)  # 2-D Poisson, 1185 parameters
    assert isinstance(auto.resolve(4800, 4417, 8), pl.NystromCG)  # dense Gram: 100 GFLOP/step
    assert isinstance(auto.resolve(5000, 10501, 8), pl.NystromCG)
    assert isinstance(auto.resolve(2000, 40801, 8), pl.NystromCG)  # PINNacle's 5×100 net
    assert isinstance(auto.resolve(8000, 40801, 8), pl.MatrixFreeCG)  # J over nystrom_limit
    assert isinstance(auto.resolve(10**6, 97, 8), pl.MatrixFreeCG)  # huge data, few parameters
    mine = pl.NystromCG(rank=7)
    assert pl.AutoLinearSolve(nystrom=mine).resolve(4800, 4417, 8) is mine
