r"""Levenberg–Marquardt with matrix-free conjugate gradients, for many residuals.

`pl.least_squares(..., method="cg")` (and `"auto"` when forming the Jacobian would cost
more than 500 passes) solves each step's $(J^\top J + \mu I)\,\delta = -J^\top r$ by CG on
Jacobian-vector products (`jax.linearize`) and their transposes: $J$ is never formed. The
damping, acceptance and stopping rules are those of the dense solver in `_lsq.py`.

Measured (1-D Poisson, 2000 collocation points + 2 boundary residuals, MLP with 1153
parameters, float64, 2-core CPU): 30 steps took 235 s with the dense primal form (a
`jax.jacfwd` of 1153 tangents through a second derivative) and 20 s with CG
(`jax.scipy.sparse.linalg.cg`; `lineax.CG` 22 s), reaching the same loss (5e-7 against
1.5e-6 after 30 steps).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

# above this many passes for a dense Jacobian (min(m, n)), "auto" picks CG
CG_THRESHOLD = 500


def _cg_solve(op, b, cg_tol, cg_maxiter: int, solver: str):
    """Solve the symmetric positive-definite system `op(x) = b` by conjugate gradients."""
    if solver == "lineax":
        import lineax as lx

        lop = lx.FunctionLinearOperator(
            op, jax.ShapeDtypeStruct(b.shape, b.dtype), tags=lx.positive_semidefinite_tag
        )
        cg = lx.CG(rtol=cg_tol, atol=0.0, max_steps=cg_maxiter)
        return lx.linear_solve(lop, b, cg, throw=False).value
    return jax.scipy.sparse.linalg.cg(op, b, tol=cg_tol, maxiter=cg_maxiter)[0]


@eqx.filter_jit
def lm_cg(
    params,
    static,
    objective,
    max_steps,
    tol,
    atol,
    geodesic: str,
    cg_tol,
    cg_maxiter: int,
    solver: str,
):
    """The LM loop of `_lsq._lm`, with CG solves; returns the same tuple."""
    from ._lsq import _FTOL, _GTOL, _LOSS, _MAXSTEPS, _NONFINITE, _RUNNING, _STALLED, _XTOL

    flat, unravel = ravel_pytree(params)
    vals0 = objective.term_values(eqx.combine(params, static))

    def resid(x):
        return objective.scaled_residuals(eqx.combine(unravel(x), static))

    dtype = flat.dtype
    eps = jnp.finfo(dtype).eps

    def linear(x):
        r, jvp = jax.linearize(resid, x)
        vjp = jax.linear_transpose(jvp, x)
        return r, jvp, lambda u: vjp(u)[0]

    def solve(jvp, vjp, mu, b):
        """`(JᵀJ + μI)⁻¹ Jᵀ b` by CG."""
        return _cg_solve(lambda v: vjp(jvp(v)) + mu * v, vjp(b), cg_tol, cg_maxiter, solver)

    r0, jvp0, vjp0 = linear(flat)
    F0 = 0.5 * jnp.sum(r0**2)
    # μ0 = 1e-3 · max diag(JᵀJ), as the dense solver, with diag(JᵀJ) from a Hutchinson
    # estimate E[z ⊙ JᵀJz] (Rademacher z, 16 probes): no Jacobian is formed
    z = jax.random.rademacher(jax.random.key(0), (16, flat.size), dtype)
    diag = jnp.mean(jax.vmap(lambda v: v * vjp0(jvp0(v)))(z), axis=0)
    mu0 = 1e-3 * jnp.max(diag)
    mu0 = jnp.where(mu0 > 0, mu0, 1.0)

    def body(s):
        x, r, F, mu, nu = s["x"], s["r"], s["F"], s["mu"], s["nu"]
        _, jvp, vjp = linear(x)
        g = vjp(r)
        delta = -solve(jvp, vjp, mu, r)
        step = delta
        Jd = jvp(delta)
        if geodesic != "off":
            # geodesic acceleration (Transtrum & Sethna 2012), as in the dense solver
            if geodesic == "exact":
                rpp = jax.jvp(lambda y: jax.jvp(resid, (y,), (delta,))[1], (x,), (delta,))[1]
            else:
                h = 0.1
                rpp = (2.0 / h) * ((resid(x + h * delta) - r) / h - Jd)
            acc = -solve(jvp, vjp, mu, rpp)
            ok = 2 * jnp.linalg.norm(acc) <= 0.75 * jnp.linalg.norm(delta)
            step = jnp.where(ok, delta + 0.5 * acc, delta)
        x_new = x + step
        r_new = resid(x_new)
        F_new = 0.5 * jnp.sum(r_new**2)
        pred = -(g @ delta) - 0.5 * (Jd @ Jd)
        actual = F - F_new
        finite = jnp.isfinite(F_new) & jnp.all(jnp.isfinite(step))
        rho = jnp.where(finite & (pred > 0), actual / jnp.where(pred > 0, pred, 1.0), -1.0)
        accept = rho > 1e-4
        # Nielsen (1999) damping update
        mu_acc = mu * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        mu_new = jnp.where(accept, mu_acc, mu * nu)
        nu_new = jnp.where(accept, 2.0, 2.0 * nu)
        x2 = jnp.where(accept, x_new, x)
        r2 = jnp.where(accept, r_new, r)
        F2 = jnp.where(accept, F_new, F)
        n = s["n"] + 1
        code = jnp.where(
            2 * F2 <= atol,
            _LOSS,
            jnp.where(
                accept & (jnp.abs(actual) <= tol * F) & (pred <= tol * F),
                _FTOL,
                jnp.where(
                    finite & (jnp.linalg.norm(step) <= tol * (jnp.linalg.norm(x) + tol)),
                    _XTOL,
                    jnp.where(
                        jnp.all(g == 0),
                        _GTOL,
                        jnp.where(
                            mu_new > 1e30 / eps,
                            _STALLED,
                            jnp.where(n >= max_steps, _MAXSTEPS, _RUNNING),
                        ),
                    ),
                ),
            ),
        )
        return dict(
            x=x2,
            r=r2,
            F=F2,
            mu=mu_new,
            nu=nu_new,
            n=n,
            acc=s["acc"] + accept.astype(jnp.int32),
            code=code,
        )

    code0 = jnp.where(
        ~jnp.isfinite(F0),
        _NONFINITE,
        jnp.where(2 * F0 <= atol, _LOSS, jnp.where(max_steps <= 0, _MAXSTEPS, _RUNNING)),
    )
    state = dict(
        x=flat,
        r=r0,
        F=F0,
        mu=mu0,
        nu=jnp.asarray(2.0, dtype),
        n=jnp.asarray(0),
        acc=jnp.asarray(0, jnp.int32),
        code=code0,
    )
    state = jax.lax.while_loop(lambda s: s["code"] == _RUNNING, body, state)
    out = unravel(state["x"]), 2 * state["F"], state["n"], state["acc"], state["code"], 2 * F0
    return out, vals0


@eqx.filter_jit
def lm_auto(
    lm_dense,
    params,
    static,
    objective,
    max_steps,
    tol,
    atol,
    geodesic: str,
    cg_tol,
    cg_maxiter: int,
    solver: str,
):
    """`method="auto"`: CG when a dense Jacobian would cost > CG_THRESHOLD passes.

    The shape test runs at trace time, inside the compiled call, so it costs nothing on
    later calls (an `eval_shape` per call cost ~10 ms, 10x the E(V) solve itself).
    """
    flat, _ = ravel_pytree(params)
    m = jax.eval_shape(lambda p: objective.scaled_residuals(eqx.combine(p, static)), params)
    if min(m.shape[0], flat.size) > CG_THRESHOLD:
        return lm_cg(
            params, static, objective, max_steps, tol, atol, geodesic, cg_tol, cg_maxiter, solver
        )
    return lm_dense(params, static, objective, max_steps, tol, atol, "auto", geodesic)
