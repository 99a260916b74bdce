r"""Poisson2d-C: Laplace's equation on a square with four holes (PINNacle `Poisson2D_Classic`).

$\Delta u = 0$ on $\Omega = [-\tfrac12, \tfrac12]^2 \setminus \bigcup_k D(c_k, 0.1)$,
$c_k = (\pm0.3, \pm0.3)$; $u = 1$ on the square's sides, $u = 0$ on the four circles.
Reference: COMSOL on 1246 nodes (`poisson1_cg_data.dat`, PINNacle `ref/`).
"""

from __future__ import annotations

import jax
import numpy as np

import pinnloss as pl
from pinnloss import pde

from . import Outcome, RectMinusDisks, Spec, finish, least_squares_for, load_reference, mlp

LO, HI = (-0.5, -0.5), (0.5, 0.5)
CENTRES = ((0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3))
RADIUS = 0.1
DOMAIN = RectMinusDisks(LO, HI, tuple((cx, cy, RADIUS) for cx, cy in CENTRES))


def laplace(model, x):
    return pde.laplacian(model)(x)


def reference():
    return load_reference("poisson1_cg_data.dat", 2, 1)


def run(budget: float = 300.0, seed: int = 0, *, n_interior: int = 2000, n_boundary: int = 800,
        width: int = 20, depth: int = 3) -> Outcome:  # fmt: skip
    rng = np.random.default_rng(seed)
    xi = DOMAIN.interior(n_interior, rng)
    sq, ci = DOMAIN.boundary(n_boundary, rng)
    model = mlp(2, 1, lo=LO, hi=HI, width=width, depth=depth, key=jax.random.key(seed))
    objective = (
        pl.Residual(laplace, xi, name="pde")
        + pl.Residual(lambda m, x: m(x) - 1.0, sq, name="square")
        + pl.Residual(lambda m, x: m(x), ci, name="circles")
    )
    out = least_squares_for(model, objective, budget)
    fresh = DOMAIN.interior(4 * n_interior, np.random.default_rng(seed + 1000))
    return finish("Poisson2d-C", out, objective, laplace, fresh)


SPEC = Spec(
    name="Poisson2d-C",
    pinnacle_class="poisson.py Poisson2D_Classic",
    input_dim=2,
    output_dim=1,
    vanilla=6.94e-1,
    best=1.23e-2,
    best_method="NTK",
    reference=reference,
    run=run,
    recipe=(
        "3x20 tanh net, pl.least_squares (dense LM) on 2000 interior + 800 boundary points "
        "spread by length (square u=1, circles u=0)."
    ),
)
