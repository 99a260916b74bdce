"""Matrix-free CG Levenberg–Marquardt on a PDE residual with a thousand collocation points."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pinnloss as pl


def poisson(model, x):
    """u'' = -π² sin(πx) on [0, 1]; with u(0) = u(1) = 0 the solution is sin(πx)."""
    return jax.grad(jax.grad(model))(x) + jnp.pi**2 * jnp.sin(jnp.pi * x)


POINTS = jnp.linspace(0.0, 1.0, 1000)
OBJ = pl.Residual(poisson, POINTS, name="pde") + 1e2 * pl.DataMSE(
    jnp.array([0.0, 1.0]), jnp.zeros(2), name="boundary"
)


def make_model():
    return eqx.nn.MLP("scalar", "scalar", 8, 2, activation=jnp.tanh, key=jax.random.key(0))


@pytest.fixture(scope="module")
def dense():
    return pl.least_squares(make_model(), OBJ, method="primal", max_steps=40)


@pytest.fixture(scope="module")
def cg():
    return pl.least_squares(make_model(), OBJ, method="cg", max_steps=40)


def test_cg_reaches_the_dense_loss_and_solves_the_pde(dense, cg):
    assert float(dense.loss) < 1e-7 * float(dense.initial_loss)
    np.testing.assert_allclose(cg.initial_loss, dense.initial_loss, rtol=1e-12)
    # the same loss within a factor 3 after the same number of steps
    assert float(cg.loss) < 3 * float(dense.loss), (float(cg.loss), float(dense.loss))
    assert float(dense.loss) < 3 * float(cg.loss), (float(cg.loss), float(dense.loss))
    xs = jnp.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(jax.vmap(cg.model)(xs), jnp.sin(jnp.pi * xs), atol=2e-3)
    # the loss it reports is the objective at the model it returns
    np.testing.assert_allclose(cg.loss, OBJ(cg.model), rtol=1e-10)


def test_lineax_cg_agrees(cg):
    solver = pl.LevenbergMarquardt(linear_solve=pl.MatrixFreeCG(backend="lineax"))
    lx = pl.least_squares(make_model(), OBJ, solver=solver, max_steps=40)
    assert float(lx.loss) < 3 * float(cg.loss) and float(cg.loss) < 3 * float(lx.loss)


def test_auto_picks_cg_above_the_threshold(cg):
    # this problem has min(m, n) = 97 parameters; lower the threshold below it (and keep
    # Nyström-CG, for min(m, n) > nystrom_min, out of the way)
    solver = pl.LevenbergMarquardt(linear_solve=pl.AutoLinearSolve(cg_threshold=50))
    auto = pl.least_squares(make_model(), OBJ, solver=solver, max_steps=40)
    np.testing.assert_allclose(auto.loss, cg.loss, rtol=1e-12)
    assert int(auto.steps) == int(cg.steps)


def test_auto_never_forms_a_huge_dense_jacobian():
    """m·n above `dense_limit` goes matrix-free, whatever min(m, n) is (1e6 data points
    and 97 parameters would be a 776 MB Jacobian, and jacfwd held ~n copies of the
    activations: 14 GB measured for one step)."""
    auto = pl.AutoLinearSolve()
    assert isinstance(auto.resolve(10**6, 97, 8), pl.MatrixFreeCG)
    assert isinstance(auto.resolve(9, 1185, 8), pl.DenseDual)
    assert isinstance(auto.resolve(1000, 97, 8), pl.DensePrimal)
    assert isinstance(auto.resolve(600, 1185, 8), pl.DenseDual)  # 2-D Poisson: dense is cheap
    # min(m, n) > 4000 and J fits: Nyström-preconditioned CG (tests/test_nystrom.py)
    assert isinstance(auto.resolve(5000, 6000, 8), pl.NystromCG)
    assert isinstance(
        pl.AutoLinearSolve(nystrom_limit=10**6).resolve(5000, 6000, 8), pl.MatrixFreeCG
    )
    assert isinstance(pl.AutoLinearSolve(dense_limit=10**4).resolve(1000, 97, 8), pl.MatrixFreeCG)


def test_bad_cg_settings_are_refused():
    m = make_model()
    with pytest.raises(ValueError, match="MatrixFreeCG: backend"):
        pl.MatrixFreeCG(backend="scipy")
    with pytest.raises(ValueError, match="MatrixFreeCG: tol must be positive"):
        pl.MatrixFreeCG(tol=0.0)
    with pytest.raises(ValueError, match="MatrixFreeCG: maxiter"):
        pl.MatrixFreeCG(maxiter=0)
    with pytest.raises(ValueError, match="'cg'"):
        pl.least_squares(m, OBJ, method="newton")


def test_the_old_cg_keywords_warn_and_are_still_checked():
    """0.2's cg_tol / cg_maxiter / cg_solver / geodesic restate solver=: they warn, name
    what replaces them, and still refuse bad values; unknown keywords are a TypeError."""
    m = make_model()
    for kw, msg in (
        (dict(cg_solver="scipy"), "least_squares: cg_solver"),
        (dict(cg_tol=0.0), "least_squares: cg_tol must be positive"),
        (dict(cg_maxiter=0), "cg_maxiter"),
        (dict(geodesic="second"), "geodesic must be"),
    ):
        with pytest.warns(DeprecationWarning, match="MatrixFreeCG|GeodesicExact"):
            with pytest.raises(ValueError, match=msg):
                pl.least_squares(m, OBJ, method="cg", **kw)
    with pytest.warns(DeprecationWarning):
        with pytest.raises(ValueError, match="cannot be given with solver="):
            pl.least_squares(m, OBJ, solver=pl.LevenbergMarquardt(), cg_tol=1e-3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'cg_tols'"):
        pl.least_squares(m, OBJ, cg_tols=1e-3)


def test_cg_step_solves_the_damped_normal_equations():
    """One CG solve against numpy's dense solve of (JᵀJ + μI)δ = Jᵀr, with J from jax.jacfwd
    of the whole residual vector (not pinnloss's per-point rows): the relative residual of
    the normal equations is within CG's tolerance, and the step agrees with the dense one."""
    from jax.flatten_util import ravel_pytree

    small = pl.Residual(poisson, POINTS[::5], name="pde") + 1e2 * pl.DataMSE(
        jnp.array([0.0, 1.0]), jnp.zeros(2), name="boundary"
    )  # 202 residuals, 97 parameters
    y, static = eqx.partition(make_model(), eqx.is_inexact_array)
    prob = pl.Problem(small, static)
    x, unravel = ravel_pytree(y)
    sw = prob.sqrt_weights(prob.sizes(y), x.dtype)
    resid = lambda z: sw * prob.residuals(unravel(z))
    J, r = np.asarray(jax.jit(jax.jacfwd(resid))(x)), np.asarray(jax.jit(resid)(x))
    cg = pl.MatrixFreeCG(tol=1e-8, maxiter=300)
    solve = jax.jit(lambda mu: cg.linearise(resid, None, x, jnp.zeros((0,)), True)[0].solve(mu, r))
    scale = np.max(np.sum(J**2, 0))
    for mu_rel, step_tol in ((1e-2, 1e-5), (1e-5, 1e-2)):
        mu = mu_rel * scale
        A, b = J.T @ J + mu * np.eye(J.shape[1]), J.T @ r
        d_cg, d_ref = np.asarray(solve(mu)), np.linalg.solve(A, b)
        assert np.linalg.norm(A @ d_cg - b) <= 1e-7 * np.linalg.norm(b), mu_rel
        # the step error is bounded by cond(A) times the residual: looser at small damping
        assert np.linalg.norm(d_cg - d_ref) <= step_tol * np.linalg.norm(d_ref), mu_rel
