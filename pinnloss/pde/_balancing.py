r"""Loss balancing (implementation of the public module `pinnloss.balancing`, whose docstring
states the conventions): term weights from gradients, losses or causal slabs."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PRNGKeyArray

from .. import _validate as _v
from .._solvers._base import term_jacobian
from .._terms import AbstractSquareTerm, AbstractTerm, Objective, Residual

__all__ = [
    "reweight",
    "annealing_weights",
    "grad_norm_weights",
    "ntk_weights",
    "ReLoBRaLoState",
    "relobralo_init",
    "relobralo",
    "causal_weights",
    "slab_losses",
    "CausalResidual",
]


# ---------------------------------------------------------------------------------------
# helpers


def _objective(where: str, objective) -> Objective:
    if not isinstance(objective, AbstractTerm):
        raise ValueError(
            f"{where}: objective must be a pinnloss term or pl.Objective; "
            f"got {type(objective).__name__}."
        )
    return Objective.of(objective)


def _fraction(where: str, name: str, x) -> Array:
    """A scalar in [0, 1]: checked now when concrete, by `error_if` when traced."""
    a = _v.check_scalar(where, name, x)
    if _v.is_concrete(x):
        v = float(np.asarray(x))
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{where}: {name} must lie in [0, 1]; got {v}.")
        return a
    return eqx.error_if(a, (a < 0) | (a > 1), f"{where}: {name} must lie in [0, 1].")


def _index(where: str, objective: Objective, name: str) -> int:
    if not isinstance(name, str) or name not in objective.names:
        raise ValueError(
            f"{where}: no term named {name!r}; the objective's terms are {list(objective.names)}."
        )
    return objective.names.index(name)


def _finite(where: str, w: Array, why: str) -> Array:
    return eqx.error_if(w, ~jnp.all(jnp.isfinite(w)), f"{where}: non-finite weights ({why}).")


def _split(model):
    return eqx.partition(model, eqx.is_inexact_array)


def _flat(tree) -> Array:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return jnp.zeros((0,))
    return jnp.concatenate([jnp.ravel(x) for x in leaves])


def _term_grads(where: str, objective: Objective, model) -> list[Array]:
    """The flat gradient of each unweighted term with respect to the model's inexact arrays."""
    params, static = _split(model)
    if not jax.tree_util.tree_leaves(params):
        raise ValueError(f"{where}: the model has no inexact arrays to differentiate.")

    def grad_of(term):
        return _flat(jax.grad(lambda p: jnp.asarray(term(eqx.combine(p, static))))(params))

    return [jax.lax.stop_gradient(grad_of(t)) for t in objective.terms]


def _blend(old: Array, new: Array, alpha: Array) -> Array:
    return jax.lax.stop_gradient((1 - alpha) * old + alpha * new).astype(old.dtype)


# ---------------------------------------------------------------------------------------
# putting weights in


def reweight(objective, weights) -> Objective:
    """`objective` with its term weights replaced by `weights` (same shape), via `eqx.tree_at`.

    Args:
        objective: a `pl.Objective` (a single term is taken as a one-term objective).
        weights: finite non-negative weights, shape `objective.weights.shape`.

    Returns:
        The objective with the new weights; its terms and names are unchanged, so a fit
        with it reuses the compiled loop.

    Example:
        >>> obj = bal.reweight(obj, bal.grad_norm_weights(obj, model))
    """
    where = "reweight"
    obj = _objective(where, objective)
    host = _v.host_value(where, "weights", weights)
    shape = host.shape if host is not None else jnp.shape(weights)
    if tuple(shape) != obj.weights.shape:
        raise ValueError(
            f"{where}: weights has shape {tuple(shape)} but the objective has "
            f"{obj.weights.shape} (terms {list(obj.names)})."
        )
    if host is not None:
        _v.float_dtype(where, "weights", host.dtype)
        bad = ~(np.isfinite(host.astype(np.float64)) & (host >= 0))
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"{where}: weights must be finite and non-negative; got {float(host[i])} "
                f"for term {obj.names[i]!r}."
            )
        w = jnp.asarray(host, obj.weights.dtype)
    else:
        w = jnp.asarray(weights)
        _v.float_dtype(where, "weights", w.dtype)
        w = w.astype(obj.weights.dtype)
        w = eqx.error_if(
            w,
            ~jnp.all(jnp.isfinite(w) & (w >= 0)),
            f"{where}: weights must be finite and non-negative.",
        )
    return eqx.tree_at(lambda o: o.weights, obj, w)


