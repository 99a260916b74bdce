"""Derivative methods for d^k E / dV^k of a scalar MLP, orders 1-3.

nested jax.grad; forward-over-reverse (jax.jvp of jax.grad, nested); Taylor mode
(jax.experimental.jet). Each is timed for the derivative's value and for its gradient with
respect to the parameters (what a training step pays), jitted, float64.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.experimental import jet


def nested_grad(f, k):
    for _ in range(k):
        f = jax.grad(f)
    return f


def fwd_over_rev(f, k):
    g = jax.grad(f)
    for _ in range(k - 1):
        g = (lambda h: lambda x: jax.jvp(h, (x,), (jnp.ones_like(x),))[1])(g)
    return g


def taylor(f, k):
    def d(x):
        series = [jnp.ones_like(x)] + [jnp.zeros_like(x)] * (k - 1)
        _, out = jet.jet(f, (x,), (series,))
        return out[k - 1]

    return d


METHODS = {"nested grad": nested_grad, "jvp of grad": fwd_over_rev, "jet": taylor}


def compare(model, at, timer, orders=(1, 2, 3), reps: int = 2000, rounds: int = 5):
    """Rows (order, method, value µs, grad µs, value).

    Each timing is one compiled `lax.scan` of `reps` evaluations at shifted points (so no
    call overhead is counted), timed by `timer(fn, *args) -> seconds`, divided by `reps`;
    the methods are timed in interleaved rounds and the best round is kept.
    """
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def repeat(f):
        def run(p, x):
            def body(c, i):
                return c + f(p, x + 1e-6 * i), None

            return jax.lax.scan(body, jnp.zeros_like(x), jnp.arange(reps, dtype=x.dtype))[0]

        return jax.jit(run)

    cases = []
    for k in orders:
        ref = None
        for name, method in METHODS.items():

            def value(p, x, method=method, k=k):
                return method(eqx.combine(p, static), k)(x)

            grad = jax.grad(lambda p, x, value=value: value(p, x) ** 2)
            gsum = lambda p, x, grad=grad: sum(
                jnp.sum(g) for g in jax.tree_util.tree_leaves(grad(p, x))
            )
            val = float(jax.jit(value)(params, at))
            if ref is None:
                ref = val
            assert abs(val - ref) <= 1e-8 * max(1.0, abs(ref)), (name, k, val, ref)
            fv, fg = repeat(value), repeat(gsum)
            jax.block_until_ready((fv(params, at), fg(params, at)))
            cases.append([k, name, fv, fg, val, float("inf"), float("inf")])
    for _ in range(rounds):
        for c in cases:
            c[5] = min(c[5], timer(c[2], params, at))
            c[6] = min(c[6], timer(c[3], params, at))
    return [
        (k, name, 1e6 * tv / reps, 1e6 * tg / reps, val) for k, name, _, _, val, tv, tg in cases
    ]
