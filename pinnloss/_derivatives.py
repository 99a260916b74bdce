"""The derivative engine: order-k derivatives of a model, used by the terms and by `eos`.

Scalar input: nested `jax.grad` for orders 1-2 (`jax.jacfwd` at each order whose function
has a non-scalar output), Taylor mode (`jax.experimental.jet`) for orders >= 3 with a
forward-over-reverse fallback. Vector input: `jax.jacrev` for order 1 and `jax.jacfwd`
nested over it for higher orders.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._validate import check_int

__all__ = ["derivative", "scalar_output"]


def derivative(f: Callable, order: int, *, scalar_input: bool = True) -> Callable:
    r"""The order-`order` derivative $\partial^k f$ of `f`, as a function of the same input.

    Args:
        f: a function of one array (a model); for `scalar_input` its input has shape `()`.
        order: $k \ge 1$.
        scalar_input: whether `f` is called on a scalar. Its derivative then has `f`'s
            output shape; for a vector input each order appends the input's shape.

    A model that returns shape `(1,)` per scalar input (as the E(V) nets may) is made
    scalar-valued by `scalar_output(f)` first.

    Example:
        >>> d2 = derivative(lambda v: v**3, 2)
        >>> d2(2.0)   # 12.0
    """
    order = check_int("derivative", "order", order, minimum=1, kind="an integer >= 1")
    if scalar_input and order >= 3:
        return _taylor_derivative(f, order)
    g = f
    for k in range(order):
        if scalar_input:
            g = _scalar_derivative(g)
        else:
            g = jax.jacrev(g) if k == 0 else jax.jacfwd(g)
    return g


def scalar_output(f: Callable, where: str = "derivative", what: str = "one value per input"):
    """`f` with a shape-`(1,)` output reshaped to `()`; any other non-scalar output is refused.

    The `ValueError` reads "`where`: the model must return `what` (shape () or (1,)); got
    shape ...", raised when the derivative is traced.

    Example:
        >>> dE = derivative(scalar_output(model, "eos", "one energy per volume"), 1)
    """

    def g(x):
        out = jnp.asarray(f(x))
        if out.shape not in ((), (1,)):
            raise ValueError(
                f"{where}: the model must return {what} (shape () or (1,)); got shape {out.shape}."
            )
        return jnp.reshape(out, ())

    return g


def _taylor_derivative(f: Callable, order: int) -> Callable:
    """Order >= 3 of a scalar-in, scalar-out `f` by Taylor mode (`jax.experimental.jet`).

    Measured (benchmarks/run.py, MLP 1-32-32-1, float64): for order 3 the gradient of the
    derivative with respect to the parameters costs 0.5-0.8x nested `jax.grad`; orders 1-2
    gain nothing, so they stay nested `jax.grad`. A model with a primitive that jet does
    not know falls back to forward-over-reverse (`jax.jvp` of `jax.grad`, ~0.75x).
    """
    from jax.experimental import jet

    def nested(x):
        g = jax.grad(f)
        for _ in range(order - 1):
            g = (lambda h: lambda y: jax.jvp(h, (y,), (jnp.ones_like(y),))[1])(g)
        return g(x)

    def d(x):
        if jax.eval_shape(f, x).shape != ():
            return _nested_scalar(f, order)(x)  # vector output: jacfwd per order
        series = [jnp.ones_like(x)] + [jnp.zeros_like(x)] * (order - 1)
        try:
            return jet.jet(f, (x,), (series,))[1][order - 1]
        except (KeyError, NotImplementedError, TypeError):
            return nested(x)

    return d


def _nested_scalar(f: Callable, order: int) -> Callable:
    g = f
    for _ in range(order):
        g = _scalar_derivative(g)
    return g


def _scalar_derivative(g: Callable) -> Callable:
    """d/dx of a scalar-input `g`: `jax.grad` for a scalar output, `jax.jacfwd` otherwise."""

    def dg(x):
        out = jax.eval_shape(g, x)
        if out.shape == ():
            return jax.grad(g)(x)
        return jax.jacfwd(g)(x)

    return dg
