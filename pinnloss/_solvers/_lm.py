r"""Second order: Levenberg–Marquardt on the stacked residuals of a sum-of-squares objective.

Each step solves $(J^\top J + \mu I)\,\delta = -J^\top r$. How — dense dual ($m\times m$),
dense primal ($n\times n$) or matrix-free conjugate gradients — is a strategy module, as
are the damping rule and the geodesic acceleration.

Why not optimistix.LevenbergMarquardt: it solves the n×n normal equations; on a
1185-parameter E(V) net with 9 residuals that took 5.4 s for 100 steps here, while the
dual m×m form took 10 ms (2-core CPU, float64).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from .._solution import RESULTS
from .._validate import is_concrete
from ._base import AbstractSolver, AbstractState, Problem

__all__ = [
    "AbstractLeastSquares",
    "LevenbergMarquardt",
    "LMState",
    "AbstractLinearSolve",
    "DenseDual",
    "DensePrimal",
    "MatrixFreeCG",
    "AutoLinearSolve",
    "Nielsen",
    "GeodesicFD",
    "GeodesicExact",
]


class Linearisation(NamedTuple):
    """The residuals linearised at an iterate: products with J and Jᵀ and the damped solve."""

    jvp: Callable[[Array], Array]
    vjp: Callable[[Array], Array]
    solve: Callable[[Array, Array], Array]  # (mu, b) -> (JᵀJ + μI)⁻¹ Jᵀ b
    mu0: Callable[[], Array]  # a starting damping, 1e-3 max diag(JᵀJ)
    finite: Array  # whether J is finite


def _solve_psd(A: Array, b: Array) -> Array:
    c = jax.scipy.linalg.cho_factor(A, lower=True)
    return jax.scipy.linalg.cho_solve(c, b)


class AbstractLinearSolve(eqx.Module):
    """How a Levenberg–Marquardt step is solved. `cache` carries a dense J between steps."""

    dense: ClassVar[bool] = True

    @abc.abstractmethod
    def linearise(
        self, resid, jac, x: Array, cache: Array, stale: Array
    ) -> tuple[Linearisation, Array]:
        """Linearise `resid` at `x`; `jac(x)` forms the dense Jacobian; `cache` is the last
        one (recomputed only if `stale`)."""

    def cache_shape(self, m: int, n: int) -> tuple[int, ...]:
        return (m, n) if self.dense else (0,)

    def resolve(self, m: int, n: int, itemsize: int) -> AbstractLinearSolve:
        """The concrete strategy for an m×n Jacobian (itself, except for `AutoLinearSolve`)."""
        return self


def _dense_linearise(form: str, jac, x, cache, stale):
    m, n = cache.shape
    J = jax.lax.cond(stale, jac, lambda _: cache, x)

    def solve(mu, b):
        if form == "dual":
            return J.T @ _solve_psd(J @ J.T + mu * jnp.eye(m, dtype=J.dtype), b)
        return _solve_psd(J.T @ J + mu * jnp.eye(n, dtype=J.dtype), J.T @ b)

    lin = Linearisation(
        jvp=lambda v: J @ v,
        vjp=lambda u: J.T @ u,
        solve=solve,
        mu0=lambda: 1e-3 * jnp.max(jnp.sum(J**2, axis=0)),
        finite=jnp.all(jnp.isfinite(J)),
    )
    return lin, J


class DenseDual(AbstractLinearSolve):
    r"""Form $J$, solve the dual $(JJ^\top + \mu I)a = b$, $\delta = J^\top a$: m×m, for m < n."""

    def linearise(self, resid, jac, x, cache, stale):
        return _dense_linearise("dual", jac, x, cache, stale)


class DensePrimal(AbstractLinearSolve):
    r"""Form $J$ and solve the primal $(J^\top J + \mu I)\delta = J^\top b$: n×n, for m ≥ n."""

    def linearise(self, resid, jac, x, cache, stale):
        return _dense_linearise("primal", jac, x, cache, stale)


class MatrixFreeCG(AbstractLinearSolve):
    r"""Conjugate gradients on $(J^\top J + \mu I)\delta = J^\top b$ from JVP/VJP products.

    $J$ is never formed: memory stays O(m + n) times the model's activations.

    Args:
        tol: relative tolerance of each CG solve.
        maxiter: iteration cap of each CG solve.
        backend: `"jax"` (`jax.scipy.sparse.linalg.cg`, default: ~10 % faster than
            `lineax.CG` on a 1-D Poisson PINN, 2000 points, 1153 parameters: 20 s against
            22 s for 30 LM steps) or `"lineax"`.
        probes: Rademacher probes for the starting damping's diag(JᵀJ) estimate; run one
            after another (`lax.map`), so the memory is that of one product.
    """

    dense: ClassVar[bool] = False
    tol: float | Array = eqx.field(converter=jnp.asarray, default=1e-6)
    maxiter: int = eqx.field(static=True, default=100)
    backend: str = eqx.field(static=True, default="jax")
    probes: int = eqx.field(static=True, default=16)

    def __check_init__(self):
        if self.backend not in ("jax", "lineax"):
            raise ValueError(
                f"MatrixFreeCG: backend must be 'jax' or 'lineax'; got {self.backend!r}."
            )
        bad_iter = isinstance(self.maxiter, bool) or not isinstance(self.maxiter, int)
        if bad_iter or self.maxiter < 1:
            raise ValueError(
                f"MatrixFreeCG: maxiter must be a positive integer; got {self.maxiter!r}."
            )
        if is_concrete(self.tol) and not float(self.tol) > 0:
            raise ValueError(f"MatrixFreeCG: tol must be positive; got {float(self.tol)!r}.")

    def _cg(self, op, b):
        tol = jnp.asarray(self.tol, b.dtype)
        if self.backend == "lineax":
            import lineax as lx

            lop = lx.FunctionLinearOperator(
                op, jax.ShapeDtypeStruct(b.shape, b.dtype), tags=lx.positive_semidefinite_tag
            )
            solver = lx.CG(rtol=tol, atol=0.0, max_steps=self.maxiter)
            return lx.linear_solve(lop, b, solver, throw=False).value
        return jax.scipy.sparse.linalg.cg(op, b, tol=tol, maxiter=self.maxiter)[0]

    def linearise(self, resid, jac, x, cache, stale):
        _, jvp = jax.linearize(resid, x)
        vjp_t = jax.linear_transpose(jvp, x)
        vjp = lambda u: vjp_t(u)[0]
        n = x.size

        def solve(mu, b):
            return self._cg(lambda v: vjp(jvp(v)) + mu * v, vjp(b))

        def mu0():
            # 1e-3 max diag(JᵀJ); diag estimated as E[z ⊙ JᵀJz] over Rademacher z, one probe
            # at a time (a vmap over probes held them all: 14 GB at 1e6 residuals)
            z = jax.random.rademacher(jax.random.key(0), (self.probes, n), x.dtype)
            diag = jax.lax.map(lambda v: v * vjp(jvp(v)), z)
            return 1e-3 * jnp.max(jnp.mean(diag, axis=0))

        lin = Linearisation(jvp=jvp, vjp=vjp, solve=solve, mu0=mu0, finite=jnp.asarray(True))
        return lin, cache


class AutoLinearSolve(AbstractLinearSolve):
    """Pick by shape at trace time: dense while cheap, then Nyström-preconditioned CG while
    J fits in memory, else matrix-free CG.

    With per-point Jacobian rows a dense step is cheap far beyond the old 500-pass rule:
    on 2-D Poisson (m = 600 residuals, n = 1185 parameters) 200 dense dual steps reached a
    relative L2 error of 7.7e-7 in 13 s, where CG with 100 iterations per solve stopped
    near 3e-4 (2-core CPU). Above `cg_threshold` the m×m (or n×n) Gram matrix costs
    m²n flops per step (100 GFLOP at m = 4800, n = 4417), and plain CG under-solves at
    small damping; `NystromCG` keeps J (m·n entries) and preconditions CG with a rank-100
    sketch of JᵀJ (benchmarks/pinn_sizes.py). Beyond `nystrom_limit` entries nothing
    m×n is formed: `MatrixFreeCG`.

    Args:
        cg_threshold: not dense when the smaller side exceeds this (min(m, n) >
            cg_threshold: a 4000² Cholesky is ~21 GFLOP per step).
        dense_limit: not dense when a dense J would hold more than this many entries (m·n),
            so a million data points never form a gigabyte Jacobian.
        nystrom_limit, nystrom_min: `NystromCG` when dense is refused, m·n is at most
            `nystrom_limit` (2²⁷ entries: 1 GiB in float64; forming J by rows peaked at
            ~5× that) and min(m, n) exceeds
            `nystrom_min` (a rank-100 sketch is then small beside the Gram matrix); else
            `cg` (a million data points on 97 parameters stays matrix-free).
        cg: the CG settings used when matrix-free CG is picked.
        nystrom: the settings used when `NystromCG` is picked.
    """

    cg_threshold: int = eqx.field(static=True, default=4000)
    dense_limit: int = eqx.field(static=True, default=2**25)
    nystrom_limit: int = eqx.field(static=True, default=2**27)
    nystrom_min: int = eqx.field(static=True, default=1000)
    cg: MatrixFreeCG = MatrixFreeCG()
    nystrom: AbstractLinearSolve | None = None  # NystromCG() (import cycle: set in resolve)

    def linearise(self, resid, jac, x, cache, stale):  # pragma: no cover - resolved first
        raise RuntimeError("AutoLinearSolve must be resolved with .resolve(m, n, itemsize).")

    def resolve(self, m, n, itemsize):
        if min(m, n) <= self.cg_threshold and m * n <= self.dense_limit:
            return DenseDual() if m < n else DensePrimal()
        if m * n <= self.nystrom_limit and min(m, n) > self.nystrom_min:
            if self.nystrom is not None:
                return self.nystrom
            from ._nystrom import NystromCG

            return NystromCG()
        return self.cg


class Nielsen(eqx.Module):
    r"""Nielsen's damping update (1999): $\mu \leftarrow \mu\max(\tfrac13, 1-(2\rho-1)^3)$ on
    success, $\mu \leftarrow \mu\nu$, $\nu \leftarrow 2\nu$ on failure."""

    def update(self, mu, nu, rho, accept):
        mu_acc = mu * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        return jnp.where(accept, mu_acc, mu * nu), jnp.where(accept, 2.0, 2.0 * nu)


class GeodesicFD(eqx.Module):
    r"""Geodesic acceleration (Transtrum & Sethna 2012) from a finite difference of the
    residuals along $\delta$ with step $h$ (0.1, as Transtrum recommends): cheap to compile."""

    h: float | Array = eqx.field(converter=jnp.asarray, default=0.1)

    def second_derivative(self, resid, x, r, delta, Jd):
        h = self.h
        return (2.0 / h) * ((resid(x + h * delta) - r) / h - Jd)


class GeodesicExact(eqx.Module):
    r"""Geodesic acceleration from the exact second directional derivative (nested `jax.jvp`;
    about twice the compile time of `GeodesicFD`)."""

    def second_derivative(self, resid, x, r, delta, Jd):
        return jax.jvp(lambda y: jax.jvp(resid, (y,), (delta,))[1], (x,), (delta,))[1]


class LMState(AbstractState):
    u: Array  # unweighted stacked residuals at the iterate
    jac: Array  # the dense Jacobian cache ((0,) for matrix-free solves)
    stale: Array
    loss: Array
    mu: Array
    nu: Array
    accepted: Array
    result: RESULTS
    initial_loss: Array
    failed_step: Array
    failed_term: Array


class Linearised(NamedTuple):
    """What every least-squares step starts from: the iterate, its residuals and their
    linearisation, and the record of the step."""

    flat: Array
    unravel: Callable
    resid: Callable
    sw: Array  # square roots of the term weights, one per residual
    r: Array  # weighted stacked residuals at `flat`
    F: Array  # half the loss
    lin: Linearisation
    jac: Array
    g: Array  # Jᵀr
    jac_ok: Array
    tol: Array
    atol: Array
    record: Array


def classify(cases: list[tuple[Array, RESULTS]]) -> RESULTS:
    """The result of the first true predicate in `cases`, else `running` (a flat chain of
    `RESULTS.where`, first case first)."""
    result = RESULTS.running
    for pred, item in reversed(cases):
        result = RESULTS.where(pred, item, result)
    return result


class AbstractLeastSquares(AbstractSolver):
    """What the second-order solvers on stacked residuals share: the linear solve, the
    tolerances, the residual sizes (set by `specialise`), the state and its start."""

    converges: ClassVar[bool] = True
    budget_result: ClassVar[RESULTS] = RESULTS.max_steps_reached
    needs_square: ClassVar[bool] = True

    linear_solve: eqx.AbstractVar[AbstractLinearSolve]
    tol: eqx.AbstractVar[Array]
    atol: eqx.AbstractVar[Array]
    sizes: eqx.AbstractVar[tuple[int, ...] | None]

    def _setup(self, problem: Problem, y):
        flat, unravel = ravel_pytree(y)
        sw = problem.sqrt_weights(self.sizes, flat.dtype)
        resid = lambda x: sw * problem.residuals(unravel(x))
        return flat, unravel, sw, resid, sw.size, flat.size

    def _linearise(self, problem: Problem, y, state: LMState, stale: Array) -> Linearised:
        """The shared start of a step: residuals, record, J (recomputed if `stale`), Jᵀr."""
        flat, unravel, sw, resid, _, _ = self._setup(problem, y)
        total, vals = problem.values_from_residuals(state.u, self.sizes)
        r = sw * state.u
        jac_fn = lambda z: sw[:, None] * problem.jacobian(z, unravel, self.sizes)
        lin, jac = self.linear_solve.linearise(resid, jac_fn, flat, state.jac, stale)
        g = lin.vjp(r)
        return Linearised(
            flat=flat,
            unravel=unravel,
            resid=resid,
            sw=sw,
            r=r,
            F=0.5 * state.loss,
            lin=lin,
            jac=jac,
            g=g,
            jac_ok=lin.finite & jnp.all(jnp.isfinite(g)),
            tol=jnp.asarray(self.tol, flat.dtype),
            atol=jnp.asarray(self.atol, flat.dtype),
            record=jnp.concatenate([vals, total[None]]),
        )

    def specialise(self, problem: Problem, y):
        """This solver with the residual sizes recorded (one trace of the residuals) and its
        linear solve fixed for the problem's shapes."""
        flat, _ = ravel_pytree(y)
        sizes = problem.sizes(y)
        ls = self.linear_solve.resolve(sum(sizes), flat.size, flat.dtype.itemsize)
        return dataclasses.replace(self, linear_solve=ls, sizes=sizes)

    def stats(self, state):
        return dict(super().stats(state), accepted=state.accepted)

    def init(self, problem: Problem, y, state: Any | None = None) -> LMState:
        flat, _, sw, _, m, n = self._setup(problem, y)
        dtype = flat.dtype
        u = problem.residuals(y)
        loss = jnp.sum((sw * u) ** 2)
        finite = jnp.isfinite(loss)
        _, vals = problem.values_from_residuals(u, self.sizes)
        bad = ~jnp.isfinite(vals)
        atol = jnp.asarray(self.atol, dtype)
        result = RESULTS.where(
            ~finite,
            RESULTS.nonfinite_start,
            RESULTS.where(loss <= atol, RESULTS.converged_atol, RESULTS.running),
        )
        if isinstance(state, LMState):  # continue: keep the damping
            mu, nu = state.mu, state.nu
        else:
            mu, nu = jnp.asarray(-1.0, dtype), jnp.asarray(2.0, dtype)
        return LMState(
            u=u,
            jac=jnp.zeros(self.linear_solve.cache_shape(m, n), dtype),
            stale=jnp.asarray(True),
            loss=loss,
            mu=mu,
            nu=nu,
            accepted=jnp.asarray(0, jnp.int32),
            result=result,
            initial_loss=loss,
            failed_step=jnp.where(finite, -1, 0).astype(jnp.int32),
            failed_term=jnp.where(finite, -1, jnp.where(jnp.any(bad), jnp.argmax(bad), -1)).astype(
                jnp.int32
            ),
        )