# ---------------------------------------------------------------------------------------
# gradient statistics


def annealing_weights(
    objective,
    model,
    *,
    reference: str = "residual",
    alpha=0.9,
    weighted: bool = True,
) -> Array:
    r"""Learning-rate annealing weights (Wang, Teng & Perdikaris 2021, Algorithm 1).

    With the objective $L = w_r L_r + \sum_{k \ne r} \lambda_k L_k$, the reference term
    $L_r$ (the PDE residual in the paper, where $w_r = 1$) keeps its weight and every
    other term gets

    $$\hat\lambda_k = \frac{\max_\theta |\nabla_\theta (w_r L_r)|}
        {\overline{|\nabla_\theta (\lambda_k L_k)|}}, \qquad
      \lambda_k \leftarrow (1-\alpha)\,\lambda_k + \alpha\,\hat\lambda_k,$$

    the maximum and the mean $\overline{\,\cdot\,}$ taken over all entries of the gradient
    with respect to the model's inexact arrays (the paper recommends $\alpha = 0.9$).
    With $w_r = 1$ this is the paper's update; a reference weighted by $w_r$ is balanced
    by the gradient it contributes to $L$.

    The paper's update has the current weight $\lambda_k$ in the denominator
    (`weighted=True`, the default); the moving average then settles where
    $\lambda_k^2 = \max|\nabla (w_r L_r)| / \overline{|\nabla L_k|}$. With
    `weighted=False` the denominator is $\overline{|\nabla_\theta L_k|}$, whose fixed
    point equalises $\max|\nabla (w_r L_r)|$ and $\overline{|\lambda_k \nabla L_k|}$.

    Args:
        objective: a `pl.Objective`; its current weights are the $\lambda_k$.
        model: the model the terms are evaluated on.
        reference: the name of the reference term (`objective.names`).
        alpha: weight of the new estimate in the moving average, in [0, 1] (array ok).
        weighted: keep $\lambda_k$ in the denominator as the paper does (static).

    Returns:
        New weights, shape `objective.weights.shape` (no gradient flows through them).

    Example:
        >>> w = bal.annealing_weights(obj, model, reference="residual", alpha=0.9)
        >>> obj = bal.reweight(obj, w)

    Reference:
        S. Wang, Y. Teng, P. Perdikaris, "Understanding and mitigating gradient flow
        pathologies in physics-informed neural networks", SIAM J. Sci. Comput. 43 (2021)
        A3055-A3081.
    """
    where = "annealing_weights"
    obj = _objective(where, objective)
    r = _index(where, obj, reference)
    a = _fraction(where, "alpha", alpha)
    grads = _term_grads(where, obj, model)
    old = jax.lax.stop_gradient(obj.weights)
    top = old[r] * jnp.max(jnp.abs(grads[r]))
    means = jnp.stack([jnp.mean(jnp.abs(g)) for g in grads])
    if weighted:
        means = old * means
    hat = (top / means).astype(old.dtype)
    new = _blend(old, hat, a).at[r].set(old[r])
    return _finite(where, new, "a term with zero gradient, or a zero weight with weighted=True")


def grad_norm_weights(objective, model, *, alpha=0.1) -> Array:
    r"""Gradient-norm weights (Wang, Wang & Perdikaris 2023, "An expert's guide").

    $$\hat\lambda_k = \frac{\sum_j \|\nabla_\theta L_j\|_2}{\|\nabla_\theta L_k\|_2},
      \qquad \lambda_k \leftarrow (1-\alpha)\,\lambda_k + \alpha\,\hat\lambda_k,$$

    with each $L_j$ unweighted, so that every weighted gradient $\hat\lambda_k
    \|\nabla L_k\|$ has the same norm $\sum_j\|\nabla L_j\|$. The guide writes the average
    as $\lambda_\text{new} = \alpha'\lambda_\text{old} + (1-\alpha')\hat\lambda$ with
    $\alpha' = 0.9$: that is `alpha = 1 - α' = 0.1` here (the default).

    Args:
        objective: a `pl.Objective`; its current weights are the old $\lambda_k$.
        model: the model the terms are evaluated on.
        alpha: weight of the new estimate, in [0, 1] (array ok).

    Returns:
        New weights, shape `objective.weights.shape` (no gradient flows through them).

    Example:
        >>> obj = bal.reweight(obj, bal.grad_norm_weights(obj, model, alpha=1.0))

    Reference:
        S. Wang, H. Wang, P. Perdikaris, "An expert's guide to training physics-informed
        neural networks", arXiv:2308.08468 (2023).
    """
    where = "grad_norm_weights"
    obj = _objective(where, objective)
    a = _fraction(where, "alpha", alpha)
    norms = jnp.stack([jnp.linalg.norm(g) for g in _term_grads(where, obj, model)])
    old = jax.lax.stop_gradient(obj.weights)
    hat = (jnp.sum(norms) / norms).astype(old.dtype)
    return _finite(where, _blend(old, hat, a), "a term with zero gradient")


