"""Curvature of an objective in a model's parameters: the Hessian and its Gauss–Newton part.

Both are dense `(n, n)` matrices over the flattened trainable parameters (the order of
`jax.flatten_util.ravel_pytree`), for looking at loss landscapes and step sizes of small
models. The Gauss–Newton matrix is formed from the solvers' own residual Jacobian.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from ._solvers._base import Problem
from ._solvers._linearise import Residuals
from ._terms import AbstractTerm, Objective

__all__ = ["hessian_matrix", "gauss_newton_matrix"]


def _flat_objective(where: str, objective, model, filter_spec):
    if not isinstance(objective, AbstractTerm):
        raise ValueError(
            f"{where}: objective must be a pinnloss term or Objective; got "
            f"{type(objective).__name__}."
        )
    params, static = eqx.partition(model, filter_spec)
    flat, unravel = ravel_pytree(params)
    if flat.size == 0:
        raise ValueError(f"{where}: the model has no trainable (inexact array) parameters.")
    return flat, lambda p: eqx.combine(unravel(p), static)


@eqx.filter_jit
def hessian_matrix(objective, model, *, filter_spec: Any = eqx.is_inexact_array) -> Array:
    r"""The Hessian $\nabla^2_\theta L(\theta)$ of an objective in the flattened parameters.

    $H_{jk} = \partial^2 L / \partial\theta_j \partial\theta_k$ by `jax.hessian`
    (forward over reverse). For a mean-of-squares objective $L = \sum_i r_i^2$,
    $H = 2J^\top J + 2\sum_i r_i \nabla^2 r_i$: positive semi-definite when the model is
    linear in $\theta$, indefinite in general.

    Args:
        objective: a term or weighted sum of terms (any, square or not).
        model: the point $\theta$, an Equinox module.
        filter_spec: which leaves are parameters (default: all inexact arrays).

    Returns:
        An `(n, n)` array, `n` the number of parameters, in `ravel_pytree` order.

    Example:
        >>> H = pl.hessian_matrix(pl.DataMSE(x, y), model)
        >>> jnp.linalg.eigvalsh(H)
    """
    flat, rebuild = _flat_objective("hessian_matrix", objective, model, filter_spec)
    return jax.hessian(lambda p: objective(rebuild(p)))(flat)


@eqx.filter_jit
def gauss_newton_matrix(objective, model, *, filter_spec: Any = eqx.is_inexact_array) -> Array:
    r"""The Gauss–Newton part $2J^\top J$ of a square objective's Hessian.

    $J$ is the Jacobian of the stacked scaled residuals $r(\theta)$, whose sum of squares
    is the objective, so $2J^\top J$ is the Hessian without the $2\sum_i r_i\nabla^2 r_i$
    term: always positive semi-definite, and equal to the Hessian for a model linear in
    its parameters (or at zero residual). $J$ is built as the least-squares solvers build
    it (`pinnloss._solvers._base.term_jacobian`: per-point rows for pointwise terms).

    Args:
        objective: a square term or weighted sum of square terms.
        model: the point $\theta$.
        filter_spec: which leaves are parameters.

    Returns:
        An `(n, n)` array in `ravel_pytree` order.

    Example:
        >>> G = pl.gauss_newton_matrix(pl.DataMSE(x, y), model)
    """
    _flat_objective("gauss_newton_matrix", objective, model, filter_spec)
    objective = Objective.of(objective)
    if not objective.is_square:
        bad = [n for n, t in zip(objective.names, objective.terms, strict=True) if not t.is_square]
        raise ValueError(
            f"gauss_newton_matrix: term(s) {bad} are not means of squared residuals, so the "
            "objective has no Gauss–Newton matrix; use hessian_matrix."
        )
    params, static = eqx.partition(model, filter_spec)
    x, resid = Residuals.of(Problem(objective, static), params)
    J = resid.jacobian(x)  # the solvers' builder: per-point rows where a term has them
    return 2.0 * J.T @ J
