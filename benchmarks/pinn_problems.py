"""The PINN benchmark problems (2-D Poisson, 1-D viscous Burgers, a 1-D inverse problem) and
their references, shared by benchmarks/pinn.py and its peer rows (jinns, DeepXDE).

Every problem gives its collocation points as numpy arrays, so the peer libraries train on
the very same points, and a `rel_l2(predict)` that takes any `predict(points) -> values`.
"""

from __future__ import annotations

import math

import numpy as np

NU = 0.01 / math.pi  # Burgers viscosity


# ---------------------------------------------------------------- 1-D viscous Burgers


def burgers_exact(x, t, nodes: int = 100) -> np.ndarray:
    r"""Cole–Hopf solution of $u_t + u u_x = \nu u_{xx}$, $u(x, 0) = -\sin\pi x$, $\nu = 0.01/\pi$.

    $u = -\int \sin\pi(x-\eta)\,f(x-\eta)\,e^{-\eta^2/4\nu t}d\eta \big/ \int f(x-\eta)\,
    e^{-\eta^2/4\nu t}d\eta$ with $f(y) = e^{-\cos(\pi y)/2\pi\nu}$, by Gauss–Hermite
    quadrature in $z = \eta/\sqrt{4\nu t}$ (exponents shifted by their maximum: f spans
    e^{±50}). At t = 0 it returns the initial condition. Checked by `check_burgers_exact`
    against Basdevant et al. (1986): max |u_x| = 152.00516 at x = 0, t = 1.6037/π.
    """
    x, t = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(t, np.float64))
    z, w = np.polynomial.hermite.hermgauss(nodes)
    ts = np.maximum(t, 1e-300)[..., None]
    y = x[..., None] - np.sqrt(4 * NU * ts) * z
    a = -np.cos(np.pi * y) / (2 * np.pi * NU)
    e = w * np.exp(a - a.max(-1, keepdims=True))
    u = -np.sum(np.sin(np.pi * y) * e, -1) / np.sum(e, -1)
    return np.where(t > 0, u, -np.sin(np.pi * x))


def check_burgers_exact() -> float:
    """The reference's max slope at x = 0, t = 1.6037/π (Basdevant et al. 1986: 152.00516),
    by a central difference; raises if it is off by more than 1e-6 relative."""
    t, h = 1.6037 / math.pi, 1e-6
    slope = float(abs(burgers_exact(h, t) - burgers_exact(-h, t)) / (2 * h))
    if abs(slope - 152.00516) > 1e-6 * 152.00516:
        raise RuntimeError(f"Cole–Hopf reference is off: max slope {slope}, expected 152.00516")
    return slope


class Burgers:
    """Points (columns x, t) and the reference on a 256 × 100 grid."""

    name = "1-D Burgers ν = 0.01/π"

    def __init__(self, n_interior: int = 3000, n_initial: int = 500, n_boundary: int = 500,
                 seed: int = 0):  # fmt: skip
        rng = np.random.default_rng(seed)
        s = rng.uniform(size=(n_interior, 2))
        self.interior = np.stack([2 * s[:, 0] - 1, s[:, 1]], 1)
        x0 = rng.uniform(-1, 1, n_initial)
        self.initial = np.stack([x0, np.zeros_like(x0)], 1)
        self.initial_u = -np.sin(np.pi * x0)
        tb = rng.uniform(0, 1, n_boundary)
        side = np.where(rng.uniform(size=n_boundary) < 0.5, -1.0, 1.0)
        self.boundary = np.stack([side, tb], 1)
        xg, tg = np.linspace(-1, 1, 256), np.linspace(0, 1, 100)
        X, T = np.meshgrid(xg, tg)
        self.grid = np.stack([X.ravel(), T.ravel()], 1)
        self.exact = burgers_exact(self.grid[:, 0], self.grid[:, 1])

    @property
    def n_points(self) -> int:
        return len(self.interior) + len(self.initial) + len(self.boundary)

    def rel_l2(self, predict) -> float:
        u = np.asarray(predict(self.grid), np.float64).reshape(-1)
        return float(np.linalg.norm(u - self.exact) / np.linalg.norm(self.exact))

    width, depth = 20, 3

    @property
    def n_params(self) -> int:
        w, d = self.width, self.depth
        return 3 * w + (d - 1) * (w * w + w) + w + 1

    def rel_l2_model(self, model) -> float:
        import jax

        return self.rel_l2(jax.vmap(model))


# ---------------------------------------------------------------- 2-D Poisson


def poisson_points(n_interior: int = 500, n_boundary: int = 100):
    """Interior points uniform in [0, 1]² and boundary points uniform on its four sides
    (jax.random, key 0: the points of the PINN issue's measurements)."""
    import jax

    k = jax.random.split(jax.random.key(0), 4)
    interior = jax.random.uniform(k[0], (n_interior, 2))
    t = jax.random.uniform(k[1], (n_boundary,))
    side = jax.random.randint(k[2], (n_boundary,), 0, 4)
    x = np.where(side == 0, 0.0, np.where(side == 1, 1.0, t))
    y = np.where(side == 2, 0.0, np.where(side == 3, 1.0, t))
    return np.asarray(interior, np.float64), np.stack([x, y], 1).astype(np.float64)


def poisson_rel_l2(predict) -> float:
    g = np.linspace(0.0, 1.0, 100)
    X, Y = np.meshgrid(g, g)
    grid = np.stack([X.ravel(), Y.ravel()], 1)
    exact = np.sin(np.pi * grid[:, 0]) * np.sin(np.pi * grid[:, 1])
    u = np.asarray(predict(grid), np.float64).reshape(-1)
    return float(np.linalg.norm(u - exact) / np.linalg.norm(exact))


# ---------------------------------------------------------------- CG accuracy


def cg_check(model, objective, cg, dense, mu_rel=(1e-3, 1e-6, 1e-9)):
    """For each damping μ = mu_rel · max diag(JᵀJ): the relative residual
    ‖(JᵀJ + μI)δ − Jᵀr‖ / ‖Jᵀr‖ of pinnloss's CG and dense solves (checked with the dense
    J), and ‖δ_cg − δ_dense‖ / ‖δ_dense‖. Uses the library's own linear-solve modules."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from pinnloss._solvers._base import Problem
    from pinnloss._terms import Objective

    y, static = eqx.partition(model, eqx.is_inexact_array)
    prob = Problem(Objective.of(objective), static)
    x, unravel = ravel_pytree(y)
    sizes = prob.sizes(y)
    sw = prob.sqrt_weights(sizes, x.dtype)
    resid = lambda z: sw * prob.residuals(unravel(z))
    jac = lambda z: sw[:, None] * prob.jacobian(z, unravel, sizes)
    J, r = jac(x), resid(x)
    m, n = J.shape
    lin_cg, _ = cg.linearise(resid, jac, x, jnp.zeros((0,)), jnp.asarray(True))
    lin_d, _ = dense.linearise(resid, jac, x, jnp.zeros((m, n)), jnp.asarray(True))
    b = J.T @ r
    scale = jnp.max(jnp.sum(J**2, 0))
    out = []
    for rel in mu_rel:
        mu = rel * scale
        res = lambda d, mu=mu: float(
            jnp.linalg.norm(J.T @ (J @ d) + mu * d - b) / jnp.linalg.norm(b)
        )
        d_cg, d_d = jax.jit(lin_cg.solve)(mu, r), lin_d.solve(mu, r)
        diff = float(jnp.linalg.norm(d_cg - d_d) / jnp.linalg.norm(d_d))
        out.append((rel, res(d_cg), res(d_d), diff))
    return out