def _kernel_trace(where: str, name: str, term, params, static) -> Array:
    r"""$\sum_i \|\nabla_\theta s_i\|^2$ over the term's scaled residuals $s$."""
    if not term.is_square:
        raise ValueError(
            f"{where}: term {name!r} ({type(term).__name__}) is not a mean of squared "
            "residuals, so it has no neural tangent kernel block; use grad_norm_weights "
            "or annealing_weights for it."
        )

    x, unravel = ravel_pytree(params)  # the solvers' Jacobian builder: per-point rows
    return jnp.sum(term_jacobian(term, lambda z: eqx.combine(unravel(z), static), x) ** 2)


def ntk_weights(objective, model, *, alpha=1.0) -> Array:
    r"""Neural-tangent-kernel trace weights (Wang, Yu & Perdikaris 2022, Algorithm 1).

    $$\hat\lambda_k = \frac{\operatorname{Tr} K}{\operatorname{Tr} K_{kk}}, \qquad
      \operatorname{Tr} K = \sum_j \operatorname{Tr} K_{jj}, \qquad
      \operatorname{Tr} K_{kk} = \frac{1}{N_k}\sum_{i=1}^{N_k}
        \|\nabla_\theta r_{k,i}\|_2^2,$$

    then $\lambda_k \leftarrow (1-\alpha)\lambda_k + \alpha\hat\lambda_k$ (the paper
    replaces the weights: `alpha = 1`, the default). $K_{kk} = J_k J_k^\top$ with $J_k$
    the Jacobian of term $k$'s per-point residuals $r_{k,i}$ (the PDE operator applied to
    the network at collocation points, or the network minus the data at boundary
    points) with respect to the model's inexact arrays.

    The $1/N_k$: the paper's losses are means, $L_k = \frac{1}{2N_k}\sum_i r_{k,i}^2$,
    so under gradient flow term $k$'s residuals evolve with the kernel $K_{kk}/N_k$. It
    is computed from `term.scaled_residuals(model)`, the vector $s_k$ whose sum of
    squares is the term's value ($r_k/\sqrt{N_k}$ for a plain mean of squares; weighted
    or whitened terms use their own scaling), as $\operatorname{Tr}(J_{s_k} J_{s_k}^\top)
    = \|J_{s_k}\|_F^2$ — the trace of the term's Gauss-Newton matrix. Terms with a
    per-point form (`pl.Residual`, `pl.DataMSE`) are differentiated one point at a time.

    Args:
        objective: a `pl.Objective` of square terms (`pl.Residual`, `pl.DataMSE`, ...).
        model: the model the residuals are evaluated on.
        alpha: weight of the new estimate, in [0, 1] (array ok).

    Returns:
        New weights, shape `objective.weights.shape` (no gradient flows through them).

    Example:
        >>> obj = bal.reweight(obj, bal.ntk_weights(obj, model))

    Reference:
        S. Wang, X. Yu, P. Perdikaris, "When and why PINNs fail to train: a neural
        tangent kernel perspective", J. Comput. Phys. 449 (2022) 110768.
    """
    where = "ntk_weights"
    obj = _objective(where, objective)
    a = _fraction(where, "alpha", alpha)
    params, static = _split(model)
    if not jax.tree_util.tree_leaves(params):
        raise ValueError(f"{where}: the model has no inexact arrays to differentiate.")
    traces = jnp.stack(
        [_kernel_trace(where, n, t, params, static) for n, t in zip(obj.names, obj.terms)]
    )
    traces = jax.lax.stop_gradient(traces)
    old = jax.lax.stop_gradient(obj.weights)
    hat = (jnp.sum(traces) / traces).astype(old.dtype)
    return _finite(where, _blend(old, hat, a), "a term whose residuals do not depend on the model")


# ---------------------------------------------------------------------------------------
# ReLoBRaLo


