"""examples/custom_solver.py: a user-written solver through pl.solve, pl.sweep and checkpoints.

The answers are checked against np.polyfit (the exact least-squares line), one-at-a-time
solves, and an uninterrupted run.
"""

import importlib
import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pinnloss as pl

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture(scope="module")
def example():
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module("custom_solver")


@pytest.fixture(scope="module")
def result(example):
    return example.main(smoke=True)


def test_it_converges_to_the_least_squares_line(result):
    assert result["reason"] == pl.RESULTS[pl.RESULTS.converged_gtol]
    assert result["steps"] < 200
    np.testing.assert_allclose(result["fitted"], result["polyfit"], rtol=1e-7, atol=1e-8)


def test_a_sweep_fits_every_seed_to_the_same_line(result):
    assert result["sweep_params"].shape == (4, 2)
    for row in result["sweep_params"]:
        np.testing.assert_allclose(row, result["polyfit"], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(result["sweep_losses"], result["loss"], rtol=1e-9)


def test_a_resumed_checkpoint_ends_where_one_run_ends(result):
    assert result["first_steps"] == 5
    assert result["resumed_steps"] == result["steps"]
    np.testing.assert_allclose(result["resumed_fitted"], result["fitted"], rtol=1e-12)
    np.testing.assert_allclose(result["resumed_loss"], result["loss"], rtol=1e-12)


def test_the_solver_is_short(example):
    """The issue asks for a solver in under 40 lines: count the two classes."""
    import inspect

    lines = inspect.getsource(example.GDState) + inspect.getsource(example.BacktrackingGD)
    assert len(lines.strip().splitlines()) < 40


def test_a_nonfinite_start_is_refused(example):
    """The solver's own `init` says the start is not finite: the result says so, and
    `throw=True` raises the library's error."""
    x = jnp.linspace(-1.0, 1.0, 8)
    obj = pl.Residual(lambda m, p: jnp.exp(m(p)) - 1.0, x[:, None], name="exp")
    model = eqx.nn.Linear(1, "scalar", key=jax.random.key(0))
    model = eqx.tree_at(lambda m: m.bias, model, jnp.asarray(800.0))  # exp(800): inf
    sol = pl.solve(model, obj, example.BacktrackingGD(), max_steps=20, throw=False)
    assert sol.result == pl.RESULTS.nonfinite_start
    with pytest.raises(pl.NonFiniteLossError):
        pl.solve(model, obj, example.BacktrackingGD(), max_steps=20)
