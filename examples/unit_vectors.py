"""Unit vectors: plain MSE shrinks predicted directions inside the sphere; UnitNorm does not.

A net maps a point x in the plane to a direction on the unit sphere S². The labels are
noisy directions, drawn from a von Mises–Fisher distribution of concentration κ around
the true direction μ(x). The squared error is minimised by the conditional mean,

    E[y | x] = A(κ) μ(x),   A(κ) = coth κ − 1/κ < 1,

which lies *inside* the sphere: plain MSE learns vectors of length ≈ A(κ) (0.80 at
κ = 5). Adding the unit-norm term pl.UnitNorm, (|f(x)|² − 1)², weighted by λ, keeps
|f| = 1 to within (1 − A)/(1 + 4λ) while pointing the same way.

Run:  python examples/unit_vectors.py [--out FIG] [--smoke]
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

KAPPA = 5.0
PENALTY = 100.0


def mean_resultant_length(kappa: float) -> float:
    """A(κ) = coth κ − 1/κ: the length of the mean of a von Mises–Fisher draw on S²."""
    return 1.0 / np.tanh(kappa) - 1.0 / kappa


def true_direction(x: np.ndarray) -> np.ndarray:
    """μ(x) on S²: polar angle 1.2 + 0.8 x₁, azimuth π x₂."""
    theta = 1.2 + 0.8 * x[:, 0]
    phi = np.pi * x[:, 1]
    return np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1
    )


def sample_vmf(mu: np.ndarray, kappa: float, rng: np.random.Generator) -> np.ndarray:
    """One von Mises–Fisher draw on S² around each row of `mu` (Wood 1994, exact in 3-D)."""
    n = mu.shape[0]
    u = rng.uniform(size=n)
    w = 1.0 + np.log(u + (1.0 - u) * np.exp(-2.0 * kappa)) / kappa  # cos of the angle to mu
    v = rng.normal(size=(n, 3))
    v -= np.sum(v * mu, axis=1, keepdims=True) * mu  # tangent direction
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return w[:, None] * mu + np.sqrt(np.clip(1.0 - w**2, 0.0, None))[:, None] * v


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    mu = true_direction(x)
    return x, mu, sample_vmf(mu, KAPPA, rng)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def main(smoke: bool = False, out: str | None = None) -> dict:
    n_train, steps = (300, 1000) if smoke else (3000, 5000)
    x, _, y = make_data(n_train, seed=0)
    x_test, mu_test, _ = make_data(2000, seed=1)
    x, y, x_test = (jnp.asarray(a) for a in (x, y, x_test))

    model0 = eqx.nn.MLP(2, 3, 32, 2, activation=jnp.tanh, key=jax.random.key(0))
    optimizer = optax.adam(optax.cosine_decay_schedule(3e-3, steps, alpha=0.05))
    data = pl.DataMSE(x, y)
    plain = pl.fit(model0, data, optimizer, steps=steps, progress=False)
    # "after": the plain fit continued with the penalty. (Started from scratch, a large
    # penalty pins |f| = 1 before the directions are learnt, and the net can get stuck
    # with patches of flipped directions: a vector cannot turn through the origin.)
    unit = pl.fit(
        plain.model, data + PENALTY * pl.UnitNorm(x), optimizer, steps=steps // 2, progress=False
    )

    f_plain = np.asarray(jax.vmap(plain.model)(x_test))
    f_unit = np.asarray(jax.vmap(unit.model)(x_test))
    norm_plain = np.linalg.norm(f_plain, axis=1)
    norm_unit = np.linalg.norm(f_unit, axis=1)
    a_kappa = mean_resultant_length(KAPPA)
    ang_plain = angle_deg(f_plain, mu_test)
    ang_unit = angle_deg(f_unit, mu_test)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    bins = np.linspace(min(norm_plain.min(), 0.6), 1.05, 60)
    ax = axes[0]
    ax.hist(norm_plain, bins=bins, alpha=0.7, label="plain MSE")
    ax.hist(norm_unit, bins=bins, alpha=0.7, label=f"MSE + {PENALTY:g}·UnitNorm")
    ax.axvline(a_kappa, color="k", ls="--", label=f"A(κ={KAPPA:g}) = {a_kappa:.3f}")
    ax.axvline(1.0, color="k", ls=":")
    ax.set_xlabel("|f(x)| on test points")
    ax.set_ylabel("count")
    ax.set_title("norms of the predicted directions")
    ax.legend(fontsize=8)

    ax = axes[1]
    order = np.argsort(np.asarray(x_test)[:, 0])
    ax.plot(np.asarray(x_test)[order, 0], norm_plain[order], ".", ms=2, label="plain MSE")
    ax.plot(np.asarray(x_test)[order, 0], norm_unit[order], ".", ms=2, label="with UnitNorm")
    ax.set_xlabel("x₁")
    ax.set_ylabel("|f(x)|")
    ax.set_title("inside the sphere, everywhere")
    ax.legend(fontsize=8)

    ax = axes[2]
    steps_after = np.arange(steps, steps + steps // 2)
    ax.semilogy(plain.history["data_mse"], label="plain: data_mse")
    ax.semilogy(steps_after, unit.history["data_mse"], label="then penalised: data_mse")
    ax.semilogy(steps_after, unit.history["unit_norm"], label="then penalised: unit_norm")
    ax.axvline(steps, color="k", ls=":")
    ax.set_xlabel("step")
    ax.set_title("training history")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = save_figure(fig, out, "unit_vectors.png", dpi=110)

    mean_plain, mean_unit = float(norm_plain.mean()), float(norm_unit.mean())
    headline = (
        f"mean |f| on test points: plain MSE {mean_plain:.3f} (theory A(κ) = {a_kappa:.3f}), "
        f"with unit-norm penalty {mean_unit:.4f}; median angle to the true direction "
        f"{np.median(ang_plain):.1f}° vs {np.median(ang_unit):.1f}°"
    )
    return {
        "headline": headline,
        "mean_norm_plain": mean_plain,
        "mean_norm_unit": mean_unit,
        "max_norm_plain": float(norm_plain.max()),
        "max_abs_norm_error_unit": float(np.abs(norm_unit - 1.0).max()),
        "mean_resultant_length": float(a_kappa),
        "median_angle_plain_deg": float(np.median(ang_plain)),
        "median_angle_unit_deg": float(np.median(ang_unit)),
        "figure": path,
    }


if __name__ == "__main__":
    run_cli(main, __doc__)
