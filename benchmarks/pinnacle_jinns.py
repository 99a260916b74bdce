r"""jinns rows for the PINNacle harness (`python benchmarks/pinnacle.py --jinns`).

jinns 1.10.2 (Gangloff et al., https://gitlab.com/mia_jinns/jinns) is not a project
dependency: its metadata pins pytest>=9 and pyright, so it lives outside the venv,

    pip install --no-deps --target /work/jinns_pkgs jinns-1.10.2-py3-none-any.whl

and this module puts that folder (or `$JINNS_PATH`) on `sys.path` when it is imported. Its
runtime needs only jax, equinox, optax, jaxtyping and numpy, all in the venv.

Burgers1d-C with jinns' own pieces: `jinns.loss.BurgersEquation` (u_t + u u_x - nu u_xx,
inputs (t, x)), `jinns.loss.Dirichlet` (u = 0 at x = ±1), the initial condition
u(x, 0) = -sin(pi x) as `initial_condition_fun`, fixed points from
`jinns.data.CubicMeshPDENonStatio` (PINNacle's own counts: 8192 interior, 2048 boundary,
2048 initial), all three loss weights 1. The net is the pinnloss recipe's 3 x 20 tanh
`eqx.nn.MLP`, its inputs mapped to [-1, 1] (jinns' `input_transform`), float64.

Heat2d-MS the same way: the heat residual (`heat2d_ms.heat`) as a `jinns.loss.PDENonStatio`
subclass, zero Dirichlet sides, u(x, y, 0) = sin(20 pi x) sin(pi y), the same point counts,
and the pinnloss recipe's own space-time Fourier-feature net (`heat2d_ms.space_time_net`,
1233 parameters; a plain tanh MLP cannot hold the 20 pi oscillation), errors on PINNacle's
grid and on 20 000 random points (`l2re_random`) as the pinnloss row reports them.

The optimizer is jinns' best, `jinns.optimizers.scale_by_SSBroyden_family()` (SSBroyden with its
zoom line search, fed value and gradient through `extra_optax_args_and_kwargs`, as
benchmarks/pinn_jinns.py runs it), or `optimizer="adam"` (optax.adam(1e-3)).

The wall budget, compile included, is kept inside one `jinns.solve` call: a validation
module (jinns' early-stopping hook, called every step) asks the host clock through
`jax.experimental.io_callback` and stops the loop at `(1 - reserve) * budget` seconds from
the start; the rest is for the prediction and the held-out residual. The error is the
harness's `l2re` against PINNacle's reference and against the exact Cole–Hopf solution
(`burgers1d_c.cole_hopf`), as the pinnloss row reports them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time

JINNS_PATH = os.environ.get("JINNS_PATH", "/work/jinns_pkgs")
if JINNS_PATH not in sys.path:
    sys.path.append(JINNS_PATH)

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jinns  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pinn_jinns  # noqa: E402
from jax.experimental import io_callback  # noqa: E402
from jinns.validation._validation import AbstractValidationModule  # noqa: E402
from pinnacle_problems import Outcome, l2re, overfit_check, predictor  # noqa: E402
from pinnacle_problems import burgers1d_c as b1d  # noqa: E402
from pinnacle_problems import heat2d_ms as h2d  # noqa: E402

# jinns' SSBroyden is fed value and gradient by callbacks, wired as benchmarks/pinn_jinns.py does
SSBROYDEN_EXTRA = pinn_jinns.EXTRA


class _Clock:
    """Host side of the wall-clock stop: counts steps, notes the first one's time."""

    def __init__(self, deadline: float, t0: float):
        self.deadline, self.t0 = deadline, t0
        self.steps, self.first = 0, None

    def __call__(self):
        now = time.perf_counter()
        self.steps += 1
        if self.first is None:
            self.first = now - self.t0
        return np.asarray(now >= self.deadline)


class WallClockStop(AbstractValidationModule):
    """jinns' early-stopping hook used as a wall-clock limit: stop once the host clock
    passes the deadline (checked every `call_every` steps)."""

    clock: _Clock = eqx.field(static=True)
    call_every: int = eqx.field(kw_only=True, default=1)

    def __call__(self, params):
        stop = io_callback(self.clock, jax.ShapeDtypeStruct((), jnp.bool_), ordered=False)
        return self, stop, jnp.asarray(jnp.nan), False


