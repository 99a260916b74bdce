"""LQR imitation: a small net imitating an LQR controller, plain MSE against the R-weighted loss.

An inverted pendulum on a cart (states p, θ, ṗ, θ̇) has two actuators: a cart force F
(cheap) and a motor torque τ at the pivot (expensive). Its linearisation, discretised
with a zero-order hold (dt = 0.02 s), has the LQR controller u = −K x with

    P = Q + Aᵀ P A − Aᵀ P B (R + Bᵀ P B)⁻¹ Bᵀ P A,   K = (R + Bᵀ P B)⁻¹ Bᵀ P A,

P computed here by iterating the Riccati recursion to a fixed point (`dare`). The
optimal cost-to-go is V*(x) = xᵀ P x and the optimal Q-function is

    Q*(x, u) = V*(x) + (u − u*)ᵀ (R + Bᵀ P B) (u − u*),

so an imitation error e = f(x) − u* costs eᵀ(R + BᵀPB)e, and for a fine time step
BᵀPB = O(dt)·R: the R-weighted loss (f − u)ᵀR(f − u) (pl.QuadraticMSE) measures what
an error costs, plain MSE does not. The net has a one-unit bottleneck (4 → 1 → 2), so it
cannot copy K exactly and the loss decides which errors it makes: plain MSE spends its
one unit on the large cart-force gains and gets the torque wrong; the R-weighted loss
gets the expensive torque right. Both are fitted by pl.least_squares and flown in
closed loop from fresh initial states.

Run:  python examples/lqr_imitation.py [--out FIG] [--smoke]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _common import run_cli, save_figure

import pinnloss as pl

DT = 0.02
Q_DIAG = (10.0, 10.0, 0.1, 1.0)  # p, θ, ṗ, θ̇ (per second)
R_DIAG = (0.1, 100.0)  # cart force, pivot torque (per second)
X0_SCALE = np.array([0.5, 0.3, 0.5, 0.5])


def expm(a: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring of a Taylor series (small matrices)."""
    s = max(0, int(np.ceil(np.log2(max(np.abs(a).sum(axis=1).max(), 1e-16)))) + 1)
    a = a / 2.0**s
    out = term = np.eye(a.shape[0])
    for k in range(1, 20):
        term = term @ a / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def cart_pole(mass_cart=1.0, mass_pole=0.3, length=0.5, g=9.81, dt=DT):
    """Discrete (A, B) of the cart-pole linearised upright, inputs (F, τ), zero-order hold."""
    mm = np.array(
        [[mass_cart + mass_pole, mass_pole * length], [mass_pole * length, mass_pole * length**2]]
    )
    mi = np.linalg.inv(mm)
    a = np.zeros((4, 4))
    a[0, 2] = a[1, 3] = 1.0
    a[2:, 1] = mi @ np.array([0.0, mass_pole * g * length])
    b = np.zeros((4, 2))
    b[2:, :] = mi
    blk = expm(np.block([[a, b], [np.zeros((2, 6))]]) * dt)
    return blk[:4, :4], blk[:4, 4:]


def dare(a, b, q, r, *, tol=1e-12, max_iter=100_000):
    """Solve the discrete algebraic Riccati equation by iterating the Riccati recursion."""
    p = q.copy()
    for _ in range(max_iter):
        bp = b.T @ p
        k = np.linalg.solve(r + bp @ b, bp @ a)
        p_new = q + a.T @ p @ (a - b @ k)
        p_new = 0.5 * (p_new + p_new.T)
        if np.max(np.abs(p_new - p)) <= tol * max(1.0, np.max(np.abs(p_new))):
            return p_new
        p = p_new
    raise RuntimeError("dare: the Riccati iteration did not converge")


def lqr(a, b, q, r):
    """(P, K) of the infinite-horizon discrete LQR: u = −K x, cost xᵀ P x."""
    p = dare(a, b, q, r)
    return p, np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)


class BottleneckPolicy(eqx.Module):
    """u = W₂ (w₁·x + b₁) + b₂: one hidden unit, so rank one."""

    w1: jax.Array
    b1: jax.Array
    w2: jax.Array
    b2: jax.Array

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.w1 = 0.5 * jax.random.normal(k1, (4,))
        self.b1 = jnp.zeros(())
        self.w2 = 0.5 * jax.random.normal(k2, (2,))
        self.b2 = jnp.zeros(2)

    def __call__(self, x):
        return self.w2 * (self.w1 @ x + self.b1) + self.b2


