r"""Second order: Levenberg–Marquardt on the stacked residuals of a sum-of-squares objective.

Each step solves $(J^\top J + \mu I)\,\delta = -J^\top r$. How — dense dual ($m\times m$),
dense primal ($n\times n$) or (preconditioned) conjugate gradients — is a linear-solve
strategy (`AbstractLinearSolve`, here and in `_nystrom`); the damping rule
(`AbstractDamping`, `_damping`) and the geodesic acceleration (`AbstractGeodesic`,
`_geodesic`) are strategies too. The step starts from a `Linearised` (`_linearise`).

Why not optimistix.LevenbergMarquardt: it solves the n×n normal equations; on a
1185-parameter E(V) net with 9 residuals that took 5.4 s for 100 steps here, while the
dual m×m form took 10 ms (2-core CPU, float64).
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._solution import RESULTS
from .._validate import is_concrete
from ._base import AbstractSolver, AbstractState, Problem
from ._damping import AbstractDamping, Nielsen
from ._geodesic import AbstractGeodesic, GeodesicFD
from ._linearise import AbstractLinearSolve, Linearisation, Linearised, Residuals
from ._nystrom import NystromCG

__all__ = [
    "AbstractLeastSquares",
    "LevenbergMarquardt",
    "LMState",
    "DenseDual",
    "DensePrimal",
    "MatrixFreeCG",
    "AutoLinearSolve",
]


def _solve_psd(A: Array, b: Array) -> Array:
    c = jax.scipy.linalg.cho_factor(A, lower=True)
    return jax.scipy.linalg.cho_solve(c, b)


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
    nystrom: AbstractLinearSolve | None = None  # None: NystromCG()

    def linearise(self, resid, jac, x, cache, stale):  # pragma: no cover - resolved first
        raise RuntimeError("AutoLinearSolve must be resolved with .resolve(m, n, itemsize).")

    def resolve(self, m, n, itemsize):
        if min(m, n) <= self.cg_threshold and m * n <= self.dense_limit:
            return DenseDual() if m < n else DensePrimal()
        if m * n <= self.nystrom_limit and min(m, n) > self.nystrom_min:
            return NystromCG() if self.nystrom is None else self.nystrom
        return self.cg


class LMState(AbstractState):
    """The state of `LevenbergMarquardt` and `GaussNewton`.

    Fields: `u` (unweighted stacked residuals at the iterate), `jac` (what the linear solve
    keeps between steps: the dense $J$, a sketch, or an empty array), `stale` (whether `jac`
    must be recomputed: after an accepted step), `mu` and `nu` (the damping rule's state),
    `accepted` (steps taken), and the fields of `pl.AbstractState`.
    """

    u: Array
    jac: Array
    stale: Array
    loss: Array
    mu: Array
    nu: Array
    accepted: Array
    result: RESULTS
    initial_loss: Array
    failed_step: Array
    failed_term: Array


def classify(cases: list[tuple[Array, RESULTS]]) -> RESULTS:
    """The result of the first true predicate in `cases`, else `running` (a flat chain of
    `RESULTS.where`, first case first)."""
    result = RESULTS.running
    for pred, item in reversed(cases):
        result = RESULTS.where(pred, item, result)
    return result


def _check_strategy(where: str, name: str, value, cls, optional: bool = False) -> None:
    if isinstance(value, cls) or (optional and value is None):
        return
    none = " or None" if optional else ""
    raise ValueError(
        f"{where}: {name} must be a pl.{cls.__name__}{none}; got {type(value).__name__}."
    )


class AbstractLeastSquares(AbstractSolver):
    """What the second-order solvers on stacked residuals share: the linear solve, the
    tolerances, the state, its start and the linearisation each step starts from."""

    converges: ClassVar[bool] = True
    budget_result: ClassVar[RESULTS] = RESULTS.max_steps_reached
    needs_square: ClassVar[bool] = True

    linear_solve: eqx.AbstractVar[AbstractLinearSolve]
    tol: eqx.AbstractVar[Array]
    atol: eqx.AbstractVar[Array]

    def linearise(self, problem: Problem, y, state: LMState, stale: Array) -> Linearised:
        """The residuals at `y` (from `state.u`) linearised: $J$ recomputed if `stale`, else
        the strategy's cache; the linear solve is resolved for the problem's shapes here."""
        x, resid = Residuals.of(problem, y)
        ls = self.linear_solve.resolve(resid.m, x.size, x.dtype.itemsize)
        # plain functions, not a module and its bound method: lax.cond hashes its branches
        fn, jac = (lambda z: resid(z)), (lambda z: resid.jacobian(z))
        lin, cache = ls.linearise(fn, jac, x, state.jac, stale)
        g = lin.vjp(resid.sqrt_w * state.u)
        return Linearised(resid=resid, x=x, u=state.u, loss=state.loss, lin=lin, cache=cache, g=g)

    def _start(self, problem: Problem, y) -> LMState:
        """The state at `y` with no Jacobian yet (`stale`) and no damping (zero)."""
        x, resid = Residuals.of(problem, y)
        dtype = x.dtype
        u = problem.residuals(y)
        loss = jnp.sum((resid.sqrt_w * u) ** 2)
        finite = jnp.isfinite(loss)
        _, vals = resid.values(u)
        bad = ~jnp.isfinite(vals)
        atol = jnp.asarray(self.atol, dtype)
        result = RESULTS.where(
            ~finite,
            RESULTS.nonfinite_start,
            RESULTS.where(loss <= atol, RESULTS.converged_atol, RESULTS.running),
        )
        ls = self.linear_solve.resolve(resid.m, x.size, dtype.itemsize)
        zero = jnp.zeros((), dtype)
        return LMState(
            u=u,
            jac=jnp.zeros(ls.cache_shape(resid.m, x.size), dtype),
            stale=jnp.asarray(True),
            loss=loss,
            mu=zero,
            nu=zero,
            accepted=jnp.asarray(0, jnp.int32),
            result=result,
            initial_loss=loss,
            failed_step=jnp.where(finite, -1, 0).astype(jnp.int32),
            failed_term=jnp.where(finite, -1, jnp.where(jnp.any(bad), jnp.argmax(bad), -1)).astype(
                jnp.int32
            ),
        )

    def init(self, problem: Problem, y, state: Any | None = None) -> LMState:
        return self._start(problem, y)

    def stats(self, state):
        return dict(super().stats(state), accepted=state.accepted)


class LevenbergMarquardt(AbstractLeastSquares):
    r"""Levenberg–Marquardt on the stacked residuals $\sqrt{w_k/n_k}\,r_k$ of the objective.

    Each step solves $(J^\top J + \mu I)\,\delta = -J^\top r$, corrects $\delta$ by the
    geodesic acceleration, and takes it when the gain ratio $\rho$ (actual over predicted
    decrease) passes the damping rule's test; the rule then moves $\mu$. `init` forms the
    first Jacobian and the starting damping ($10^{-3}\max\operatorname{diag}J^\top J$).

    Args:
        linear_solve: `AutoLinearSolve()` (default), `DenseDual()`, `DensePrimal()`,
            `MatrixFreeCG(...)`, `NystromCG(...)`, or any `pl.AbstractLinearSolve`.
        damping: a `pl.AbstractDamping`: `pl.Nielsen()` (default) or `pl.Multiplicative()`.
        geodesic: a `pl.AbstractGeodesic` — `GeodesicFD()` (default), `GeodesicExact()` —
            or None.
        tol: stop when a step changes the parameters by less than `tol` relative, or an
            accepted step lowers the loss by less than `tol` relative.
        atol: stop when the loss is at or below `atol`.

    Example:
        >>> lm = pl.LevenbergMarquardt(linear_solve=pl.DenseDual(), geodesic=None)
        >>> sol = pl.solve(model, objective, lm, max_steps=200)

    References: K. Levenberg (1944); D. Marquardt (1963); H. B. Nielsen, "Damping parameter
    in Marquardt's method", IMM-REP-1999-05; M. Transtrum & J. Sethna, arXiv:1201.5885.
    """

    linear_solve: AbstractLinearSolve = AutoLinearSolve()
    damping: AbstractDamping = Nielsen()
    geodesic: AbstractGeodesic | None = GeodesicFD()
    tol: float | Array = eqx.field(converter=jnp.asarray, default=1e-10)
    atol: float | Array = eqx.field(converter=jnp.asarray, default=0.0)

    def __check_init__(self):
        where = "LevenbergMarquardt"
        _check_strategy(where, "linear_solve", self.linear_solve, AbstractLinearSolve)
        _check_strategy(where, "damping", self.damping, AbstractDamping)
        _check_strategy(where, "geodesic", self.geodesic, AbstractGeodesic, optional=True)

    def init(self, problem: Problem, y, state: Any | None = None) -> LMState:
        """The state at `y` with its Jacobian formed; `state` (a previous `LMState`)
        continues with its damping."""
        start = self._start(problem, y)
        z = self.linearise(problem, y, start, jnp.asarray(True))
        if isinstance(state, LMState):
            mu, nu = state.mu, state.nu
        else:
            mu, nu = self.damping.init(z.lin.mu0())
        return eqx.tree_at(
            lambda s: (s.jac, s.stale, s.mu, s.nu), start, (z.cache, jnp.asarray(False), mu, nu)
        )

    def step(self, problem: Problem, y, state: LMState, i: Array):
        z = self.linearise(problem, y, state, state.stale)
        x, r, F, lin, g = z.x, z.r, 0.5 * z.loss, z.lin, z.g
        tol, atol = jnp.asarray(self.tol, x.dtype), jnp.asarray(self.atol, x.dtype)
        mu = jnp.where(state.mu > 0, state.mu, 1.0)  # an underflowed damping starts again
        delta = -lin.solve(mu, r)
        Jd = lin.jvp(delta)
        step = delta
        if self.geodesic is not None:
            step = self.geodesic.step(z.resid, x, r, delta, Jd, lambda b: lin.solve(mu, b))
        x_new = x + step
        u_new = z.resid.unweighted(x_new)
        F_new = 0.5 * jnp.sum((z.resid.sqrt_w * u_new) ** 2)
        pred = -(g @ delta) - 0.5 * (Jd @ Jd)
        actual = F - F_new
        finite = jnp.isfinite(F_new) & jnp.all(jnp.isfinite(step))
        rho = jnp.where(finite & (pred > 0), actual / jnp.where(pred > 0, pred, 1.0), -1.0)
        accept = self.damping.accepts(rho) & z.jac_ok
        mu_new, nu_new = self.damping.update(mu, state.nu, rho, accept)
        F2 = jnp.where(accept, F_new, F)
        small_step = jnp.linalg.norm(step) <= tol * (jnp.linalg.norm(x) + tol)
        result = classify(
            [
                (~z.jac_ok, RESULTS.nonfinite_jacobian),
                (2 * F2 <= atol, RESULTS.converged_atol),
                (
                    accept & (jnp.abs(actual) <= tol * F) & (pred <= tol * F),
                    RESULTS.converged_ftol,
                ),
                (finite & small_step, RESULTS.converged_xtol),
                (jnp.all(g == 0), RESULTS.converged_gtol),
                (self.damping.stalled(mu_new), RESULTS.stalled),
            ]
        )
        new_state = LMState(
            u=jnp.where(accept, u_new, state.u),
            jac=z.cache,
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
        return z.unravel(jnp.where(accept, x_new, x)), new_state, z.record
