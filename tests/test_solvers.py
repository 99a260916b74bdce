"""The solver core: solver objects, one driver, one result type, throw eagerly and under jit."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import tree_allclose

import pinnloss as pl


def mlp(key=0):
    return eqx.nn.MLP("scalar", "scalar", 16, 2, activation=jnp.tanh, key=jax.random.key(key))


X = jnp.linspace(-1.0, 1.0, 9)
Y = jnp.sin(2 * X)
OBJ = pl.DataMSE(X, Y) + 1e2 * pl.Derivative(0.0, 1, 2.0, name="slope")


class Sqrt(eqx.Module):
    """r(t) = a t + sqrt(b): at b = 0 the Jacobian column of b is infinite."""

    a: jax.Array
    b: jax.Array

    def __call__(self, t):
        return self.a * t + jnp.sqrt(self.b)


SQRT_OBJ = pl.DataMSE(X, 0.3 * X + 0.5)


def test_solve_with_optax_solver_equals_fit():
    a = pl.fit(mlp(), OBJ, optax.adam(1e-2), steps=50, progress=False)
    b = pl.solve(mlp(), OBJ, pl.OptaxSolver(optax.adam(1e-2)), max_steps=50)
    assert isinstance(a, pl.Solution) and isinstance(b, pl.Solution)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-13)
    np.testing.assert_allclose(a.history["total"], b.history["total"], rtol=1e-13)
    assert bool(a.converged) and a.result == pl.RESULTS.successful
    assert int(a.steps) == 50


def test_solve_with_levenberg_marquardt_equals_least_squares():
    a = pl.least_squares(mlp(), OBJ, max_steps=100)
    b = pl.solve(mlp(), OBJ, pl.LevenbergMarquardt(), max_steps=100)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12, atol=1e-30)
    assert int(a.steps) == int(b.steps) < 100
    assert bool(a.converged) and "converged" in a.reason


def test_least_squares_history_records_each_term_before_each_step():
    res = pl.least_squares(mlp(), OBJ, max_steps=100)
    h = res.history
    k = int(res.steps)
    assert h["total"].shape == (k,) and k < 100  # only the steps that ran
    np.testing.assert_allclose(h["total"][0], OBJ(mlp()), rtol=1e-12)
    np.testing.assert_allclose(h["total"][:k], h["data_mse"][:k] + 1e2 * h["slope"][:k], rtol=1e-12)
    assert np.all(np.diff(h["total"][:k]) <= 0)  # LM accepts only decreases


def test_history_can_be_turned_off():
    res = pl.fit(mlp(), OBJ, optax.adam(1e-2), steps=20, progress=False, history=False)
    ref = pl.fit(mlp(), OBJ, optax.adam(1e-2), steps=20, progress=False)
    assert res.history is None
    np.testing.assert_allclose(res.loss, ref.loss, rtol=1e-13)
    lm = pl.least_squares(mlp(), OBJ, history=False)
    assert lm.history is None and lm.loss < 1e-12


def test_least_squares_resumes_from_its_state():
    """Two runs of 4 steps continued by `state=` equal one run of 8 (damping kept)."""
    one = pl.least_squares(mlp(), OBJ, max_steps=8, tol=0.0)
    a = pl.least_squares(mlp(), OBJ, max_steps=4, tol=0.0)
    b = pl.least_squares(a.model, OBJ, max_steps=4, tol=0.0, state=a.state)
    np.testing.assert_allclose(b.loss, one.loss, rtol=1e-9)
    np.testing.assert_allclose(b.state.mu, one.state.mu, rtol=1e-9)


def test_least_squares_callback_progress_and_chunks():
    seen = []
    res = pl.least_squares(
        mlp(), OBJ, chunk_size=3, progress=True, callback=lambda i, f, m: seen.append((i, f))
    )
    ref = pl.least_squares(mlp(), OBJ)
    np.testing.assert_allclose(res.loss, ref.loss, rtol=1e-12, atol=1e-30)
    assert int(res.steps) == int(ref.steps)
    assert [i for i, _ in seen] == sorted(
        {min(i, int(ref.steps)) for i in range(3, 3 * len(seen) + 1, 3)}
    )
    np.testing.assert_allclose(seen[-1][1], ref.loss, rtol=1e-12, atol=1e-30)
    # a callback returning True stops the solve there
    # (the user's choice, not a failure: no SolveError), and state= goes on from there
    stopped = pl.least_squares(mlp(), OBJ, chunk_size=2, callback=lambda i, f, m: True)
    assert int(stopped.steps) == 2 and stopped.result == pl.RESULTS.stopped
    assert bool(stopped.converged) and "callback" in stopped.reason
    on = pl.least_squares(stopped.model, OBJ, state=stopped.state)
    # both end at the float64 floor (~1e-28 from 453): equal there only to rounding
    np.testing.assert_allclose(on.loss, ref.loss, rtol=1e-9, atol=1e-26)


def test_least_squares_checkpoint_resumes(tmp_path):
    path = tmp_path / "lm.ckpt"
    ref = pl.least_squares(mlp(), OBJ, max_steps=30, tol=0.0)

    class Stop(Exception):
        pass

    def kill(i, f, m):
        if i >= 10:
            raise Stop

    with pytest.raises(Stop):
        pl.least_squares(
            mlp(),
            OBJ,
            max_steps=30,
            tol=0.0,
            checkpoint=path,
            checkpoint_every=5,
            callback=kill,
        )
    res = pl.least_squares(mlp(), OBJ, max_steps=30, tol=0.0, checkpoint=path, checkpoint_every=5)
    np.testing.assert_allclose(res.loss, ref.loss, rtol=1e-9, atol=1e-30)
    np.testing.assert_allclose(res.history["total"], ref.history["total"], rtol=1e-9, atol=1e-30)


# ---- throw: the same eagerly and under filter_jit


def test_max_steps_is_an_ordinary_end_eagerly_and_under_jit():
    # a budget is not a failure (issue 17): no raise with the default throw=True
    res = pl.least_squares(mlp(), OBJ, max_steps=2)
    assert res.result == pl.RESULTS.max_steps_reached and not bool(res.converged)
    assert "max_steps" in res.reason and "throw=False" not in res.reason
    jitted = eqx.filter_jit(lambda m: pl.least_squares(m, OBJ, max_steps=2))
    out = jitted(mlp())
    assert out.result == pl.RESULTS.max_steps_reached
    np.testing.assert_allclose(out.loss, res.loss, rtol=1e-10)
    ok = eqx.filter_jit(lambda m: pl.least_squares(m, OBJ, max_steps=100).loss)
    assert float(ok(mlp())) < 1e-12


def test_non_finite_start_raises_eagerly_and_under_jit():
    obj = pl.Residual(lambda m, x: jnp.log(m(x) - 100.0), X, name="bad_log")
    with pytest.raises(pl.NonFiniteLossError, match="bad_log"):
        pl.least_squares(mlp(), obj)
    with pytest.raises(Exception, match="not finite at the starting model"):
        jax.block_until_ready(eqx.filter_jit(lambda m: pl.least_squares(m, obj).loss)(mlp()))
    res = pl.least_squares(mlp(), obj, throw=False)
    assert res.result == pl.RESULTS.nonfinite_start and not bool(res.converged)


def test_non_finite_jacobian_is_not_converged():
    """`a t + sqrt(b)` at b = 0: no step can be taken; 0.1 reported converged=True."""
    start = Sqrt(jnp.array(1.0), jnp.array(0.0))
    res = pl.least_squares(start, SQRT_OBJ, throw=False)
    assert res.result == pl.RESULTS.nonfinite_jacobian
    assert not bool(res.converged)
    assert int(res.accepted) == 0
    with pytest.raises(pl.NonFiniteLossError, match="Jacobian"):
        pl.least_squares(start, SQRT_OBJ)
    with pytest.raises(Exception, match="Jacobian"):
        jax.block_until_ready(eqx.filter_jit(lambda m: pl.least_squares(m, SQRT_OBJ).loss)(start))
    # from b > 0 the same problem converges
    good = pl.least_squares(Sqrt(jnp.array(1.0), jnp.array(1.0)), SQRT_OBJ)
    np.testing.assert_allclose(good.model.a, 0.3, rtol=1e-8)
    np.testing.assert_allclose(good.model.b, 0.25, rtol=1e-8)


def test_fit_non_finite_raises_under_jit_too():
    class Blow(eqx.Module):
        a: jax.Array

        def __call__(self, x):
            return jnp.log(self.a) * x

    obj = pl.DataMSE(X, -10.0 * X)
    sgd = optax.sgd(0.003)
    with pytest.raises(pl.NonFiniteLossError):
        pl.fit(Blow(jnp.array(0.5)), obj, sgd, steps=12, progress=False)
    f = eqx.filter_jit(lambda m: pl.fit(m, obj, sgd, steps=12, progress=False).loss)
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(f(Blow(jnp.array(0.5))))


def test_batched_results_under_vmap_with_throw_false():
    targets = jnp.array([0.5, 2.0])

    def one(t):
        return pl.least_squares(mlp(), pl.DataMSE(X, Y) + pl.Derivative(0.0, 1, t), throw=False)

    res = eqx.filter_vmap(one)(targets)
    assert res.code.shape == (2,) and bool(np.all(res.converged))
    assert res.reason.count("converged") == 2


def test_solvers_are_modules_with_strategies():
    lm = pl.LevenbergMarquardt(
        linear_solve=pl.DensePrimal(), geodesic=pl.GeodesicExact(), damping=pl.Nielsen()
    )
    a = pl.solve(mlp(), OBJ, lm, max_steps=100)
    with pytest.warns(DeprecationWarning, match="geodesic= is deprecated"):  # 0.2's spelling
        b = pl.least_squares(mlp(), OBJ, method="primal", geodesic="exact")
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-10, atol=1e-30)
    assert tree_allclose(
        eqx.filter(a.model, eqx.is_array), eqx.filter(b.model, eqx.is_array), rtol=1e-10
    )
    with pytest.raises(ValueError, match="solver must be a pl.AbstractSolver"):
        pl.solve(mlp(), OBJ, optax.adam(1e-3), max_steps=10)
    with pytest.raises(ValueError, match="solver must be a pl.LevenbergMarquardt"):
        pl.least_squares(mlp(), OBJ, solver=pl.OptaxSolver(optax.adam(1e-3)))
    with pytest.raises(ValueError, match="MatrixFreeCG: backend"):
        pl.MatrixFreeCG(backend="scipy")
    with pytest.raises(ValueError, match="not means of squared residuals"):
        pl.solve(mlp(), pl.DataLoss(X, Y, loss=pl.losses.mae), pl.LevenbergMarquardt(), max_steps=5)


def test_a_finished_checkpoint_continues_with_a_larger_budget(tmp_path):
    path = tmp_path / "fit.ckpt"
    opt = optax.adam(1e-2)
    short = pl.fit(mlp(), OBJ, opt, steps=20, progress=False, checkpoint=path, checkpoint_every=10)
    longer = pl.fit(mlp(), OBJ, opt, steps=30, progress=False, checkpoint=path, checkpoint_every=10)
    ref = pl.fit(mlp(), OBJ, opt, steps=30, progress=False)
    assert int(short.steps) == 20 and int(longer.steps) == 30
    np.testing.assert_allclose(longer.history["total"], ref.history["total"], rtol=1e-12)
    np.testing.assert_allclose(longer.loss, ref.loss, rtol=1e-12)


def test_a_run_in_chunks_compiles_its_loop_once():
    """The first chunk used to compile its own loop (with the state's init inside): a run
    in chunks (callback, progress bar, checkpoints) paid two compiles of the whole loop."""
    from helpers import trace_count

    opt = optax.adam(1e-2)
    before = trace_count()
    sol = pl.fit(mlp(3), OBJ, opt, steps=6, chunk_size=2, progress=False)
    assert trace_count() - before == 1
    # and the chunked run is the same run as one chunk
    whole = pl.fit(mlp(3), OBJ, opt, steps=6, progress=False)
    a, b = eqx.filter(sol.model, eqx.is_array), eqx.filter(whole.model, eqx.is_array)
    assert tree_allclose(a, b)
    np.testing.assert_allclose(sol.history["total"], whole.history["total"], rtol=1e-12)


# ---------------------------------------------------------------- the public protocol


def test_init_returns_the_whole_state_with_no_sentinel():
    """`init` forms the first Jacobian and the starting damping: mu0 = 1e-3 max diag(JᵀJ)
    with J from jax.jacfwd of the stacked weighted residuals (not pinnloss's builder)."""
    from jax.flatten_util import ravel_pytree

    y, static = eqx.partition(mlp(), eqx.is_inexact_array)
    problem = pl.Problem(pl.Objective.of(OBJ), static)
    state = eqx.filter_jit(pl.LevenbergMarquardt(linear_solve=pl.DenseDual()).init)(problem, y)
    x, unravel = ravel_pytree(y)
    J = jax.jacfwd(lambda z: OBJ.scaled_residuals(eqx.combine(unravel(z), static)))(x)
    np.testing.assert_allclose(state.jac, J, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state.mu, 1e-3 * np.max(np.sum(np.asarray(J) ** 2, 0)), rtol=1e-10)
    assert not bool(state.stale) and float(state.nu) == 2.0
    assert not hasattr(pl.LevenbergMarquardt(), "sizes")  # nothing set after construction


def test_terminate_is_the_drivers_stopping_rule():
    """A solver that overrides only `terminate` stops where it says, with its result."""

    class ThreeAccepted(pl.LevenbergMarquardt):
        def terminate(self, problem, y, state):
            running = state.result == pl.RESULTS.running
            done = ~running | (state.accepted >= 3)
            return done, pl.RESULTS.where(running, pl.RESULTS.stopped, state.result)

    sol = pl.solve(mlp(), OBJ, ThreeAccepted(), max_steps=100)
    assert sol.result == pl.RESULTS.stopped, sol.reason
    assert int(sol.stats["accepted"]) == 3 and int(sol.steps) < 100
    ref = pl.solve(mlp(), OBJ, pl.LevenbergMarquardt(), max_steps=int(sol.steps))
    np.testing.assert_allclose(sol.loss, ref.loss, rtol=1e-12)  # the same iterates


def test_damping_and_geodesic_are_strategies():
    """`Multiplicative` (the textbook rule) is a drop-in `AbstractDamping`; a user-written
    damping and geodesic run too; a wrong strategy is refused by name."""

    class Constant(pl.AbstractDamping):  # a fixed mu: Gauss-Newton with Tikhonov damping
        accept_ratio: float = 1e-4
        stall: float = 1e30

        def init(self, mu0):
            return mu0, jnp.zeros_like(mu0)

        def update(self, mu, nu, rho, accept):
            return mu, nu

    class NoCurvature(pl.AbstractGeodesic):  # r'' = 0: the plain step
        max_ratio: float = 0.75

        def second_derivative(self, resid, x, r, delta, Jd):
            return jnp.zeros_like(r)

    start = float(OBJ(mlp()))
    # the textbook rule converges; a fixed mu (1e-3 max diag JᵀJ) only creeps downhill
    for damping, drop in ((pl.Multiplicative(), 1e-8), (Constant(), 1e-4)):
        sol = pl.least_squares(mlp(), OBJ, solver=pl.LevenbergMarquardt(damping=damping))
        assert float(sol.loss) < drop * start, (type(damping).__name__, float(sol.loss))
    plain = pl.solve(mlp(), OBJ, pl.LevenbergMarquardt(geodesic=None), max_steps=10)
    zero = pl.solve(mlp(), OBJ, pl.LevenbergMarquardt(geodesic=NoCurvature()), max_steps=10)
    np.testing.assert_allclose(zero.loss, plain.loss, rtol=1e-10)
    for kw, msg in (
        (dict(damping="nielsen"), "damping must be a pl.AbstractDamping; got str"),
        (dict(geodesic=pl.Nielsen()), "geodesic must be a pl.AbstractGeodesic or None"),
        (dict(linear_solve=pl.Nielsen()), "linear_solve must be a pl.AbstractLinearSolve"),
    ):
        with pytest.raises(ValueError, match=msg):
            pl.LevenbergMarquardt(**kw)
    with pytest.raises(ValueError, match="Multiplicative: need 0 < down < 1 < up"):
        pl.Multiplicative(down=2.0)
    with pytest.raises(ValueError, match="Nielsen: min_factor"):
        pl.Nielsen(min_factor=1.5)