class ReLoBRaLoState(eqx.Module):
    """ReLoBRaLo's state: the losses at the start, at the last update, and the last weights."""

    initial_losses: Array
    previous_losses: Array
    weights: Array


def _losses(where: str, name: str, losses, m: int | None = None) -> Array:
    a = _v.as_float(where, name, losses)
    if a.ndim != 1 or (m is not None and a.shape[0] != m):
        need = "(m,)" if m is None else f"({m},)"
        raise ValueError(f"{where}: {name} must have shape {need}; got {a.shape}.")
    return jax.lax.stop_gradient(a)


def relobralo_init(losses, weights=None) -> ReLoBRaLoState:
    """The ReLoBRaLo state at step 0: `losses` (shape `(m,)`) are $L_i(0)$.

    Args:
        losses: the unweighted term values at the start, `objective.term_values(model)`.
        weights: the starting weights $\\lambda_i(0)$; default ones, as in the paper.

    Example:
        >>> state = bal.relobralo_init(obj.term_values(model))
    """
    where = "relobralo_init"
    l0 = _losses(where, "losses", losses)
    w = jnp.ones_like(l0) if weights is None else _losses(where, "weights", weights, l0.shape[0])
    return ReLoBRaLoState(l0, l0, w.astype(l0.dtype))


def _balance(where: str, losses: Array, ref: Array, temperature: Array) -> Array:
    ref = eqx.error_if(
        ref, ~jnp.all(ref > 0), f"{where}: a reference loss is not positive (ratios undefined)."
    )
    m = losses.shape[0]
    return m * jax.nn.softmax(losses / (temperature * ref))


def relobralo(
    losses, state: ReLoBRaLoState, key: PRNGKeyArray, *, alpha, expected_rho, temperature
) -> tuple[Array, ReLoBRaLoState]:
    r"""One ReLoBRaLo update (Bischof & Kraus, relative loss balancing with random lookback).

    With $m$ terms and the unweighted losses $L_i(t)$,

    $$\lambda_i^\text{bal}(t, t') = m\,\frac{\exp\!\big(L_i(t) / (T\,L_i(t'))\big)}
        {\sum_j \exp\!\big(L_j(t) / (T\,L_j(t'))\big)},$$
    $$\lambda_i^\text{hist}(t) = \rho\,\lambda_i(t-1) + (1-\rho)\,\lambda_i^\text{bal}(t, 0),
      \qquad \lambda_i(t) = \alpha\,\lambda_i^\text{hist}(t)
        + (1-\alpha)\,\lambda_i^\text{bal}(t, t-1),$$

    with $\rho \sim \text{Bernoulli}(\mathbb{E}[\rho])$ drawn from `key`: $\rho = 1$ keeps
    the history, $\rho = 0$ looks back to the losses at step 0. Here $\alpha$ is the
    paper's exponential decay, the weight of the *history* (not of the new estimate, as in
    the gradient-based functions of this module). "Step" means one call: the previous
    losses are those of the previous call.

    Args:
        losses: the unweighted term values now, shape `(m,)` (`obj.term_values(model)`).
        state: from `relobralo_init` or the previous call.
        key: a PRNG key for $\rho$.
        alpha: exponential decay $\alpha \in [0, 1]$ (array ok).
        expected_rho: $\mathbb{E}[\rho] \in [0, 1]$ (array ok).
        temperature: $T > 0$ (array ok).

    Returns:
        `(weights, state)`: the new weights (shape `(m,)`, summing to $m$ when the state's
        weights do) and the state for the next call.

    Example:
        >>> w, state = bal.relobralo(obj.term_values(model), state, key, alpha=0.999,
        ...                          expected_rho=0.999, temperature=0.1)
        >>> obj = bal.reweight(obj, w)

    Reference:
        R. Bischof, M. A. Kraus, "Multi-objective loss balancing for physics-informed
        deep learning", arXiv:2110.09813 (2021; journal version 2025).
    """
    where = "relobralo"
    if not isinstance(state, ReLoBRaLoState):
        raise ValueError(
            f"{where}: state must come from relobralo_init; got {type(state).__name__}."
        )
    lt = _losses(where, "losses", losses, state.initial_losses.shape[0])
    a = _fraction(where, "alpha", alpha)
    p = _fraction(where, "expected_rho", expected_rho)
    temp = _v.check_scalar(where, "temperature", temperature, positive=True)
    rho = jax.random.bernoulli(key, p).astype(lt.dtype)
    to_prev = _balance(where, lt, state.previous_losses, temp)
    to_init = _balance(where, lt, state.initial_losses, temp)
    hist = rho * state.weights + (1 - rho) * to_init
    w = jax.lax.stop_gradient(a * hist + (1 - a) * to_prev).astype(state.weights.dtype)
    w = _finite(where, w, "a loss ratio overflowed")
    return w, ReLoBRaLoState(state.initial_losses, lt, w)