def _optimizer(name: str):
    if name == "ssbroyden":
        return jinns.optimizers.scale_by_SSBroyden_family(), SSBROYDEN_EXTRA
    if name == "adam":
        return optax.adam(1e-3), None
    raise ValueError(f"optimizer: unknown {name!r}; choose 'ssbroyden' or 'adam'.")


def _solve(u, params, data, dynamic_loss, initial_condition_fun, optimizer, budget, reserve,
           t0, max_steps):  # fmt: skip
    """jinns.solve on the three terms (weights 1) until `(1 - reserve) * budget` seconds after
    `t0`. Returns (params, steps, final loss, seconds, first-step seconds)."""
    opt, extra = _optimizer(optimizer)
    loss = jinns.loss.LossPDENonStatio(
        u=u,
        loss_weights=jinns.loss.LossWeightsPDENonStatio(
            dyn_loss=1.0, initial_condition=1.0, boundary_loss=1.0
        ),
        dynamic_loss=dynamic_loss,
        boundary_condition=jinns.loss.Dirichlet(),
        initial_condition_fun=initial_condition_fun,
        params=params,
    )
    clock = _Clock(t0 + (1 - reserve) * budget, t0)
    # verbose=False, yet jinns prints its early stop and 'best parameters' (not the ones used)
    with contextlib.redirect_stdout(io.StringIO()):
        out = jinns.solve(
            n_iter=max_steps, init_params=params, data=data, loss=loss, optimizer=opt,
            verbose=False, extra_optax_args_and_kwargs=extra, validation=WallClockStop(clock),
        )  # fmt: skip
        p, losses = jax.block_until_ready((out[0], out[1]))
    seconds = time.perf_counter() - t0
    steps = int(np.count_nonzero(np.asarray(losses)))  # jinns zero-fills the unused steps
    final = float(losses[steps - 1]) if steps else float("nan")
    return p, steps, final, seconds, (clock.first if clock.first is not None else seconds)


def _heldout(residual, model, region, key, n: int = 4096) -> float:
    """Mean squared PDE residual at `n` fresh uniform points of the problem's region."""
    r = jax.jit(jax.vmap(lambda z: residual(model, z)))(region.uniform(n, key))
    return float(jnp.mean(r**2))


def burgers1d_c(budget: float = 600.0, seed: int = 0, *, optimizer: str = "ssbroyden",
                n_interior: int = 8192, n_initial: int = 2048, n_boundary: int = 2048,
                width: int = 20, depth: int = 3, reserve: float = 0.1,
                max_steps: int = 1_000_000) -> Outcome:  # fmt: skip
    """jinns on Burgers1d-C within `budget` seconds (compile included); see the module."""
    t0 = time.perf_counter()
    k_net, k_data, k_held = jax.random.split(jax.random.key(seed), 3)
    net = eqx.nn.MLP(2, 1, width, depth, activation=jnp.tanh, key=k_net)
    # jinns' PDENonStatio inputs are (t, x): t in [0, 1] mapped to [-1, 1], x already there
    u, nn = jinns.nn.PINN_MLP.create(
        eq_type="PDENonStatio", eqx_network=net,
        input_transform=lambda tx, p: jnp.stack([2 * tx[0] - 1, tx[1]]),
    )  # fmt: skip
    params = jinns.parameters.Params(nn_params=nn, eq_params={"nu": jnp.asarray(b1d.NU)})
    data = jinns.data.CubicMeshPDENonStatio(
        key=k_data, n=n_interior, nb=n_boundary, ni=n_initial, dim=1,
        min_pts=(b1d.LO[0],), max_pts=(b1d.HI[0],), tmin=b1d.LO[1], tmax=b1d.HI[1],
    )  # fmt: skip
    p, steps, final, seconds, first = _solve(
        u, params, data, jinns.loss.BurgersEquation(), lambda x: -jnp.sin(jnp.pi * x),
        optimizer, budget, reserve, t0, max_steps,
    )  # fmt: skip

    def model(z):  # harness order (x, t), scalar out
        return u(jnp.stack([z[1], z[0]]), p)[0]

    predict = predictor(model)
    x, _ = b1d.reference()
    heldout = _heldout(b1d.burgers, model, b1d.INTERIOR, k_held)
    leaves = jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_inexact_array))
    return Outcome(
        predict=predict, solver=f"jinns-{optimizer}", steps=steps, loss=final,
        heldout=heldout, seconds=seconds, compile_seconds=first,
        overfit=overfit_check("Burgers1d-C (jinns)", final, heldout),
        extra={"l2re_cole_hopf": l2re(predict(x), b1d.cole_hopf(x))},
        params=int(sum(v.size for v in leaves)), points=n_interior + n_initial + n_boundary,
    )  # fmt: skip


