"""Tied-weights autoencoder against untied: half the weights, lower test error on small data.

An autoencoder compresses x ∈ R^d to a code h = tanh(W x + b) ∈ R^k and reconstructs
x̂ = V h + c, trained on the reconstruction MSE, pl.DataMSE(x, x). Untied, W and V are
separate (2dk weights); tied, V = Wᵀ (dk weights). On a small training set (fewer
samples than weights) the untied decoder fits the noise of the training points; tying
the decoder to the encoder is a constraint that the clean, low-rank part of the data
satisfies (for a linear code the optimum is an orthogonal projection, V = Wᵀ) and the
noise does not, so the tied model reconstructs unseen points better.

Run:  python examples/tied_autoencoder.py [--out FIG] [--smoke]
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

DIM, CODE, RANK, NOISE = 40, 6, 4, 0.5


class TiedAE(eqx.Module):
    """x̂ = Wᵀ tanh(W x + b) + c."""

    w: jax.Array
    b: jax.Array
    c: jax.Array

    def __init__(self, d, k, key):
        self.w = jax.random.normal(key, (k, d)) / np.sqrt(d)
        self.b = jnp.zeros(k)
        self.c = jnp.zeros(d)

    def __call__(self, x):
        return self.w.T @ jnp.tanh(self.w @ x + self.b) + self.c


class UntiedAE(eqx.Module):
    """x̂ = V tanh(W x + b) + c."""

    w: jax.Array
    v: jax.Array
    b: jax.Array
    c: jax.Array

    def __init__(self, d, k, key):
        kw, kv = jax.random.split(key)
        self.w = jax.random.normal(kw, (k, d)) / np.sqrt(d)
        self.v = jax.random.normal(kv, (d, k)) / np.sqrt(d)
        self.b = jnp.zeros(k)
        self.c = jnp.zeros(d)

    def __call__(self, x):
        return self.v @ jnp.tanh(self.w @ x + self.b) + self.c


def n_weights(model) -> int:
    """Entries of the weight matrices (biases excluded)."""
    return sum(int(np.size(getattr(model, f))) for f in ("w", "v") if hasattr(model, f))


def n_params(model) -> int:
    return sum(int(np.size(a)) for a in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))


def make_data(n: int, rng: np.random.Generator, basis: np.ndarray):
    """Low-rank signal plus isotropic noise: x = B z + σ ε, z ~ N(0, I_r)."""
    z = rng.normal(size=(n, basis.shape[1]))
    clean = z @ basis.T
    return clean + NOISE * rng.normal(size=clean.shape), clean


def main(smoke: bool = False, out: str | None = None) -> dict:
    n_train, steps, seeds = (24, 1500, 3) if smoke else (24, 4000, 8)
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(DIM, RANK)))[0] * 1.5
    x_test, _ = make_data(2000, rng, basis)
    x_test = jnp.asarray(x_test)
    optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, steps, alpha=0.02))

    results = {"tied": [], "untied": []}
    histories = {}
    for seed in range(seeds):
        x_train, _ = make_data(n_train, np.random.default_rng(100 + seed), basis)
        x_train = jnp.asarray(x_train)
        term = pl.DataMSE(x_train, x_train)
        test = pl.DataMSE(x_test, x_test)
        key = jax.random.key(seed)
        for name, cls in (("tied", TiedAE), ("untied", UntiedAE)):
            model = cls(DIM, CODE, key)
            fit = pl.fit(model, term, optimizer, steps=steps, progress=False)
            results[name].append((float(fit.loss), float(test(fit.model))))
            if seed == 0:
                histories[name] = np.asarray(fit.history["total"])
    tied, untied = np.array(results["tied"]), np.array(results["untied"])
    w_tied, w_untied = n_weights(TiedAE(DIM, CODE, key)), n_weights(UntiedAE(DIM, CODE, key))
    p_tied, p_untied = n_params(TiedAE(DIM, CODE, key)), n_params(UntiedAE(DIM, CODE, key))
    noise_floor = (DIM - RANK) / DIM * NOISE**2  # best possible: noise off the signal subspace
    wins = int(np.sum(tied[:, 1] < untied[:, 1]))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    for name, arr, col in (("tied", tied, "C1"), ("untied", untied, "C0")):
        ax.scatter(arr[:, 0], arr[:, 1], c=col, label=f"{name}")
    ax.axhline(noise_floor, color="k", ls=":", label="noise floor")
    ax.set_xlabel("train MSE")
    ax.set_ylabel("test MSE")
    ax.set_title(f"{seeds} training sets of {n_train} points in R^{DIM}")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.semilogy(histories["tied"], "C1", label=f"tied ({w_tied} weights)")
    ax.semilogy(histories["untied"], "C0", label=f"untied ({w_untied} weights)")
    ax.set_xlabel("step")
    ax.set_ylabel("train MSE")
    ax.set_title("training (first data set)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = save_figure(fig, out, "tied_autoencoder.png", dpi=110)

    tm, um = float(tied[:, 1].mean()), float(untied[:, 1].mean())
    headline = (
        f"test MSE tied {tm:.4f} vs untied {um:.4f} (noise floor {noise_floor:.4f}; tied lower "
        f"on {wins}/{seeds} training sets) with {w_tied} vs {w_untied} weights"
    )
    return {
        "headline": headline,
        "test_mse_tied": tm,
        "test_mse_untied": um,
        "train_mse_tied": float(tied[:, 0].mean()),
        "train_mse_untied": float(untied[:, 0].mean()),
        "weights_tied": w_tied,
        "weights_untied": w_untied,
        "params_tied": p_tied,
        "params_untied": p_untied,
        "tied_wins": wins,
        "n_sets": seeds,
        "noise_floor": noise_floor,
        "figure": path,
    }


if __name__ == "__main__":
    run_cli(main, __doc__)
