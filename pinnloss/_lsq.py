"""`pl.least_squares`: Levenberg–Marquardt on a sum-of-squares objective (a thin entry over
`pl.solve` with `pl.LevenbergMarquardt`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx

from ._solution import Solution
from ._solve import entry
from ._solvers import (
    AutoLinearSolve,
    DenseDual,
    DensePrimal,
    GeodesicExact,
    GeodesicFD,
    LevenbergMarquardt,
    MatrixFreeCG,
)

__all__ = ["least_squares", "LeastSquaresResult"]

LeastSquaresResult = Solution  # the 0.1 name

_METHODS = ("auto", "dual", "primal", "cg")
_GEODESIC = {"fd": GeodesicFD, "exact": GeodesicExact, "off": lambda: None}
# keywords of 0.2 that only restated `solver=`: still accepted, with a DeprecationWarning
_DEPRECATED = {
    "geodesic": "solver=pl.LevenbergMarquardt(geodesic=pl.GeodesicExact() or None)",
    "cg_tol": "solver=pl.LevenbergMarquardt(linear_solve=pl.MatrixFreeCG(tol=...))",
    "cg_maxiter": "solver=pl.LevenbergMarquardt(linear_solve=pl.MatrixFreeCG(maxiter=...))",
    "cg_solver": "solver=pl.LevenbergMarquardt(linear_solve=pl.MatrixFreeCG(backend=...))",
}


def _deprecated_options(where: str, given: dict, solver) -> dict:
    """The 0.2 keywords in `given`, checked and warned about; unknown ones are refused."""
    unknown = sorted(set(given) - set(_DEPRECATED))
    if unknown:
        raise TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r}")
    for name in given:
        warnings.warn(
            f"{where}: {name}= is deprecated (it restates solver=); use {_DEPRECATED[name]}.",
            DeprecationWarning,
            stacklevel=3,
        )
    if given and solver is not None:
        raise ValueError(
            f"{where}: {', '.join(sorted(given))} cannot be given with solver=; set them on "
            "the solver."
        )
    return dict(geodesic="fd", cg_tol=1e-6, cg_maxiter=100, cg_solver="jax") | given


def _solver_from_options(where, tol, atol, method, geodesic, cg_tol, cg_maxiter, cg_solver):
    if geodesic is True or geodesic is False:
        geodesic = "fd" if geodesic else "off"
    if geodesic not in _GEODESIC:
        raise ValueError(f"{where}: geodesic must be 'fd', 'exact' or 'off'; got {geodesic!r}.")
    if method not in _METHODS:
        raise ValueError(
            f"{where}: method must be 'auto', 'dual', 'primal' or 'cg'; got {method!r}."
        )
    if cg_solver not in ("jax", "lineax"):
        raise ValueError(f"{where}: cg_solver must be 'jax' or 'lineax'; got {cg_solver!r}.")
    bad_iter = isinstance(cg_maxiter, bool) or not isinstance(cg_maxiter, int) or cg_maxiter < 1
    if not cg_tol > 0 or bad_iter:
        raise ValueError(
            f"{where}: cg_tol must be positive and cg_maxiter a positive integer; "
            f"got {cg_tol!r} and {cg_maxiter!r}."
        )
    if not tol >= 0 or not atol >= 0:
        raise ValueError(f"{where}: tol and atol must be non-negative; got {tol}, {atol}.")
    cg = MatrixFreeCG(tol=cg_tol, maxiter=int(cg_maxiter), backend=cg_solver)
    linear = {"auto": AutoLinearSolve(cg=cg), "dual": DenseDual(), "primal": DensePrimal()}.get(
        method, cg
    )
    return LevenbergMarquardt(
        linear_solve=linear, geodesic=_GEODESIC[geodesic](), tol=tol, atol=atol
    )


def least_squares(
    model,
    objective,
    *,
    max_steps: int = 200,
    tol: float = 1e-10,
    atol: float = 0.0,
    method: str = "auto",
    filter_spec: Any = eqx.is_inexact_array,
    throw: bool = True,
    solver: LevenbergMarquardt | None = None,
    state: Any = None,
    history: bool = True,
    progress: bool = False,
    callback: Callable[[int, float, Any], Any] | None = None,
    chunk_size: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    time_limit: float | None = None,
    resample: str | None = None,
    resample_every: int | None = None,
    update: Callable[[int, Any, Any], Any] | None = None,
    key: Any = None,
    **deprecated: Any,
) -> Solution:
    r"""Minimise a sum-of-squares objective by Levenberg–Marquardt.

    Each weighted term contributes $\sqrt{w/n}\,r$ to one stacked residual vector
    $r(\theta)$ with $\|r\|^2$ equal to the objective. Each step solves
    $(J^\top J + \mu I)\,\delta = -J^\top r$; when residuals are fewer than parameters
    (the usual physics-informed case) in the dual form $(J J^\top + \mu I)\,a = r$,
    $\delta = -J^\top a$, an $m\times m$ system. $J$ comes from `jax.jacrev` when $m < n$
    and `jax.jacfwd` otherwise. The damping follows Nielsen (1999), with geodesic
    acceleration (Transtrum & Sethna 2012): no tuning needed for E(V) fits.

    `tol`, `atol` and `method` are the shorthands kept for `pl.LevenbergMarquardt(...)`:
    the stopping rule and the choice of linear solve are what users set; anything else
    (damping, geodesic, CG or Nyström settings) is given as `solver=` (then `tol`, `atol`
    and `method` are unused). The 0.2 keywords `geodesic`, `cg_tol`, `cg_maxiter` and
    `cg_solver` still work but warn (`DeprecationWarning`).

    Args:
        model: an Equinox module (or pytree) whose inexact arrays are fitted.
        objective: a square term or weighted sum of square terms.
        max_steps: iteration limit; reaching it without converging ends the solve with
            `pl.RESULTS.max_steps_reached` and the last iterate — not a success
            (`.converged` is False), not an error (no raise, unlike optimistix's
            `throw=True`: a PINN or E(V) user treats a budget as a budget).
        tol: stop when a step changes the parameters by less than `tol` relative, or an
            accepted step lowers the loss by less than `tol` relative.
        atol: stop when the loss is at or below `atol`.
        method: `"auto"`, `"dual"` (m×m), `"primal"` (n×n) or `"cg"` (matrix-free
            conjugate gradients, never forming $J$). `"auto"` is `pl.AutoLinearSolve()`: the
            dual form when m < n, else the primal, while the smaller side is at most 4000
            and a dense $J$ at most 2²⁵ entries; then `pl.NystromCG` while $J$ fits in
            memory, else matrix-free CG.
        solver: a `pl.LevenbergMarquardt` to use instead of the options above, e.g.
            `pl.LevenbergMarquardt(geodesic=None, linear_solve=pl.MatrixFreeCG(tol=1e-8))`.
        state: a previous `.state` to continue from (keeps the damping).
        history, progress, callback, chunk_size, checkpoint, checkpoint_every, time_limit,
            resample, resample_every, update, key: as in `pl.solve` — `time_limit` in seconds
            with compilation (ends with `time_limit_reached`, no error), `resample="rad"`
            redraws the points of `pl.Residual(fn, domain, n=...)` terms, `update` returns
            new weights between chunks (loss balancing); none of them recompiles.
        throw: raise on a failure: a non-finite start or Jacobian (`pl.NonFiniteLossError`,
            naming the term); under `jax.jit` via `eqx.error_if`. Budgets never raise.

    A PDE solve over a domain reports the held-out residual (fresh points) beside the loss
    (`.stats`, `.history`) and warns `pl.OverfitWarning` when the loss is far below it.

    Returns:
        A `pl.Solution` (`.model`, `.loss`, `.steps`, `.reason`, `.converged`, `.history`).

    Example:
        >>> result = pl.least_squares(model, pl.DataMSE(x, y) + 1e2 * pl.Derivative(v0, 1, 0.0))
        >>> result.loss, result.reason
        >>> pde = pl.Residual(poisson, pl.pde.box(0.0, 1.0), n=200)
        >>> sol = pl.least_squares(net, pde, time_limit=60, resample="rad", resample_every=50)
        >>> sol.stats["heldout/residual"]
    """
    where = "least_squares"
    old = _deprecated_options(where, deprecated, solver)
    if solver is None:
        solver = _solver_from_options(where, tol, atol, method, **old)
    elif not isinstance(solver, LevenbergMarquardt):
        raise ValueError(
            f"{where}: solver must be a pl.LevenbergMarquardt; got {type(solver).__name__} "
            "(use pl.solve for other solvers)."
        )
    return entry(
        where, model, objective, solver, max_steps=max_steps, state=state,
        filter_spec=filter_spec, throw=throw, history=history, progress=progress,
        callback=callback, chunk_size=chunk_size, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, time_limit=time_limit, resample=resample,
        resample_every=resample_every, update=update, key=key,
    )  # fmt: skip
