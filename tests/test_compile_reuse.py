"""Compiled loops are reused soundly: the same optimizer (object or fresh copy) compiles once,
and nothing that changes the computation — a global an update reads, a hyperparameter, a
default — ever reuses a stale loop."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from helpers import trace_count

import pinnloss as pl


class Scalar(eqx.Module):
    a: jax.Array

    def __call__(self, x):
        return self.a * x


X = jnp.linspace(-1.0, 1.0, 5)
OBJ = pl.DataMSE(X, 2.0 * X)
MODEL = Scalar(jnp.array(0.5))

SCALE = 1.0  # read by `scaled_sgd`'s update: a module global
TABLE = np.array([1.0])  # an array global: its functions cannot be keyed, never reused


def scaled_sgd(lr):
    def init(params):
        return optax.EmptyState()

    def update(grads, state, params=None):
        return jax.tree_util.tree_map(lambda g: -lr * SCALE * g, grads), state

    return optax.GradientTransformation(init, update)


def table_sgd(lr):
    def init(params):
        return optax.EmptyState()

    def update(grads, state, params=None):
        return jax.tree_util.tree_map(lambda g: -lr * TABLE[0] * g, grads), state

    return optax.GradientTransformation(init, update)


def by_hand(opt, steps):
    """The same fit by a plain Python loop of optax calls."""
    params, static = eqx.partition(MODEL, eqx.is_inexact_array)
    state = opt.init(params)
    f = lambda p: OBJ(eqx.combine(p, static))
    for _ in range(steps):
        g = jax.grad(f)(params)
        upd, state = opt.update(g, state, params)
        params = optax.apply_updates(params, upd)
    return eqx.combine(params, static)


def fit(opt, steps=4):
    return pl.fit(MODEL, OBJ, opt, steps=steps, progress=False)


def test_the_same_optimizer_object_compiles_once():
    opt = optax.adam(1e-2)
    fit(opt)
    n = trace_count()
    fit(opt)
    fit(opt)
    assert trace_count() == n


def test_a_fresh_identical_optimizer_compiles_once():
    fit(optax.adam(3e-2))
    n = trace_count()
    fit(optax.adam(3e-2))
    # adam(lr) is chain(scale_by_adam(), scale(-lr)): the same computation, the same loop
    fit(optax.chain(optax.scale_by_adam(), optax.scale(-3e-2)))
    assert trace_count() == n
    fit(optax.adabelief(3e-2))  # another computation: compiled
    m = trace_count()
    assert m == n + 1
    fit(optax.adabelief(3e-2))
    assert trace_count() == m


def test_a_changed_global_is_never_a_stale_hit():
    global SCALE
    try:
        SCALE = 1.0
        moved = fit(scaled_sgd(0.1)).model.a
        assert abs(float(moved) - 0.5) > 1e-3
        SCALE = 0.0  # the update now does nothing; a stale loop would still move `a`
        res = fit(scaled_sgd(0.1))
        np.testing.assert_allclose(res.model.a, by_hand(scaled_sgd(0.1), 4).a, rtol=0, atol=0)
        np.testing.assert_allclose(res.model.a, 0.5, rtol=0, atol=0)
        SCALE = 1.0
        np.testing.assert_allclose(fit(scaled_sgd(0.1)).model.a, moved, rtol=1e-14)
    finally:
        SCALE = 1.0


def test_hyperparameters_and_unkeyable_globals_give_the_right_answer():
    for lr in (0.1, 0.2, 0.1):
        np.testing.assert_allclose(
            fit(optax.sgd(lr)).model.a, by_hand(optax.sgd(lr), 4).a, rtol=1e-14
        )
    global TABLE
    try:
        opt = table_sgd(0.1)
        first = fit(opt).model.a
        TABLE = np.array([0.0])
        n = trace_count()
        res = fit(table_sgd(0.1))  # an array global: recompiled, never a stale hit
        assert trace_count() == n + 1
        np.testing.assert_allclose(res.model.a, 0.5, rtol=0, atol=0)
        assert abs(float(first) - 0.5) > 1e-3
    finally:
        TABLE = np.array([1.0])


def test_array_hyperparameters_are_dynamic():
    """A learning rate given as an array is a leaf of the optimizer pytree: no recompile."""
    fit(optax.sgd(jnp.asarray(0.1)))
    n = trace_count()
    for lr in (0.05, 0.2):
        res = fit(optax.sgd(jnp.asarray(lr)))
        np.testing.assert_allclose(res.model.a, by_hand(optax.sgd(lr), 4).a, rtol=1e-14)
    assert trace_count() == n


def test_solver_objects_reuse_the_loop_too():
    solver = pl.OptaxSolver(optax.adam(1e-2))
    pl.solve(MODEL, OBJ, solver, max_steps=4)
    n = trace_count()
    pl.solve(MODEL, OBJ, pl.OptaxSolver(optax.adam(1e-2)), max_steps=4)
    pl.solve(MODEL, 3.0 * OBJ, solver, max_steps=4)  # new weights: arrays, no recompile
    assert trace_count() == n
