"""Dense Jacobian of a PDE objective: per-point rows (vmap of each point's gradient) against
`jax.jacrev` of the stacked residual vector.

    python benchmarks/jacobian.py          # about a minute on a 2-core CPU

2-D Poisson −Δu = 2π² sin(πx) sin(πy) on [0, 1]², MLP 2→32→32→1 tanh (1185 parameters),
m interior points; float64; best of 5 after compilation.
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import pinnloss as pl  # noqa: E402
from pinnloss._solvers._base import Problem  # noqa: E402


def poisson(model, p):
    lap = jnp.trace(jax.hessian(lambda q: model(q))(p))
    return -lap - 2 * jnp.pi**2 * jnp.sin(jnp.pi * p[0]) * jnp.sin(jnp.pi * p[1])


def best(f, repeats=5):
    jax.block_until_ready(f())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    model = eqx.nn.MLP(2, "scalar", 32, 2, activation=jnp.tanh, key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    x, unravel = ravel_pytree(params)
    print("| m | per-point rows | jacrev of the stacked vector | ratio | max difference |")
    print("|---|---|---|---|---|")
    for m in (100, 200, 400):
        print(measure(m, x, unravel, static))


def measure(m, x, unravel, static):
    pts = jax.random.uniform(jax.random.key(1), (m, 2))
    problem = Problem(pl.Objective.of(pl.Residual(poisson, pts)), static)
    rows = jax.jit(lambda z: problem.jacobian(z, unravel, (m,)))
    full = jax.jit(jax.jacrev(lambda z: problem.residuals(unravel(z))))
    diff = float(jnp.max(jnp.abs(rows(x) - full(x))))
    t_rows, t_full = best(lambda: rows(x)), best(lambda: full(x))
    return (
        f"| {m} | {1e3 * t_rows:.1f} ms | {1e3 * t_full:.1f} ms | "
        f"{t_full / t_rows:.0f}× faster | {diff:.1e} |"
    )


if __name__ == "__main__":
    main()