class _Heat(jinns.loss.PDENonStatio):
    """Heat2d-MS's residual (`heat2d_ms.heat`) on jinns' (t, x, y) inputs."""

    def equation(self, t_x, u, params):
        model = lambda z: u(jnp.concatenate([z[2:], z[:2]]), params)[0]  # noqa: E731
        return jnp.atleast_1d(h2d.heat(model, jnp.concatenate([t_x[1:], t_x[:1]])))


def heat2d_ms(budget: float = 600.0, seed: int = 0, *, optimizer: str = "ssbroyden",
              n_interior: int = 8192, n_initial: int = 2048, n_boundary: int = 2048,
              kx: int = 24, ky: int = 4, width: int = 16, depth: int = 2,
              reserve: float = 0.1, max_steps: int = 1_000_000) -> Outcome:  # fmt: skip
    """jinns on Heat2d-MS within `budget` seconds (compile included), with the pinnloss
    recipe's space-time Fourier-feature net (`heat2d_ms.space_time_net`: its frequencies sit
    behind a stop_gradient, so the optimizer leaves them fixed) on fixed points."""
    t0 = time.perf_counter()
    k_net, k_data, k_held = jax.random.split(jax.random.key(seed), 3)
    net = h2d.space_time_net(kx, ky, width, depth, k_net)
    u, nn = jinns.nn.PINN_MLP.create(
        eq_type="PDENonStatio", eqx_network=net,
        input_transform=lambda txy, p: jnp.concatenate([txy[1:], txy[:1]]),  # to (x, y, t)
    )  # fmt: skip
    params = jinns.parameters.Params(nn_params=nn, eq_params={})
    data = jinns.data.CubicMeshPDENonStatio(
        key=k_data, n=n_interior, nb=n_boundary, ni=n_initial, dim=2,
        min_pts=(0.0, 0.0), max_pts=(1.0, 1.0), tmin=0.0, tmax=h2d.T_END,
    )  # fmt: skip
    p, steps, final, seconds, first = _solve(
        u, params, data, _Heat(),
        lambda x: jnp.atleast_1d(jnp.sin(20 * jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])),
        optimizer, budget, reserve, t0, max_steps,
    )  # fmt: skip

    def model(z):  # harness order (x, y, t), scalar out
        return u(jnp.concatenate([z[2:], z[:2]]), p)[0]

    predict = predictor(model)
    heldout = _heldout(h2d.heat, model, h2d.INTERIOR, k_held)
    # as the pinnloss recipe: PINNacle's grid has only 8 x values, so also 20 000 random points
    check = np.random.default_rng(12345).uniform(size=(20000, 3)) * [1.0, 1.0, h2d.T_END]
    return Outcome(
        predict=predict, solver=f"jinns-{optimizer}", steps=steps, loss=final,
        heldout=heldout, seconds=seconds, compile_seconds=first,
        overfit=overfit_check("Heat2d-MS (jinns)", final, heldout),
        extra={"l2re_random": l2re(predict(check), h2d.exact(check))},
        params=h2d.n_params(net), points=n_interior + n_initial + n_boundary,
    )  # fmt: skip


#: PINNacle problem name -> jinns recipe `run(budget, seed, **options) -> Outcome`.
RECIPES = {"Burgers1d-C": burgers1d_c, "Heat2d-MS": heat2d_ms}
