r"""HNd: the heat equation in the 5-D unit ball (PINNacle `HeatND`, dim = 5, T = 1).

$u_t = \tfrac1d\Delta u + f$, $f = -\tfrac1d|x|^2 e^{|x|^2/2 + t}$ on $B^5 \times [0, 1]$;
Neumann $\partial_n u = e^{|x|^2/2 + t}$ on the sphere, $u(x, 0) = e^{|x|^2/2}$. Exact solution
$u = e^{|x|^2/2 + t}$. PINNacle's test points (its `TesterCallback` on `GeometryXTime`): 800 points
uniform in the ball (random: a hypersphere has no grid) at each of the 25 times
$t = 1 - k/25$, $k = 0..24$; ours are drawn the same way with a fixed seed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import pinnloss as pl

from . import Outcome, Spec, finish, least_squares_for, mlp

DIM = 5


def exact(z):
    """u(x, t) = exp(|x|²/2 + t) at points (n, DIM + 1) (numpy)."""
    z = np.asarray(z, np.float64)
    return np.exp(0.5 * np.sum(z[:, :DIM] ** 2, 1, keepdims=True) + z[:, DIM:])


def ball(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform in the unit ball (DeepXDE's `Hypersphere.random_points`)."""
    g = rng.normal(size=(n, DIM))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return rng.uniform(size=(n, 1)) ** (1 / DIM) * g


def heat(model, z):
    """(1/d) Δ_x u + f − u_t at one point z = (x, t)."""
    g = jax.grad(model)
    lap = sum(jax.jvp(g, (z,), (jnp.eye(DIM + 1)[i],))[1][i] for i in range(DIM))
    x2, t = jnp.sum(z[:DIM] ** 2), z[DIM]
    f = -x2 / DIM * jnp.exp(x2 / 2 + t)
    return lap / DIM + f - g(z)[DIM]


def neumann(model, z):
    """∂_n u − exp(|x|²/2 + t) on the unit sphere (the normal is x)."""
    du = jax.grad(model)(z)[:DIM]
    return jnp.dot(du, z[:DIM]) - jnp.exp(0.5 * jnp.sum(z[:DIM] ** 2) + z[DIM])


def initial(model, z):
    return model(z) - jnp.exp(0.5 * jnp.sum(z[:DIM] ** 2))


def reference():
    x = ball(800, np.random.default_rng(20230615))
    t = np.linspace(1.0, 0.0, 25, endpoint=False)
    z = np.concatenate([np.hstack([x, np.full((800, 1), ti)]) for ti in t])
    return z, exact(z)


def run(budget: float = 600.0, seed: int = 0, *, n_interior: int = 1500, n_boundary: int = 500,
        n_initial: int = 500, width: int = 20, depth: int = 3,
        **solve_options) -> Outcome:  # fmt: skip
    rng = np.random.default_rng(seed)
    k = jax.random.split(jax.random.key(seed), 5)
    unit = pl.geometry.Ball(np.zeros(DIM), 1.0)
    zi = np.hstack([unit.sample_interior(n_interior, key=k[0]), rng.uniform(size=(n_interior, 1))])
    xb = unit.sample_boundary(n_boundary, key=k[1])[0]  # on the sphere the normal is x
    zb = np.hstack([xb, rng.uniform(size=(n_boundary, 1))])
    z0 = np.hstack([unit.sample_interior(n_initial, key=k[2]), np.zeros((n_initial, 1))])
    lo, hi = (-1.0,) * DIM + (0.0,), (1.0,) * DIM + (1.0,)
    model = mlp(DIM + 1, 1, lo=lo, hi=hi, width=width, depth=depth, key=k[3])
    objective = (
        pl.Residual(heat, zi, name="pde")
        + pl.Residual(neumann, zb, name="neumann")
        + pl.Residual(initial, z0, name="initial")
    )
    out = least_squares_for(model, objective, budget, **solve_options)
    fresh = np.hstack(
        [unit.sample_interior(n_interior, key=k[4]), rng.uniform(size=(n_interior, 1))]
    )
    return finish("HNd", out, objective, residual_fn=heat, fresh=fresh)


SPEC = Spec(
    name="HNd",
    pinnacle_class="heat.py HeatND (dim = 5)",
    input_dim=DIM + 1,
    output_dim=1,
    reference=reference,
    run=run,
    recipe=(
        "3x20 tanh net on (x, t) scaled to [-1, 1], pl.least_squares on 1500 interior, 500 "
        "sphere (Neumann) and 500 initial points."
    ),
)
