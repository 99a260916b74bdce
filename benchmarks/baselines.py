"""Hand-written baselines: a jitted lax.scan Adam loop in JAX, and eager PyTorch."""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from problem import cu_data, loss_fn

B1, B2, EPS = 0.9, 0.999, 1e-8


def adam_loop(params, static, data, lr, steps: int, loss=loss_fn):
    """`steps` Adam steps as one lax.scan; the objective's data are arguments, not constants."""

    def value(p):
        return loss(eqx.combine(p, static), data)

    def step(carry, i):
        p, m, v = carry
        val, g = jax.value_and_grad(value)(p)
        m = jax.tree_util.tree_map(lambda m_, g_: B1 * m_ + (1 - B1) * g_, m, g)
        v = jax.tree_util.tree_map(lambda v_, g_: B2 * v_ + (1 - B2) * g_ * g_, v, g)
        t = (i + 1).astype(lr.dtype)
        c1 = 1 - B1**t
        c2 = 1 - B2**t
        p = jax.tree_util.tree_map(
            lambda p_, m_, v_: p_ - lr * (m_ / c1) / (jnp.sqrt(v_ / c2) + EPS), p, m, v
        )
        return (p, m, v), val

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    (params, _, _), losses = jax.lax.scan(step, (params, zeros, zeros), jnp.arange(steps))
    return params, losses


adam_loop_jit = jax.jit(adam_loop, static_argnums=(1, 4, 5))


def objective_loss(model, objective):
    """The loss of a pinnloss objective (the objective travels as a traced argument)."""
    return objective(model)


def run_adam(model, data, lr=1e-3, steps=5000):
    """Run the hand-written loop on an Equinox model; returns (model, losses)."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    p, losses = adam_loop_jit(params, static, data, jnp.asarray(lr, data[0].dtype), steps)
    return eqx.combine(p, static), losses


# ----------------------------------------------------------------------------- PyTorch


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_adam(model, steps: int, lr: float = 1e-3):
    """Eager PyTorch, float64, same MLP weights and objective (double backward for E'')."""
    import torch

    torch.set_num_threads(1)
    v, e, ref = cu_data()
    dt = torch.float64
    to = lambda a: torch.tensor(np.asarray(a), dtype=dt)
    w1, b1, w2, b2, w3, b3 = (
        to(a).requires_grad_() for a in (model.w1, model.b1, model.w2, model.b2, model.w3, model.b3)
    )
    v_c, v_s, e_s = float(model.v_c), float(model.v_s), float(model.e_s)
    V, E = to(v)[:, None], to(e)
    v0 = float(ref["v0"])
    e2 = ref["b0"] / ref["v0"]

    def net(x):  # x: (N, 1) volumes
        h = torch.tanh((x - v_c) / v_s @ w1.T + b1)
        h = torch.tanh(h @ w2.T + b2)
        return e_s * (h @ w3.T + b3)[:, 0]

    params = [w1, b1, w2, b2, w3, b3]
    opt = torch.optim.Adam(params, lr=lr, betas=(B1, B2), eps=EPS)

    def loss():
        mse = torch.mean((net(V) - E) ** 2)
        x0 = torch.tensor([[v0]], dtype=dt, requires_grad=True)
        f0 = net(x0).sum()
        (d1,) = torch.autograd.grad(f0, x0, create_graph=True)
        (d2,) = torch.autograd.grad(d1.sum(), x0, create_graph=True)
        return mse + 1e2 * d1.sum() ** 2 + (d2.sum() - e2) ** 2

    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        val = loss()
        val.backward()
        opt.step()
    dt_s = time.perf_counter() - t0
    return float(val.detach()), dt_s