# ---------------------------------------------------------------------------------------
# causal weights


def causal_weights(slab_losses, epsilon) -> Array:
    r"""Causal weights for time slabs (Wang, Sankaran & Perdikaris 2024).

    $$w_1 = 1, \qquad w_i = \exp\!\Big(-\varepsilon \sum_{k=1}^{i-1} L_k\Big),$$

    for the residual losses $L_1, \dots, L_M$ of $M$ time slabs in time order, under
    `stop_gradient` (the weights are not trained). The causal loss is
    $\frac1M\sum_i w_i L_i$: a later slab counts once the earlier ones are solved.
    Weights lie in $(0, 1]$ and do not increase with $i$.

    Args:
        slab_losses: shape `(M,)`, non-negative, earliest first (see `slab_losses`).
        epsilon: causality parameter $\varepsilon \ge 0$ (array ok).

    Returns:
        The weights, shape `(M,)`.

    Example:
        >>> w = bal.causal_weights(bal.slab_losses(pde, model, 32), epsilon=1.0)

    Reference:
        S. Wang, S. Sankaran, P. Perdikaris, "Respecting causality for training
        physics-informed neural networks", Comput. Methods Appl. Mech. Engrg. 421
        (2024) 116813.
    """
    where = "causal_weights"
    eps = _v.check_scalar(where, "epsilon", epsilon, nonnegative=True)
    L = _losses(where, "slab_losses", slab_losses)
    before = jnp.cumsum(L) - L  # sum over k < i
    return jax.lax.stop_gradient(jnp.exp(-eps.astype(L.dtype) * before))


def _times(where: str, term, time_axis: int) -> Array:
    if not isinstance(term, Residual):
        raise ValueError(f"{where}: term must be a pl.Residual; got {type(term).__name__}.")
    pts = term.points
    if pts.ndim == 1:
        if time_axis != 0:
            raise ValueError(
                f"{where}: points have shape {pts.shape} (one coordinate), so time_axis "
                f"must be 0; got {time_axis}."
            )
        return pts
    flat = pts.reshape(pts.shape[0], -1)
    if not -flat.shape[1] <= time_axis < flat.shape[1]:
        raise ValueError(
            f"{where}: time_axis {time_axis} is out of range for points of shape {pts.shape}."
        )
    return flat[:, time_axis]


def _slab_index(where: str, t: Array, num_slabs: int, t_range) -> Array:
    if t_range is None:
        t0, t1 = jnp.min(t), jnp.max(t)
    else:
        if len(t_range) != 2:
            raise ValueError(f"{where}: t_range must be (t_start, t_end); got {t_range!r}.")
        t0 = _v.check_scalar(where, "t_range[0]", t_range[0])
        t1 = _v.check_scalar(where, "t_range[1]", t_range[1])
    width = (t1 - t0) / num_slabs
    width = jnp.where(width > 0, width, 1.0)  # all points at one time: one slab holds them
    idx = jnp.floor((t - t0) / width).astype(jnp.int32)
    return jnp.clip(idx, 0, num_slabs - 1)


def slab_losses(term, model, num_slabs: int, *, time_axis: int = 0, t_range=None) -> Array:
    r"""Mean squared residual of a `pl.Residual` in each of `num_slabs` time slabs.

    The time interval $[t_0, t_1]$ (the points' range, or `t_range`) is cut into
    `num_slabs` slabs of equal width; point $x_j$ falls in slab
    $\lfloor (t_j - t_0)/\Delta t \rfloor$ (the last slab holds $t_1$; points outside
    `t_range` join the first or last slab) and

    $$L_i = \frac{1}{|S_i|}\sum_{j \in S_i} |r(x_j)|^2 .$$

    A slab with no points has $L_i = 0$. On a grid of $M$ equally spaced times with
    `num_slabs = M` each slab is one time, as in the paper; the count-weighted mean of the
    $L_i$ is the term's value.

    Args:
        term: a `pl.Residual` whose points hold the time at index `time_axis`.
        model: the model.
        num_slabs: number of slabs $M \ge 1$ (static).
        time_axis: which coordinate of a point is time (0 for scalar points).
        t_range: optional `(t_start, t_end)`; default the points' min and max.

    Returns:
        The slab losses, shape `(num_slabs,)`, earliest first.

    Example:
        >>> L = bal.slab_losses(pl.Residual(heat, txs), model, 16)   # txs[:, 0] is t
    """
    where = "slab_losses"
    m = _v.check_int(where, "num_slabs", num_slabs, minimum=1)
    t = _times(where, term, time_axis)
    r = term.residuals(model)
    sq = jnp.sum(r.reshape(r.shape[0], -1) ** 2, axis=-1)
    idx = _slab_index(where, t, m, t_range)
    total = jax.ops.segment_sum(sq, idx, num_segments=m)
    count = jax.ops.segment_sum(jnp.ones_like(sq), idx, num_segments=m)
    return total / jnp.maximum(count, 1)


