r"""A hand-written Levenberg–Marquardt loop: the compile-time baseline for `pl.least_squares`.

One jitted `lax.while_loop`; each step forms the Jacobian from per-point gradients
(`vmap` of `jacrev` of one point's residual, as pinnloss does), solves the dual system
$(JJ^\top + \mu I)a = r$ by Cholesky, takes $\delta = -J^\top a$, and updates the damping by
Nielsen's rule; optionally a geodesic acceleration from a finite difference, as pinnloss's
default. No history, no guards, no result codes: what a user would write by hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def make_hand_lm(blocks, geodesic: bool = True):
    """`blocks`: a list of `(fn(params_pytree, point) -> scalar residual, points, scale)`;
    returns `solve(params, steps) -> (params, loss)` (jitted, `steps` a traced int)."""

    def build(params0):
        flat0, unravel = ravel_pytree(params0)

        def resid(x):
            p = unravel(x)
            return jnp.concatenate(
                [s * jax.vmap(lambda q, f=f: f(p, q))(pts) for f, pts, s in blocks]
            )

        def jac(x):
            rows = [
                s * jax.vmap(jax.grad(lambda z, q, f=f: f(unravel(z), q)), (None, 0))(x, pts)
                for f, pts, s in blocks
            ]
            return jnp.concatenate(rows)

        def solve_dual(J, mu, b):
            A = J @ J.T + mu * jnp.eye(J.shape[0], dtype=J.dtype)
            c = jax.scipy.linalg.cho_factor(A, lower=True)
            return J.T @ jax.scipy.linalg.cho_solve(c, b)

        def body(carry):
            i, x, r, mu, nu = carry
            J = jac(x)
            mu = jnp.where(mu > 0, mu, 1e-3 * jnp.max(jnp.sum(J**2, 0)))
            delta = -solve_dual(J, mu, r)
            Jd = J @ delta
            step = delta
            if geodesic:
                h = 0.1
                rpp = (2 / h) * ((resid(x + h * delta) - r) / h - Jd)
                acc = -solve_dual(J, mu, rpp)
                ok = 2 * jnp.linalg.norm(acc) <= 0.75 * jnp.linalg.norm(delta)
                step = jnp.where(ok, delta + 0.5 * acc, delta)
            r_new = resid(x + step)
            F, F_new = 0.5 * r @ r, 0.5 * r_new @ r_new
            pred = -(r @ Jd) - 0.5 * Jd @ Jd
            rho = jnp.where(pred > 0, (F - F_new) / jnp.where(pred > 0, pred, 1.0), -1.0)
            accept = rho > 1e-4
            mu_new = jnp.where(accept, mu * jnp.maximum(1 / 3, 1 - (2 * rho - 1) ** 3), mu * nu)
            nu_new = jnp.where(accept, 2.0, 2 * nu)
            x = jnp.where(accept, x + step, x)
            r = jnp.where(accept, r_new, r)
            return i + 1, x, r, mu_new, nu_new

        return flat0, unravel, resid, body

    @jax.jit
    def solve(params, steps):
        flat0, unravel, resid, body = build(params)
        one = jnp.asarray(1.0, flat0.dtype)
        carry = (0, flat0, resid(flat0), -one, 2 * one)
        _, x, r, _, _ = jax.lax.while_loop(lambda c: c[0] < steps, body, carry)
        return unravel(x), r @ r

    return solve
