r"""Poisson2d-CG: a screened Poisson (Poisson–Boltzmann-like) problem on a square with four holes
(PINNacle `PoissonBoltzmann2D`).

$-\Delta u + k^2 u = f$, $f = A(\mu_1^2 + x^2 + \mu_2^2 + y^2)\sin(\mu_1\pi x)\sin(\mu_2\pi y)$,
$k = 8$, $A = 10$, $\mu = (1, 4)$, on $[-1, 1]^2$ minus the disks $((0.5, 0.5), 0.2)$,
$((0.4, -0.4), 0.4)$, $((-0.2, -0.7), 0.1)$, $((-0.6, 0.5), 0.3)$; $u = 0.2$ on the square's
sides and $u = 1$ on the circles. Reference: COMSOL on 3236 nodes (`poisson_boltzmann2d.dat`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import pinnloss as pl
from pinnloss import pde

from . import Outcome, RectMinusDisks, Spec, finish, least_squares_for, load_reference, mlp

K, AMP, MU = 8.0, 10.0, (1.0, 4.0)
DOMAIN = RectMinusDisks(
    (-1.0, -1.0), (1.0, 1.0),
    ((0.5, 0.5, 0.2), (0.4, -0.4, 0.4), (-0.2, -0.7, 0.1), (-0.6, 0.5, 0.3)),
)  # fmt: skip


def source(x):
    m1, m2 = MU
    return (AMP * (m1**2 + x[0] ** 2 + m2**2 + x[1] ** 2)
            * jnp.sin(m1 * jnp.pi * x[0]) * jnp.sin(m2 * jnp.pi * x[1]))  # fmt: skip


def screened_poisson(model, x):
    return -pde.laplacian(model)(x) + K**2 * model(x) - source(x)


def reference():
    return load_reference("poisson_boltzmann2d.dat", 2, 1)


def run(budget: float = 600.0, seed: int = 0, *, n_interior: int = 3000, n_boundary: int = 1000,
        width: int = 20, depth: int = 3) -> Outcome:  # fmt: skip
    rng = np.random.default_rng(seed)
    xi = DOMAIN.interior(n_interior, rng)
    sq, ci = DOMAIN.boundary(n_boundary, rng)
    model = mlp(2, 1, lo=DOMAIN.lo, hi=DOMAIN.hi, width=width, depth=depth,
                key=jax.random.key(seed))  # fmt: skip
    objective = (
        pl.Residual(screened_poisson, xi, name="pde")
        + pl.Residual(lambda m, x: m(x) - 0.2, sq, name="square")
        + pl.Residual(lambda m, x: m(x) - 1.0, ci, name="circles")
    )
    out = least_squares_for(model, objective, budget)
    fresh = DOMAIN.interior(4 * n_interior, np.random.default_rng(seed + 1000))
    return finish("Poisson2d-CG", out, objective, screened_poisson, fresh)


SPEC = Spec(
    name="Poisson2d-CG",
    pinnacle_class="poisson.py PoissonBoltzmann2D",
    input_dim=2,
    output_dim=1,
    vanilla=float("nan"),
    best=1.43e-2,
    best_method="NTK",
    reference=reference,
    run=run,
    recipe=(
        "3x20 tanh net, pl.least_squares on 3000 interior + 1000 boundary points spread by "
        "length (square u = 0.2, circles u = 1)."
    ),
)
