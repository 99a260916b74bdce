r"""Poisson2d-C: Laplace's equation on a square with four holes (PINNacle `Poisson2D_Classic`).

$\Delta u = 0$ on $\Omega = [-\tfrac12, \tfrac12]^2 \setminus \bigcup_k D(c_k, 0.1)$,
$c_k = (\pm0.3, \pm0.3)$; $u = 1$ on the square's sides, $u = 0$ on the four circles.
Reference: COMSOL on 1246 nodes (`poisson1_cg_data.dat`, PINNacle `ref/`).
"""

from __future__ import annotations

import math

import jax

import pinnloss as pl
from pinnloss import pde

from . import (
    Outcome,
    Spec,
    boundary_parts,
    finish,
    least_squares_for,
    load_reference,
    mlp,
    rect_minus_disks,
)

LO, HI = (-0.5, -0.5), (0.5, 0.5)
CENTRES = ((0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3))
RADIUS = 0.1
DOMAIN = rect_minus_disks(LO, HI, [(cx, cy, RADIUS) for cx, cy in CENTRES])
LENGTHS = {"rectangle": 4.0, "disk": 4 * 2 * math.pi * RADIUS}


def laplace(model, x):
    return pde.laplacian(model)(x)


def reference():
    return load_reference("poisson1_cg_data.dat", 2, 1)


def run(budget: float = 300.0, seed: int = 0, *, n_interior: int = 2000, n_boundary: int = 800,
        width: int = 20, depth: int = 3, **solve_options) -> Outcome:  # fmt: skip
    k_in, k_bd, k_net = jax.random.split(jax.random.key(seed), 3)
    parts = boundary_parts(DOMAIN, n_boundary, k_bd, LENGTHS)
    model = mlp(2, 1, lo=LO, hi=HI, width=width, depth=depth, key=k_net)
    objective = (
        pl.Residual(laplace, DOMAIN, n=n_interior, key=k_in, name="pde")
        + pl.Residual(lambda m, x: m(x) - 1.0, parts["rectangle"], name="square")
        + pl.Residual(lambda m, x: m(x), parts["disk"], name="circles")
    )
    out = least_squares_for(model, objective, budget, **solve_options)
    return finish("Poisson2d-C", out, objective)


SPEC = Spec(
    name="Poisson2d-C",
    pinnacle_class="poisson.py Poisson2D_Classic",
    input_dim=2,
    output_dim=1,
    reference=reference,
    run=run,
    recipe=(
        "3x20 tanh net, pl.least_squares (dense LM) on 2000 interior + 800 boundary points "
        "spread by length (square u=1, circles u=0)."
    ),
)
