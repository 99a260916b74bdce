"""2-D Poisson, the field's first PINN problem: pinnloss's solvers, error against time.

    python benchmarks/pinn.py            # about 6 minutes on a 2-core CPU

−Δu = 2π² sin(πx) sin(πy) on [0, 1]², u = 0 on the boundary (exact u = sin(πx) sin(πy));
MLP 2→32→32→1 tanh (1185 parameters); 500 interior + 100 boundary points; relative L2
error on a 100×100 grid; float64. Wall times include compilation (first call) and are
also given warm (second call). The PINN issue measured on this machine: jinns 1.10.2
SSBroyden 1.6e-6 in 97 s, jinns natural gradient 2.5e-5 in 192 s, jinns Adam 1.4e-3 in 67 s
(20 000 steps); jinns and DeepXDE are not installed here, so they are not rerun.
"""

from __future__ import annotations

import os
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import pinnloss as pl  # noqa: E402


def poisson(model, p):
    lap = jnp.trace(jax.hessian(lambda q: model(q))(p))
    return -lap - 2 * jnp.pi**2 * jnp.sin(jnp.pi * p[0]) * jnp.sin(jnp.pi * p[1])


def boundary(model, p):
    return model(p)


def problem():
    k = jax.random.split(jax.random.key(0), 4)
    interior = jax.random.uniform(k[0], (500, 2))
    t = jax.random.uniform(k[1], (100,))
    side = jax.random.randint(k[2], (100,), 0, 4)
    x = jnp.where(side == 0, 0.0, jnp.where(side == 1, 1.0, t))
    y = jnp.where(side == 2, 0.0, jnp.where(side == 3, 1.0, t))
    obj = pl.Residual(poisson, interior, name="pde") + pl.Residual(
        boundary, jnp.stack([x, y], 1), name="bc"
    )
    model = eqx.nn.MLP(2, "scalar", 32, 2, activation=jnp.tanh, key=k[3])
    return model, obj


def rel_l2(model):
    g = jnp.linspace(0.0, 1.0, 100)
    X, Y = jnp.meshgrid(g, g)
    grid = jnp.stack([X.ravel(), Y.ravel()], 1)
    exact = jnp.sin(jnp.pi * grid[:, 0]) * jnp.sin(jnp.pi * grid[:, 1])
    return float(jnp.linalg.norm(jax.vmap(model)(grid) - exact) / jnp.linalg.norm(exact))


def timed(run):
    t0 = time.perf_counter()
    res = jax.block_until_ready(run())
    t1 = time.perf_counter()
    jax.block_until_ready(run())
    return res, t1 - t0, time.perf_counter() - t1


def main():
    warnings.simplefilter("ignore", pl.UnderdeterminedWarning)  # 600 residuals, 1185 params
    model, obj = problem()
    adam, lbfgs, ssbroyden = optax.adam(1e-3), optax.lbfgs(), pl.optimizers.ssbroyden()
    fit = lambda opt, n: lambda: pl.fit(model, obj, opt, steps=n, progress=False)
    gauss_newton = lambda: pl.solve(model, obj, pl.GaussNewton(), max_steps=200, throw=False)
    rows = [
        (
            "pl.least_squares, defaults (200 steps)",
            lambda: pl.least_squares(model, obj, throw=False),
        ),
        ("pl.solve pl.GaussNewton(), 200 steps (energy natural gradient)", gauss_newton),
        ("pl.fit pl.optimizers.ssbroyden(), 2000 steps", fit(ssbroyden, 2000)),
        ("pl.fit optax.lbfgs, 1000 steps", fit(lbfgs, 1000)),
        ("pl.fit Adam 1e-3, 5000 steps", fit(adam, 5000)),
    ]
    load = os.getloadavg()[0]
    print(f"2-D Poisson, 2-core CPU, jax {jax.__version__}, float64, load {load:.1f}\n")
    print("| solver | rel. L2 | wall, compile included | warm |")
    print("|---|---|---|---|")
    for name, run in rows:
        res, first, warm = timed(run)
        print(f"| {name} | {rel_l2(res.model):.1e} | {first:.1f} s | {warm:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
