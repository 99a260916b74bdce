"""Energy-based model: MSE pushes data energies to 0 and Langevin-sample energies to 1.

An energy E_θ(x) (a small MLP) defines a density p_θ(x) ∝ exp(−E_θ(x)/T). Each training
round draws fresh samples from p_θ by short-run Langevin dynamics started from uniform
noise (pl.langevin_sample: x ← x − ε∇E(x) + √(2εT) ξ), then takes a few Adam steps on

    mean_i E_θ(x_i^data)² + mean_j (E_θ(x_j^sample) − 1)²,

two pl.DataMSE terms with targets 0 and 1 (the least-squares GAN loss, with Langevin
dynamics as the generator). Wherever the samples land away from the data, their energy
is raised, so the next round's samples slide toward the data. The energy distance
between samples and data, 2E|X − Y| − E|X − X'| − E|Y − Y'|, falls during training.
Once the samples match the data the two targets conflict and both mean energies settle
near 1/2: the sign that the sampler has caught up with the data.

Run:  python examples/energy_based_model.py [--out FIG] [--smoke]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import run_cli, save_figure

import pinnloss as pl

TEMPERATURE = 0.03
STEP_SIZE = 0.03
BOX = 3.0


def make_data(n: int, seed: int = 0) -> np.ndarray:
    """Three Gaussian blobs (σ = 0.25) on a circle of radius 1.5."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.array([0.25, 0.25 + 1 / 3, 0.25 + 2 / 3])
    centres = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres[rng.integers(0, 3, n)] + 0.25 * rng.normal(size=(n, 2))


@jax.jit
def energy_distance(x, y):
    """Energy distance 2E|X − Y| − E|X − X'| − E|Y − Y'| between two samples (Székely 2004)."""

    def mean_dist(a, b):
        d = a[:, None, :] - b[None, :, :]
        return jnp.mean(jnp.sqrt(jnp.sum(d**2, axis=-1) + 1e-12))

    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)


def sample(energy, n: int, key, n_steps: int):
    """Short-run Langevin chains from uniform noise on the box."""
    k0, k1 = jax.random.split(key)
    x0 = jax.random.uniform(k0, (n, 2), minval=-BOX, maxval=BOX)
    return pl.langevin_sample(
        energy, x0, key=k1, step_size=STEP_SIZE, n_steps=n_steps, temperature=TEMPERATURE
    )


@eqx.filter_jit
def train(energy, data, key, optimizer, rounds: int, n_steps: int, inner: int):
    """All training rounds as one compiled `lax.scan`: sample, then `inner` Adam steps."""
    n = data.shape[0]
    params, static = eqx.partition(energy, eqx.is_inexact_array)
    to_zero = pl.DataMSE(data, jnp.zeros(n, data.dtype), name="data_energy")

    def one_round(carry, k):
        params, opt_state = carry
        model = eqx.combine(params, static)
        samples = jax.lax.stop_gradient(sample(model, n, k, n_steps))
        objective = to_zero + pl.DataMSE(samples, jnp.ones(n, data.dtype), name="sample_energy")
        loss_fn = lambda p: objective(eqx.combine(p, static))

        def step(c, _):
            p, s = c
            grads = jax.grad(loss_fn)(p)
            updates, s = optimizer.update(grads, s, p)
            return (eqx.apply_updates(p, updates), s), None

        (params, opt_state), _ = jax.lax.scan(step, (params, opt_state), None, length=inner)
        model = eqx.combine(params, static)
        record = (
            energy_distance(samples, data),
            jnp.mean(jax.vmap(model)(data)),
            jnp.mean(jax.vmap(model)(samples)),
        )
        return (params, opt_state), record

    opt_state = optimizer.init(params)
    keys = jax.random.split(key, rounds)
    (params, _), records = jax.lax.scan(one_round, (params, opt_state), keys)
    return eqx.combine(params, static), records


def main(smoke: bool = False, out: str | None = None) -> dict:
    n, rounds, n_steps, inner = (150, 60, 60, 5) if smoke else (300, 200, 100, 5)
    data = jnp.asarray(make_data(n, seed=0))
    energy0 = eqx.nn.MLP(2, "scalar", 48, 2, activation=jax.nn.swish, key=jax.random.key(0))
    optimizer = optax.adam(2e-3)
    k_first, k_train, k_final = jax.random.split(jax.random.key(1), 3)
    first = sample(energy0, n, k_first, n_steps)
    energy, (dist, data_e, sample_e) = train(
        energy0, data, k_train, optimizer, rounds, n_steps, inner
    )
    final = sample(energy, n, k_final, n_steps)
    distances = np.append(np.asarray(dist), float(energy_distance(final, data)))
    data_e, sample_e = np.asarray(data_e), np.asarray(sample_e)
    # a reference: the distance between two independent draws of the data distribution
    floor = float(energy_distance(jnp.asarray(make_data(n, seed=2)), data))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    g = np.linspace(-BOX, BOX, 120)
    gx, gy = np.meshgrid(g, g)
    grid = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1))
    e_grid = np.asarray(jax.vmap(energy)(grid)).reshape(gx.shape)
    for ax, pts, title in (
        (axes[0], first, "Langevin samples, round 1"),
        (axes[1], final, f"Langevin samples after {rounds} rounds"),
    ):
        if ax is axes[1]:
            cs = ax.contourf(gx, gy, e_grid, levels=20, cmap="viridis")
            fig.colorbar(cs, ax=ax, label="E_θ(x)")
        ax.scatter(*np.asarray(data).T, s=4, c="w" if ax is axes[1] else "0.6", label="data")
        ax.scatter(*np.asarray(pts).T, s=4, c="C3", label="samples")
        ax.set_xlim(-BOX, BOX)
        ax.set_ylim(-BOX, BOX)
        ax.set_aspect("equal")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    ax.semilogy(distances, "k-", label="energy distance(samples, data)")
    ax.axhline(floor, color="k", ls=":", label="two draws of the data")
    ax2 = ax.twinx()
    ax2.plot(data_e, "C0-", lw=1, label="mean E(data) → 0")
    ax2.plot(sample_e, "C3-", lw=1, label="mean E(samples) → 1")
    ax2.set_ylabel("energy")
    ax.set_xlabel("training round")
    ax.set_title("samples approach the data")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8)
    fig.tight_layout()
    path = save_figure(fig, out, "energy_based_model.png", dpi=110)

    # one round's distance is noisy (fresh samples each round): average the last ten
    d0, d1 = distances[0], float(np.mean(distances[-10:]))
    headline = (
        f"energy distance between Langevin samples and data: {d0:.3f} in round 1 → "
        f"{d1:.3f} over the last 10 of {rounds} rounds ({d0 / d1:.0f}× lower; two draws "
        f"of the data: {floor:.3f}); mean energies data {data_e[-1]:.2f}, samples "
        f"{sample_e[-1]:.2f}"
    )
    return {
        "headline": headline,
        "distance_first": d0,
        "distance_last": d1,
        "distance_min": float(np.min(distances)),
        "distance_data_floor": floor,
        "mean_energy_data": data_e[-1],
        "mean_energy_samples": sample_e[-1],
        "rounds": rounds,
        "figure": path,
    }


if __name__ == "__main__":
    run_cli(main, __doc__)
