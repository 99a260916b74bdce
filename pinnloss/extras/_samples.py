"""Building blocks the examples need: Langevin sampling and per-sample losses and gradients.

Both are compiled: the sampler is one `lax.scan`, the per-sample functions are `jax.vmap`
over one point's loss (and its `eqx.filter_grad`), so N points cost one traced call.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PyTree

from .._validate import as_data, check_int, check_leading, check_scalar

__all__ = [
    "langevin_sample",
    "per_sample_losses",
    "per_sample_grads",
    "per_sample_grad_norms",
]


def _positive(where: str, arg: str, value) -> Array:
    return check_scalar(where, arg, value, positive=True)


@eqx.filter_jit
def _langevin(energy_fn, x0, key, step_size, temperature, n_steps: int, keep: int):
    grad_e = jax.vmap(jax.grad(lambda x: jnp.asarray(energy_fn(x)).astype(x.dtype)))
    step_size = jnp.asarray(step_size, x0.dtype)
    temperature = jnp.asarray(temperature, x0.dtype)
    noise_scale = jnp.sqrt(2.0 * step_size * temperature)

    def step(x, k):
        xi = jax.random.normal(k, x.shape, x.dtype)
        return x - step_size * grad_e(x) + noise_scale * xi, None

    keys = jax.random.split(key, n_steps)
    if keep == 0:
        x, _ = jax.lax.scan(step, x0, keys)
        return x, None
    every = n_steps // keep

    def block(x, ks):
        x, _ = jax.lax.scan(step, x, ks)
        return x, x

    x, traj = jax.lax.scan(block, x0, keys.reshape(keep, every, *keys.shape[1:]))
    return x, traj


def langevin_sample(
    energy_fn: Callable[[Array], ArrayLike],
    x0: ArrayLike,
    *,
    key: Array,
    step_size: float | ArrayLike,
    n_steps: int,
    temperature: float | ArrayLike = 1.0,
    n_saved: int = 0,
) -> Array | tuple[Array, Array]:
    r"""Draw samples from $p(x) \propto e^{-E(x)/T}$ by unadjusted Langevin dynamics.

    Each of the `N` chains (the leading axis of `x0`) takes `n_steps` steps of

    $x_{t+1} = x_t - \epsilon\,\nabla E(x_t) + \sqrt{2\epsilon T}\,\xi_t,\qquad \xi_t \sim
    \mathcal N(0, I),$

    compiled as one `lax.scan`. `energy_fn` is called on *one* point (like a pinnloss
    model) and returns a scalar; it may be an Equinox module, traced as an argument, so a
    new energy with the same structure does not recompile. On a quadratic energy with
    curvature $a$ the chain is Gaussian with the exact mean and variance
    $T / (a\,(1 - \epsilon a / 2))$, which tends to $T/a$ as $\epsilon \to 0$; no
    Metropolis correction is made.

    Args:
        energy_fn: `energy_fn(x_i) -> scalar`, differentiable in `x_i`.
        x0: starting points, shape `(N, ...)`, floating point.
        key: a JAX PRNG key.
        step_size: $\epsilon > 0$.
        n_steps: number of steps (static).
        temperature: $T > 0$.
        n_saved: if positive, also return `n_saved` snapshots, evenly spaced, the last
            being the final state (`n_steps` must be a multiple of `n_saved`).

    Returns:
        The final points, shape `x0.shape`; with `n_saved`, also the snapshots, shape
        `(n_saved, *x0.shape)`.

    Example:
        >>> energy = lambda x: 0.5 * jnp.sum(x**2)          # standard normal
        >>> x = pl.langevin_sample(energy, jnp.zeros((1000, 2)), key=jax.random.key(0),
        ...                        step_size=1e-2, n_steps=1000)

    Reference: G. O. Roberts and R. L. Tweedie, Bernoulli 2, 341 (1996).
    """
    where = "langevin_sample"
    if not callable(energy_fn):
        raise ValueError(f"{where}: energy_fn must be callable; got {type(energy_fn).__name__}.")
    x0 = as_data(where, "x0", x0, promote=False)
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        raise ValueError(f"{where}: x0 must be floating point; got dtype {x0.dtype}.")
    n_steps = check_int(where, "n_steps", n_steps, minimum=1)
    n_saved = check_int(where, "n_saved", n_saved, minimum=0)
    if n_saved and n_steps % n_saved:
        raise ValueError(f"{where}: n_steps ({n_steps}) must be a multiple of n_saved ({n_saved}).")
    key_ok = isinstance(key, jax.Array) and (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        and key.shape == ()
        or key.dtype == jnp.uint32
        and key.shape == (2,)
    )
    if not key_ok:
        raise ValueError(
            f"{where}: key must be one JAX PRNG key (jax.random.key(seed)); got "
            f"{type(key).__name__} of shape {getattr(key, 'shape', None)}."
        )
    # cast to the chain's dtype (not weakly typed), so a new value never recompiles
    step_size = _positive(where, "step_size", step_size).astype(x0.dtype)
    temperature = _positive(where, "temperature", temperature).astype(x0.dtype)
    try:
        out = jax.eval_shape(energy_fn, x0[0])
    except Exception as e:  # noqa: BLE001 - re-raised with context
        raise ValueError(
            f"{where}: energy_fn failed on one point of shape {x0.shape[1:]}: {e}"
        ) from e
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"{where}: energy_fn must return a scalar for one point of shape {x0.shape[1:]}; "
            f"got shape {getattr(out, 'shape', type(out).__name__)}."
        )
    x, traj = _langevin(energy_fn, x0, key, step_size, temperature, int(n_steps), int(n_saved))
    x = eqx.error_if(
        x,
        ~jnp.all(jnp.isfinite(x)),
        "langevin_sample: the chains became non-finite (is step_size too large for the "
        "curvature of the energy, or the energy unbounded below?)",
    )
    return (x, traj) if n_saved else x


def _check_xy(where: str, loss_fn, x, y) -> tuple[Array, Array]:
    if not callable(loss_fn):
        raise ValueError(f"{where}: loss_fn must be callable; got {type(loss_fn).__name__}.")
    x = as_data(where, "x", x, promote=False)
    y = as_data(where, "y", y, promote=False)
    check_leading(where, x, y)
    return x, y


def _one_loss(loss_fn, model, xi, yi):
    return jnp.asarray(loss_fn(model(xi), yi))


def _check_scalar(where: str, loss_fn, model, x, y) -> None:
    try:
        out = eqx.filter_eval_shape(_one_loss, loss_fn, model, x[0], y[0])
    except ValueError as e:
        raise ValueError(f"{where}: loss_fn(model(x[0]), y[0]) failed: {e}") from e
    if out.shape != ():
        raise ValueError(
            f"{where}: loss_fn(model(x_i), y_i) must be a scalar; got shape {out.shape}."
        )


@eqx.filter_jit
def _per_sample_losses(loss_fn, model, x, y):
    return jax.vmap(lambda xi, yi: _one_loss(loss_fn, model, xi, yi))(x, y)


@eqx.filter_jit
def _per_sample_grads(loss_fn, model, x, y):
    def one(xi, yi):
        return eqx.filter_value_and_grad(lambda m: _one_loss(loss_fn, m, xi, yi))(model)

    return eqx.filter_vmap(one)(x, y)


def per_sample_losses(
    loss_fn: Callable[[Array, Array], ArrayLike], model, x: ArrayLike, y: ArrayLike
) -> Array:
    r"""The loss of each sample, $\ell_i = \ell(f(x_i), y_i)$, shape `(N,)`.

    `loss_fn(prediction, target)` is a pinnloss loss (`pl.losses.mse`, `huber`, …) applied
    to *one* sample; for a mean-type loss the mean of the $\ell_i$ is the full loss.

    Args:
        loss_fn: `loss_fn(model(x_i), y_i) -> scalar`.
        model: called on one point, `model(x_i)`.
        x: inputs, shape `(N, ...)`.
        y: targets, shape `(N, ...)`.

    Example:
        >>> losses = pl.per_sample_losses(pl.losses.mse, model, x, y)
        >>> losses.mean()   # == pl.DataMSE(x, y)(model)
    """
    where = "per_sample_losses"
    x, y = _check_xy(where, loss_fn, x, y)
    _check_scalar(where, loss_fn, model, x, y)
    return _per_sample_losses(loss_fn, model, x, y)


def per_sample_grads(
    loss_fn: Callable[[Array, Array], ArrayLike],
    model,
    x: ArrayLike,
    y: ArrayLike,
    *,
    return_losses: bool = False,
) -> PyTree | tuple[Array, PyTree]:
    r"""The gradient of each sample's loss with respect to the model, $\nabla_\theta \ell_i$.

    `jax.vmap` over `eqx.filter_grad` of one sample's loss: the result has the model's
    structure (non-trainable leaves `None`) with a leading axis of `N` on every array.
    Their mean is the gradient of the mean loss, $\nabla_\theta \frac1N\sum_i \ell_i$.

    Args:
        loss_fn: `loss_fn(model(x_i), y_i) -> scalar`.
        model: an Equinox module (or pytree) called on one point; its inexact arrays are
            the parameters.
        x: inputs, shape `(N, ...)`.
        y: targets, shape `(N, ...)`.
        return_losses: also return the per-sample losses.

    Returns:
        The per-sample gradients (and, with `return_losses`, the losses first).

    Example:
        >>> grads = pl.per_sample_grads(pl.losses.mse, model, x, y)
        >>> grads.weight.shape   # (N, *model.weight.shape)
    """
    losses, grads = _grads_checked("per_sample_grads", loss_fn, model, x, y)
    return (losses, grads) if return_losses else grads


def _grads_checked(where: str, loss_fn, model, x, y):
    x, y = _check_xy(where, loss_fn, x, y)
    _check_scalar(where, loss_fn, model, x, y)
    return _per_sample_grads(loss_fn, model, x, y)


def per_sample_grad_norms(
    loss_fn: Callable[[Array, Array], ArrayLike], model, x: ArrayLike, y: ArrayLike
) -> Array:
    r"""The Euclidean norm of each sample's gradient, $\|\nabla_\theta \ell_i\|$, shape `(N,)`.

    Over all trainable leaves together (see `per_sample_grads`). The points with the
    largest norms are the ones that pull the parameters hardest.

    Example:
        >>> norms = pl.per_sample_grad_norms(pl.losses.mse, model, x, y)
        >>> int(norms.argmax())   # the dominant sample
    """
    _, grads = _grads_checked("per_sample_grad_norms", loss_fn, model, x, y)
    leaves = [g.reshape(g.shape[0], -1) for g in jax.tree_util.tree_leaves(grads)]
    if not leaves:
        raise ValueError("per_sample_grad_norms: the model has no trainable parameters.")
    return jnp.sqrt(sum(jnp.sum(g**2, axis=1) for g in leaves))