def closed_loop_cost(policy, a, b, q, r, x0, steps):
    """Σ_t x_tᵀ Q x_t + u_tᵀ R u_t from each initial state, u_t = policy(x_t); and the path."""
    a, b, q, r = (jnp.asarray(m) for m in (a, b, q, r))

    def step(x, _):
        u = policy(x)
        cost = jnp.einsum("ni,ij,nj->n", x, q, x) + jnp.einsum("ni,ij,nj->n", u, r, u)
        return x @ a.T + u @ b.T, (cost, x)

    _, (cost, xs) = jax.lax.scan(step, jnp.asarray(x0), None, length=steps)
    return cost.sum(0), xs


def main(smoke: bool = False, out: str | None = None) -> dict:
    n_demo, horizon = (20, 400) if smoke else (100, 1000)
    a, b = cart_pole()
    q, r = np.diag(Q_DIAG) * DT, np.diag(R_DIAG) * DT
    p, k = lqr(a, b, q, r)
    h = r + b.T @ p @ b
    expert = lambda x: -x @ jnp.asarray(k).T

    rng = np.random.default_rng(0)
    x0_train = rng.normal(size=(n_demo, 4)) * X0_SCALE
    x0_test = rng.normal(size=(200, 4)) * X0_SCALE
    _, demo = closed_loop_cost(expert, a, b, q, r, x0_train, 300)
    states = demo[::3].reshape(-1, 4)  # states along the expert's trajectories
    controls = expert(states)

    net = BottleneckPolicy(jax.random.key(0))
    plain = pl.least_squares(net, pl.DataMSE(states, controls), max_steps=300)
    weighted = pl.least_squares(net, pl.QuadraticMSE(states, controls, r / DT), max_steps=300)

    j_opt, opt_path = closed_loop_cost(expert, a, b, q, r, x0_test, horizon)
    j_plain, plain_path = closed_loop_cost(jax.vmap(plain.model), a, b, q, r, x0_test, horizon)
    j_weighted, weighted_path = closed_loop_cost(
        jax.vmap(weighted.model), a, b, q, r, x0_test, horizon
    )
    j_theory = float(np.mean(np.einsum("ni,ij,nj->n", x0_test, p, x0_test)))
    ratio_plain = float(jnp.mean(j_plain) / jnp.mean(j_opt))
    ratio_weighted = float(jnp.mean(j_weighted) / jnp.mean(j_opt))

    def gain(model):  # the rank-one gain matrix the net learnt: u = -K̂ x + c
        return -np.outer(np.asarray(model.w2), np.asarray(model.w1))

    k_plain, k_weighted = gain(plain.model), gain(weighted.model)
    rel_err = lambda kh, row: float(np.linalg.norm(kh[row] - k[row]) / np.linalg.norm(k[row]))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    t = np.arange(horizon) * DT
    i = 0
    for ax, idx, label in ((axes[0], 1, "θ [rad]"), (axes[1], 0, "p [m]")):
        ax.plot(t, opt_path[:, i, idx], "k-", label="LQR")
        ax.plot(t, plain_path[:, i, idx], "C0--", label="net, plain MSE")
        ax.plot(t, weighted_path[:, i, idx], "C1-.", label="net, R-weighted")
        ax.set_xlabel("t [s]")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    axes[0].set_title("closed loop from one test state")
    ax = axes[2]
    labels = ["LQR", "plain MSE", "R-weighted"]
    ax.bar(labels, [1.0, ratio_plain, ratio_weighted], color=["k", "C0", "C1"])
    ax.set_ylabel("closed-loop cost / LQR optimum")
    ax.set_title("mean cost over 200 test states")
    for j, v in enumerate([1.0, ratio_plain, ratio_weighted]):
        ax.text(j, v, f"{v:.3f}", ha="center", va="bottom")
    fig.tight_layout()
    path = save_figure(fig, out, "lqr_imitation.png", dpi=110)

    headline = (
        f"closed-loop cost / LQR optimum: plain MSE {ratio_plain:.3f}, R-weighted "
        f"{ratio_weighted:.3f} (rank-one net; torque-gain error {rel_err(k_plain, 1):.0%} "
        f"vs {rel_err(k_weighted, 1):.0%})"
    )
    return {
        "headline": headline,
        "cost_ratio_plain": ratio_plain,
        "cost_ratio_weighted": ratio_weighted,
        "cost_lqr_simulated": float(jnp.mean(j_opt)),
        "cost_lqr_theory": j_theory,
        "torque_gain_rel_error_plain": rel_err(k_plain, 1),
        "torque_gain_rel_error_weighted": rel_err(k_weighted, 1),
        "force_gain_rel_error_plain": rel_err(k_plain, 0),
        "force_gain_rel_error_weighted": rel_err(k_weighted, 0),
        "h_minus_r_relative": float(np.max(np.abs(h - r)) / np.max(np.abs(r))),
        "converged": bool(plain.converged) and bool(weighted.converged),
        "figure": path,
    }


if __name__ == "__main__":
    run_cli(main, __doc__)
