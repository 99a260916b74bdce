"""jinns 1.10.2 rows for benchmarks/pinn.py (imported only when jinns is installed).

Same networks (an `eqx.nn.MLP` wrapped by `jinns.nn.PINN_MLP.create`), same collocation
points (written into jinns' data generator), float64. SSBroyden is jinns' own
`optimizers.scale_by_SSBroyden_family` with its default zoom line search, fed the loss and
gradient functions through `extra_optax_args_and_kwargs` as its docstring asks; Adam is
optax.adam(1e-3). The step count is sized to the budget from a short timed run.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import jinns
import numpy as np
import optax
import pinn_problems as pp
from jinns.solver._utils import GetJinnsVariableName


def callback_value_fn(params, batch, loss):  # jinns rebuilds callbacks from their code
    return loss(params, batch)[0]


def callback_grad_fn(params, batch, loss):
    import jax as _jax

    return _jax.grad(lambda p: loss(p, batch)[0])(params)


EXTRA = {
    "value": GetJinnsVariableName("train_loss_value"),
    "grad_pt": GetJinnsVariableName("grads"),
    "value_fn": callback_value_fn,
    "grad_fn": callback_grad_fn,
    "batch": GetJinnsVariableName("batch"),
    "loss": GetJinnsVariableName("loss"),
}


def _optimizer(name):
    if name == "ssbroyden":
        return jinns.optimizers.scale_by_SSBroyden_family(), EXTRA
    return optax.adam(1e-3), None


def _run(loss, params, data, name, budget, n_probe, steps=None):
    """Solve for the steps that fit `budget` (sized by two probe runs), or exactly `steps`
    (timed from the start, compile included)."""
    opt, extra = _optimizer(name)

    def solve(n):
        out = jinns.solve(n_iter=n, init_params=params, data=data, loss=loss, optimizer=opt,
                          verbose=False, extra_optax_args_and_kwargs=extra)  # fmt: skip
        jax.block_until_ready(out[0])
        return out[0]

    if steps is not None:
        t0 = time.perf_counter()
        out = solve(steps)
        return out, steps, time.perf_counter() - t0
    t0 = time.perf_counter()
    solve(n_probe)
    probe = time.perf_counter() - t0
    t1 = time.perf_counter()
    solve(2 * n_probe)  # same compile cost: the difference is n_probe steps
    per_step = max(time.perf_counter() - t1 - probe, 1e-3 * probe) / n_probe
    compile_s = max(probe - n_probe * per_step, 0.0)
    # timing noise can make the difference tiny: never more than 50× the probe's steps
    n = min(max(int((budget - compile_s) / per_step), n_probe), 50 * n_probe)
    t2 = time.perf_counter()
    out = solve(n)
    return out, n, time.perf_counter() - t2


def poisson(budget, name, steps=None):
    interior, bnd = pp.poisson_points()
    net = eqx.nn.MLP(2, 1, 32, 2, activation=jnp.tanh, key=jax.random.key(0))
    u, nn = jinns.nn.PINN_MLP.create(eq_type="PDEStatio", eqx_network=net)
    params = jinns.parameters.Params(
        nn_params=nn, eq_params={"nu": jnp.asarray(0.0)}
    )  # one key set per process (jinns caches EqParams)

    class Poisson(jinns.loss.PDEStatio):
        def equation(self, x, u, params):
            lap = jinns.loss.laplacian_rev(x, u, params, eq_type="PDEStatio")
            f = 2 * jnp.pi**2 * jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])
            return jnp.atleast_1d(-lap - f)

    data = jinns.data.CubicMeshPDEStatio(key=jax.random.key(0), n=500, nb=100, dim=2,
                                         min_pts=(0.0, 0.0), max_pts=(1.0, 1.0))  # fmt: skip
    data = eqx.tree_at(lambda d: d.omega, data, jnp.asarray(interior))
    loss = jinns.loss.LossPDEStatio(
        u=u,
        loss_weights=jinns.loss.LossWeightsPDEStatio(dyn_loss=1.0, boundary_loss=1.0),
        dynamic_loss=Poisson(),
        boundary_condition=jinns.loss.Dirichlet(),
        params=params,
    )
    n_probe = 10 if name == "ssbroyden" else 100
    p, n, wall = _run(loss, params, data, name, budget, n_probe, steps)
    err = pp.poisson_rel_l2(lambda x: np.asarray(jax.vmap(lambda q: u(q, p))(jnp.asarray(x))))
    return err, f"{n}", wall


def burgers(budget, name):
    b = pp.Burgers()
    net = eqx.nn.MLP(2, 1, b.width, b.depth, activation=jnp.tanh, key=jax.random.key(0))
    u, nn = jinns.nn.PINN_MLP.create(eq_type="PDENonStatio", eqx_network=net)
    params = jinns.parameters.Params(nn_params=nn, eq_params={"nu": jnp.asarray(pp.NU)})
    data = jinns.data.CubicMeshPDENonStatio(
        key=jax.random.key(0), n=len(b.interior), nb=len(b.boundary), ni=len(b.initial),
        dim=1, min_pts=(-1.0,), max_pts=(1.0,), tmin=0.0, tmax=1.0,
    )  # fmt: skip
    loss = jinns.loss.LossPDENonStatio(
        u=u,
        loss_weights=jinns.loss.LossWeightsPDENonStatio(
            dyn_loss=1.0, initial_condition=1.0, boundary_loss=1.0
        ),
        dynamic_loss=jinns.loss.BurgersEquation(),
        boundary_condition=jinns.loss.Dirichlet(),
        initial_condition_fun=lambda x: -jnp.sin(jnp.pi * x),
        params=params,
    )
    n_probe = 10 if name == "ssbroyden" else 100
    p, n, wall = _run(loss, params, data, name, budget, n_probe)
    # jinns' PDENonStatio inputs are (t, x)
    pred = lambda g: np.asarray(jax.vmap(lambda q: u(q[::-1], p))(jnp.asarray(g)))
    return b.rel_l2(pred), f"{n}", wall
