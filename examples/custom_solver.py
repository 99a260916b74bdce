"""Writing a solver: gradient descent with a backtracking (Armijo) line search.

The solver protocol (`pl.AbstractSolver`) is what `pl.fit` and `pl.least_squares` use
themselves: `init(problem, y, state)` returns the starting state, `step(problem, y, state,
i)` returns `(y, state, record)`, and the driver stops once `terminate` says so (by default
when `state.result` is no longer `running`). The solver below is 31 lines; the same class
then runs through `pl.solve`, `pl.sweep` (eight fits in one compiled call) and a checkpoint
that is resumed.

Run: python examples/custom_solver.py [--smoke]
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pinnloss as pl
from pinnloss import RESULTS

# ----------------------------------------------------------------- the solver (31 lines)


class GDState(pl.AbstractState):
    values: jax.Array  # each term's unweighted value at the iterate
    grad: object  # the gradient there, a pytree like y
    loss: jax.Array
    result: RESULTS
    initial_loss: jax.Array
    failed_step: jax.Array
    failed_term: jax.Array


class BacktrackingGD(pl.AbstractSolver):
    """Gradient descent, step halved from `lr` until the loss falls by t·|g|²/2 (Armijo)."""

    lr: float = 1.0
    gtol: float = 1e-8
    converges = True  # it stops by itself: the driver guards each step
    budget_result = RESULTS.max_steps_reached

    def init(self, problem: pl.Problem, y, state=None) -> GDState:
        (loss, values), grad = jax.value_and_grad(problem.values, has_aux=True)(y)
        ok, none = jnp.isfinite(loss), jnp.array(-1, jnp.int32)
        return GDState(values=values, grad=grad, loss=loss, initial_loss=loss,
                       result=RESULTS.where(ok, RESULTS.running, RESULTS.nonfinite_start),
                       failed_step=jnp.where(ok, none, 0), failed_term=none)  # fmt: skip

    def step(self, problem: pl.Problem, y, state: GDState, i):
        g2 = sum(jnp.vdot(g, g) for g in jax.tree_util.tree_leaves(state.grad))
        move = lambda t: jax.tree_util.tree_map(lambda p, g: p - t * g, y, state.grad)
        too_long = lambda t: (problem.loss(move(t)) > state.loss - t * g2 / 2) & (t > 1e-12)
        t = jax.lax.while_loop(too_long, lambda t: t / 2, jnp.asarray(self.lr, g2.dtype))
        new = self.init(problem, move(t))  # loss, values and gradient at the new iterate
        bad = ~jnp.isfinite(new.loss)
        result = RESULTS.where(g2 < self.gtol**2, RESULTS.converged_gtol, state.result)
        new = dataclasses.replace(
            new, initial_loss=state.initial_loss, failed_term=state.failed_term,
            result=RESULTS.where(bad, RESULTS.nonfinite_loss, result),
            failed_step=jnp.where(bad, i + 1, state.failed_step).astype(jnp.int32),
        )  # fmt: skip
        return move(t), new, jnp.append(state.values, state.loss)  # record: before the step


# ----------------------------------------------------------------- using it


def line_fit(n: int = 32):
    """A straight line through noisy points: least squares has a closed form to check."""
    x = jnp.linspace(-1.0, 1.0, n)
    noise = 0.1 * jax.random.normal(jax.random.key(7), (n,))
    return x, 2.0 * x + 1.0 + noise


def main(smoke: bool = False, out: str | None = None) -> dict:
    """Fit a line with `BacktrackingGD` by `pl.solve`, `pl.sweep` and a resumed checkpoint."""
    x, t = line_fit(32)
    objective = pl.DataMSE(x, t)
    model = eqx.nn.Linear("scalar", "scalar", key=jax.random.key(0))
    steps = 200

    sol = pl.solve(model, objective, BacktrackingGD(), max_steps=steps)
    slope, intercept = np.polyfit(np.asarray(x), np.asarray(t), 1)  # the exact answer
    fitted = np.array([float(sol.model.weight[0, 0]), float(sol.model.bias[0])])

    def one(key):  # one fit; pl.sweep vmaps it over the keys in one compiled call
        m = eqx.nn.Linear("scalar", "scalar", key=key)
        return pl.solve(m, objective, BacktrackingGD(), max_steps=steps, throw=False)

    keys = jax.random.split(jax.random.key(1), 4 if smoke else 8)
    swept = pl.sweep(one, keys)

    with tempfile.TemporaryDirectory() as tmp:  # stop after 5 steps, resume to the end
        kw = dict(checkpoint=os.path.join(tmp, "gd.ckpt"), checkpoint_every=5)
        first = pl.solve(model, objective, BacktrackingGD(), max_steps=5, **kw)
        resumed = pl.solve(model, objective, BacktrackingGD(), max_steps=steps, **kw)

    return {
        "reason": sol.reason,
        "steps": int(sol.steps),
        "loss": float(sol.loss),
        "fitted": fitted,
        "polyfit": np.array([slope, intercept]),
        "sweep_losses": np.asarray(swept.loss),
        "sweep_params": np.stack([np.ravel(swept.model.weight), np.ravel(swept.model.bias)], 1),
        "first_steps": int(first.steps),
        "resumed_steps": int(resumed.steps),
        "resumed_loss": float(resumed.loss),
        "resumed_fitted": np.array(
            [float(resumed.model.weight[0, 0]), float(resumed.model.bias[0])]
        ),
        "headline": f"BacktrackingGD: {sol.reason} after {int(sol.steps)} steps, "
        f"line {fitted[0]:.6f} x + {fitted[1]:.6f} (np.polyfit {slope:.6f} x + {intercept:.6f})",
    }


if __name__ == "__main__":
    from _common import run_cli

    run_cli(main, __doc__)
