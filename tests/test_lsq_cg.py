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
    return pl.least_squares(make_model(), OBJ, method="primal", max_steps=40, throw=False)


@pytest.fixture(scope="module")
def cg():
    return pl.least_squares(make_model(), OBJ, method="cg", max_steps=40, throw=False)


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
    lx = pl.least_squares(
        make_model(), OBJ, method="cg", cg_solver="lineax", max_steps=40, throw=False
    )
    assert float(lx.loss) < 3 * float(cg.loss) and float(cg.loss) < 3 * float(lx.loss)


def test_auto_picks_cg_above_the_threshold(cg):
    # this problem has min(m, n) = 97 parameters; lower the threshold below it
    solver = pl.LevenbergMarquardt(linear_solve=pl.AutoLinearSolve(cg_threshold=50))
    auto = pl.least_squares(make_model(), OBJ, solver=solver, max_steps=40, throw=False)
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
    assert isinstance(auto.resolve(5000, 6000, 8), pl.MatrixFreeCG)  # min(m, n) > 4000
    assert isinstance(pl.AutoLinearSolve(dense_limit=10**4).resolve(1000, 97, 8), pl.MatrixFreeCG)


def test_bad_cg_settings_are_refused():
    m = make_model()
    with pytest.raises(ValueError, match="least_squares: cg_solver"):
        pl.least_squares(m, OBJ, method="cg", cg_solver="scipy")
    with pytest.raises(ValueError, match="least_squares: cg_tol must be positive"):
        pl.least_squares(m, OBJ, method="cg", cg_tol=0.0)
    with pytest.raises(ValueError, match="cg_maxiter"):
        pl.least_squares(m, OBJ, method="cg", cg_maxiter=0)
    with pytest.raises(ValueError, match="'cg'"):
        pl.least_squares(m, OBJ, method="newton")
