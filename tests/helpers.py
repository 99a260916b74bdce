"""Shared test helpers."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def tree_allclose(a, b, *, rtol=None, atol=None):
    """True when two pytrees have the same structure and all leaves are close.

    Tolerances default by dtype: tight for float64, loose for float32.
    """
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    if ta != tb:
        return False
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            return False
        is64 = x.dtype == np.float64 or y.dtype == np.float64
        r = rtol if rtol is not None else (1e-10 if is64 else 1e-5)
        t = atol if atol is not None else (1e-12 if is64 else 1e-6)
        if not np.allclose(x, y, rtol=r, atol=t):
            return False
    return True


class Poly(eqx.Module):
    """f(x) = a + b x + c x^2 + d sin(x): smooth, scalar in, scalar out."""

    c: jax.Array

    def __call__(self, x):
        a, b, c, d = self.c
        return a + b * x + c * x**2 + d * jnp.sin(x)


class Vec(eqx.Module):
    """f(x) = W tanh(A x): vector in (2,), vector out (3,)."""

    A: jax.Array
    W: jax.Array

    def __call__(self, x):
        return self.W @ jnp.tanh(self.A @ x)


def trace_count() -> int:
    """How many programs of the driver's compiled loop JAX holds (its own cache, no counter
    in library code): a new entry is a new trace and compile."""
    from pinnloss._driver import _chunk

    return _chunk._cached._cache_size()
