r"""Poisson2d-C: Laplace's equation on a square with four holes (PINNacle `Poisson2D_Classic`).

$\Delta u = 0$ on $\Omega = [-\tfrac12, \tfrac12]^2 \setminus \bigcup_k D(c_k, 0.1)$,
$c_k = (\pm0.3, \pm0.3)$; $u = 1$ on the square's sides, $u = 0$ on the four circles.
Reference: COMSOL on 1246 nodes (`poisson1_cg_data.dat`, PINNacle `ref/`). The harness also
scores the fit against an independent solution, `exact` (method of fundamental solutions,
boundary error 3.5e-6 — by the maximum principle, the error everywhere): `l2re_exact` at
20 000 random interior points. COMSOL's nodes are 2.8e-5 from it, so PINNacle's reference
is no floor here.
"""

from __future__ import annotations

import functools
import math

import jax
import numpy as np

import pinnloss as pl
from pinnloss import pde

from . import (
    Outcome,
    Spec,
    boundary_parts,
    finish,
    l2re,
    least_squares_for,
    load_reference,
    mlp,
    predictor,
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


@functools.cache
def _mfs(n_circle: int = 40, n_outer: int = 200):
    """Sources and coefficients of u = c0 + sum_j c_j log|x - s_j|, harmonic in the domain:
    `n_circle` sources on a circle of radius r/2 inside each hole, `n_outer` on the circle of
    radius 1 around the square, fitted by least squares to the boundary data at 4x as many
    boundary points (Fairweather & Karageorghis, Adv. Comput. Math. 9 (1998) 69)."""

    def ring(c, r, n):
        th = 2 * np.pi * np.arange(n) / n
        return np.asarray(c) + r * np.stack([np.cos(th), np.sin(th)], 1)

    src = np.concatenate(
        [ring(c, RADIUS / 2, n_circle) for c in CENTRES] + [ring((0, 0), 1.0, n_outer)]
    )
    square = np.asarray(
        pl.geometry.Rectangle(LO, HI).sample_boundary(4 * n_outer, method="grid")[0]
    )
    xb = np.concatenate([ring(c, RADIUS, 4 * n_circle) for c in CENTRES] + [square])
    ub = np.concatenate([np.zeros(4 * 4 * n_circle), np.ones(len(square))])
    coef, *_ = np.linalg.lstsq(_basis(xb, src), ub, rcond=None)
    return src, coef


def _basis(x, src):
    d = np.linalg.norm(x[:, None, :] - src[None], axis=-1)
    return np.concatenate([np.log(d), np.ones((len(x), 1))], 1)


def exact(x) -> np.ndarray:
    """An independent solution at points `x` (n, 2) (method of fundamental solutions;
    `_mfs`), shape (n, 1)."""
    src, coef = _mfs()
    return (_basis(np.asarray(x, np.float64), src) @ coef)[:, None]


def run(budget: float = 300.0, seed: int = 0, *, n_interior: int = 2000, n_boundary: int = 800,
        width: int = 20, depth: int = 3, bc_weight: float = 100.0,
        **solve_options) -> Outcome:  # fmt: skip
    k_in, k_bd, k_net = jax.random.split(jax.random.key(seed), 3)
    parts = boundary_parts(DOMAIN, n_boundary, k_bd, LENGTHS)
    model = mlp(2, 1, lo=LO, hi=HI, width=width, depth=depth, key=k_net)
    objective = (
        pl.Residual(laplace, DOMAIN, n=n_interior, key=k_in, name="pde")
        + bc_weight * pl.Residual(lambda m, x: m(x) - 1.0, parts["rectangle"], name="square")
        + bc_weight * pl.Residual(lambda m, x: m(x), parts["disk"], name="circles")
    )
    # the boundary terms weighted 100: unweighted, every variant tried stalled at L2RE 2-3e-3
    # (300 s: 3.0e-3 at weight 1, 2.2e-4 at weight 100; the Laplacian's residual near the
    # holes presumably outweighs the walls', not measured term by term); fresh points every
    # 10 steps, so the interior is never fitted point by point (pl.OverfitWarning otherwise)
    solve_options.setdefault("resample", "uniform")
    solve_options.setdefault("resample_every", 10)
    out = least_squares_for(model, objective, budget, **solve_options)
    check = np.asarray(DOMAIN.sample_interior(20_000, key=jax.random.key(12345)))
    predict = predictor(out[0].model)
    return finish("Poisson2d-C", out, objective,
                  extra={"l2re_exact": l2re(predict(check), exact(check))})  # fmt: skip


SPEC = Spec(
    name="Poisson2d-C",
    pinnacle_class="poisson.py Poisson2D_Classic",
    input_dim=2,
    output_dim=1,
    reference=reference,
    run=run,
    recipe=(
        "3x20 tanh net, pl.least_squares (dense LM) on 2000 interior points redrawn every 10 "
        "steps + 800 boundary points spread by length (square u=1, circles u=0), the boundary "
        "terms weighted 100 (unweighted, the fit stalls at 2-3e-3)."
    ),
)