class LevenbergMarquardt(AbstractLeastSquares):
    r"""Levenberg–Marquardt on the stacked residuals $\sqrt{w_k/n_k}\,r_k$ of the objective.

    Args:
        linear_solve: `AutoLinearSolve()` (default), `DenseDual()`, `DensePrimal()` or
            `MatrixFreeCG(...)`.
        damping: the damping rule (`Nielsen()`).
        geodesic: `GeodesicFD()` (default), `GeodesicExact()` or None.
        tol: stop when a step changes the parameters by less than `tol` relative, or an
            accepted step lowers the loss by less than `tol` relative.
        atol: stop when the loss is at or below `atol`.

    References: K. Levenberg (1944); D. Marquardt (1963); H. B. Nielsen, "Damping parameter
    in Marquardt's method", IMM-REP-1999-05; M. Transtrum & J. Sethna, arXiv:1201.5885.
    """

    linear_solve: AbstractLinearSolve = AutoLinearSolve()
    damping: Nielsen = Nielsen()
    geodesic: GeodesicFD | GeodesicExact | None = GeodesicFD()
    tol: float | Array = eqx.field(converter=jnp.asarray, default=1e-10)
    atol: float | Array = eqx.field(converter=jnp.asarray, default=0.0)
    sizes: tuple[int, ...] | None = eqx.field(static=True, default=None)  # set by specialise

    def step(self, problem: Problem, y, state: LMState, i: Array):
        z = self._linearise(problem, y, state, state.stale)
        flat, r, F, lin, g, tol = z.flat, z.r, z.F, z.lin, z.g, z.tol
        mu = jax.lax.cond(state.mu > 0, lambda: state.mu, lin.mu0)
        mu = jnp.where(mu > 0, mu, 1.0)
        delta = -lin.solve(mu, r)
        Jd = lin.jvp(delta)
        step = delta
        if self.geodesic is not None:
            rpp = self.geodesic.second_derivative(z.resid, flat, r, delta, Jd)
            acc = -lin.solve(mu, rpp)
            ok = 2 * jnp.linalg.norm(acc) <= 0.75 * jnp.linalg.norm(delta)
            step = jnp.where(ok, delta + 0.5 * acc, delta)
        x_new = flat + step
        u_new = problem.residuals(z.unravel(x_new))
        F_new = 0.5 * jnp.sum((z.sw * u_new) ** 2)
        pred = -(g @ delta) - 0.5 * (Jd @ Jd)
        actual = F - F_new
        finite = jnp.isfinite(F_new) & jnp.all(jnp.isfinite(step))
        rho = jnp.where(finite & (pred > 0), actual / jnp.where(pred > 0, pred, 1.0), -1.0)
        accept = (rho > 1e-4) & z.jac_ok
        mu_new, nu_new = self.damping.update(mu, state.nu, rho, accept)
        F2 = jnp.where(accept, F_new, F)
        small_step = jnp.linalg.norm(step) <= tol * (jnp.linalg.norm(flat) + tol)
        result = classify(
            [
                (~z.jac_ok, RESULTS.nonfinite_jacobian),
                (2 * F2 <= z.atol, RESULTS.converged_atol),
                (
                    accept & (jnp.abs(actual) <= tol * F) & (pred <= tol * F),
                    RESULTS.converged_ftol,
                ),
                (finite & small_step, RESULTS.converged_xtol),
                (jnp.all(g == 0), RESULTS.converged_gtol),
                (mu_new > 1e30 / jnp.finfo(flat.dtype).eps, RESULTS.stalled),
            ]
        )
        new_state = LMState(
            u=jnp.where(accept, u_new, state.u),
            jac=z.jac,
            stale=accept,
            loss=2 * F2,
            mu=mu_new,
            nu=nu_new,
            accepted=state.accepted + accept.astype(jnp.int32),
            result=result,
            initial_loss=state.initial_loss,
            failed_step=state.failed_step,
            failed_term=state.failed_term,
        )
        return z.unravel(jnp.where(accept, x_new, flat)), new_state, z.record
