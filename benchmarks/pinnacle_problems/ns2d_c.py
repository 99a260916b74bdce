r"""NS2d-C: steady lid-driven cavity at Re = 100 (PINNacle `NS2D_LidDriven`, a = 4).

$(\mathbf u\cdot\nabla)\mathbf u + \nabla p = \nu\Delta\mathbf u$, $\nabla\cdot\mathbf u = 0$ on
$[0, 1]^2$, $\nu = 1/100$; lid $u = a\,x(1-x)$, $v = 0$ at $y = 1$ (a = 4: peak speed 1);
$u = v = 0$ on the other walls; $p(0, 0) = 0$. Outputs (u, v, p); PINNacle's L2RE takes all
three together. Reference: COMSOL (`lid_driven_a4.dat`, PINNacle `ref/`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import pinnloss as pl
from pinnloss import pde

from . import Spec, finish, least_squares_for, load_reference, mlp

NU, A = 1 / 100, 4.0
DOMAIN = pl.geometry.Rectangle((0.0, 0.0), (1.0, 1.0))


def navier_stokes(model, x):
    """(momentum x, momentum y, continuity) at one point."""
    w = model(x)
    jac = pde.jacobian(model)(x)  # (3, 2): d(u, v, p)/d(x, y)
    hess = pde.hessian(model)(x)  # (3, 2, 2)
    lap_u, lap_v = jnp.trace(hess[0]), jnp.trace(hess[1])
    u, v = w[0], w[1]
    mx = u * jac[0, 0] + v * jac[0, 1] + jac[2, 0] - NU * lap_u
    my = u * jac[1, 0] + v * jac[1, 1] + jac[2, 1] - NU * lap_v
    return jnp.stack([mx, my, jac[0, 0] + jac[1, 1]])


def walls(n: int, rng: np.random.Generator):
    """n points on the four walls (uniform by length): (lid points, other wall points)."""
    s = rng.uniform(0, 4, n)
    side, t = np.floor(s).astype(int), s - np.floor(s)
    x = np.select([side == 0, side == 1, side == 2], [t, 1.0, t], 0.0)
    y = np.select([side == 0, side == 1, side == 2], [0.0, t, 1.0], t)
    pts = np.stack([x, y], 1)
    return pts[side == 2], pts[side != 2]


def lid(m, x):
    return m(x)[:2] - jnp.stack([A * x[0] * (1 - x[0]), 0.0])


def reference():
    return load_reference("lid_driven_a4.dat", 2, 3)


def run(budget: float = 600.0, seed: int = 0, *, n_interior: int = 2000, n_boundary: int = 400,
        width: int = 20, depth: int = 3, bc_weight: float = 1.0,
        **solve_options):  # fmt: skip
    rng = np.random.default_rng(seed)
    k_in, k_net = jax.random.split(jax.random.key(seed))
    top, rest = walls(n_boundary, rng)
    model = mlp(2, 3, lo=(0, 0), hi=(1, 1), width=width, depth=depth, key=k_net)
    objective = (
        pl.Residual(navier_stokes, DOMAIN, n=n_interior, key=k_in, name="pde")
        + bc_weight * pl.Residual(lid, top, name="lid")
        + bc_weight * pl.Residual(lambda m, x: m(x)[:2], rest, name="walls")
        + pl.Residual(lambda m, x: m(x)[2:], np.zeros((1, 2)), name="pressure")
    )
    # 2000 fixed points overfit (held-out residual 970x the training one after 64 steps);
    # fresh points drawn where the residual is large (RAD): every 50 steps the quiet 600 s run
    # still fitted each draw (loss 4e-9, held-out residual 2.7e-3, L2RE 5.2e-3, warned);
    # every 10 steps 4.4e-3, held-out residual below the loss (bc_weight=10: 4.3e-3)
    solve_options.setdefault("resample", "rad")
    solve_options.setdefault("resample_every", 10)
    out = least_squares_for(model, objective, budget, **solve_options)
    return finish("NS2d-C", out, objective)


SPEC = Spec(
    name="NS2d-C",
    pinnacle_class="ns.py NS2D_LidDriven (a = 4)",
    input_dim=2,
    output_dim=3,
    reference=reference,
    run=run,
    recipe=(
        "one 3x20 tanh net for (u, v, p), pl.least_squares on 2000 interior points redrawn by "
        "RAD every 10 steps (fixed ones, or every 50 steps, overfit: pl.OverfitWarning) + 400 "
        "wall points, and the pressure pinned at (0, 0)."
    ),
)