class CausalResidual(AbstractSquareTerm):
    r"""A `pl.Residual` weighted causally in time: $\frac1M\sum_i w_i L_i$ (Wang et al. 2024).

    $L_i$ are the slab losses (`slab_losses`) and $w_i$ the causal weights
    (`causal_weights`), recomputed from the current model at every evaluation and held
    constant under differentiation, as in the paper. It is a sum of squares — point $j$ of
    slab $s$ contributes $\sqrt{w_s / (M |S_s|)}\,r(x_j)$ with the weights frozen — so
    `pl.least_squares` and `pl.GaussNewton` minimise it too (a Gauss–Newton step on the
    causally weighted loss, the weights refreshed at every step). `epsilon` is an array,
    so it can be swept or raised between `pl.fit` chunks (`eqx.tree_at`) without
    recompiling.

    Example:
        >>> term = bal.CausalResidual(pl.Residual(heat, txs), num_slabs=32, epsilon=1.0)
        >>> result = pl.fit(model, term + 10.0 * ic, optax.adam(1e-3), steps=5_000)
    """

    residual: Residual
    epsilon: Array
    num_slabs: int = eqx.field(static=True)
    time_axis: int = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self, residual: Residual, num_slabs: int, epsilon, *, time_axis: int = 0, name=None
    ):
        where = "CausalResidual"
        if not isinstance(residual, Residual):
            raise ValueError(
                f"{where}: residual must be a pl.Residual; got {type(residual).__name__}."
            )
        self.num_slabs = _v.check_int(where, "num_slabs", num_slabs, minimum=1)
        _times(where, residual, time_axis)  # checks time_axis
        self.residual = residual
        self.epsilon = _v.check_scalar(where, "epsilon", epsilon, nonnegative=True)
        self.time_axis = time_axis
        self.name = name if name is not None else f"causal_{residual.name}"

    def slab_weights(self, model) -> Array:
        """The current causal weights $w_i$, shape `(num_slabs,)`."""
        return causal_weights(self.slab_losses(model), self.epsilon)

    def slab_losses(self, model) -> Array:
        """The current slab losses $L_i$, shape `(num_slabs,)`."""
        return slab_losses(self.residual, model, self.num_slabs, time_axis=self.time_axis)

    def value(self, model) -> Array:
        L = self.slab_losses(model)
        w = causal_weights(L, self.epsilon)
        return jnp.mean(w * L)

    def residuals(self, model) -> Array:
        """The residual at each point, shape `(N, ...)` (unweighted)."""
        return self.residual.residuals(model)

    def scaled_residuals(self, model) -> Array:
        r"""$\sqrt{w_s / (M |S_s|)}\,r(x_j)$ for each point $j$ of slab $s$, flat: its sum
        of squares is `value(model)`, and no gradient flows through the weights."""
        r = self.residuals(model)
        flat = r.reshape(r.shape[0], -1)
        m = self.num_slabs
        t = _times("CausalResidual", self.residual, self.time_axis)
        idx = _slab_index("CausalResidual", t, m, None)
        sq = jnp.sum(flat**2, axis=-1)
        count = jax.ops.segment_sum(jnp.ones_like(sq), idx, num_segments=m)
        L = jax.ops.segment_sum(sq, idx, num_segments=m) / jnp.maximum(count, 1)
        w = causal_weights(L, self.epsilon)
        scale = jax.lax.stop_gradient(jnp.sqrt(w / (m * jnp.maximum(count, 1))))[idx]
        return jnp.ravel(scale[:, None] * flat)
