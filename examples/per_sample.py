"""Per-sample contributions: per-sample losses and gradients show which points dominate an MSE fit.

A straight line f(x) = a + b x is fitted by MSE to a data set of the outliers example
(examples/outliers.py: y = 1 + 2x + Student-t noise, ν = 1.5, drawn by its `draw`).
The objective is a mean of per-sample losses, ℓ_i = (f(x_i) − y_i)², so its gradient is
the mean of per-sample gradients

    ∇ℓ_i = 2 r_i (1, x_i),   r_i = f(x_i) − y_i,

computed for all points at once with pl.per_sample_grads (jax.vmap over
eqx.filter_grad). A single heavy-tailed draw has the largest residual, hence the largest
gradient: it pulls the fit harder than any other point, and dropping it moves the line.
(The norm is 2|r_i|·√(1 + x_i²): for equal residuals a point far out in x pulls harder,
so in other draws the largest gradient can belong to the second-largest residual.)

Run:  python examples/per_sample.py [--out FIG] [--smoke]
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
from outliers import TRUE_A, TRUE_B, draw

import pinnloss as pl

NU = 1.5
SEED = 0


class Line(eqx.Module):
    """f(x) = a + b x."""

    a: jax.Array
    b: jax.Array

    def __call__(self, x):
        return self.a + self.b * x


def make_data(n: int, seed: int):
    """One heavy-tailed data set of the outliers example, and its noise draws."""
    x, y = draw(np.random.default_rng(seed), NU, n, 1)
    x, y = np.asarray(x[0]), np.asarray(y[0])
    return x, y, y - (TRUE_A + TRUE_B * x)


def fit_line(x, y) -> Line:
    start = Line(jnp.asarray(0.0), jnp.asarray(0.0))
    result = pl.least_squares(start, pl.DataMSE(x, y), max_steps=20)
    return result.model


def main(smoke: bool = False, out: str | None = None) -> dict:
    n = 50  # as in the outliers example; one data set is cheap at any size
    x_np, y_np, noise = make_data(n, seed=SEED)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    model = fit_line(x, y)

    losses, grads = pl.per_sample_grads(pl.losses.mse, model, x, y, return_losses=True)
    norms = np.asarray(pl.per_sample_grad_norms(pl.losses.mse, model, x, y))
    losses = np.asarray(losses)
    worst = int(np.argmax(norms))
    biggest_draw = int(np.argmax(np.abs(noise)))
    share = float(norms[worst] ** 2 / np.sum(norms**2))
    ratio = float(norms[worst] / np.median(norms))
    # the mean of the per-sample gradients is the gradient of the MSE: zero at the fit
    mean_grad = jax.tree_util.tree_map(lambda g: float(jnp.mean(g)), grads)
    keep = np.arange(n) != worst
    without = fit_line(x[keep], y[keep])
    slope_shift = float(model.b - without.b)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    ax.scatter(x_np, y_np, s=14, c=norms, cmap="viridis", label="data (colour: ‖∇ℓ_i‖)")
    ax.scatter(
        x_np[worst], y_np[worst], s=120, facecolors="none", edgecolors="r", label="largest gradient"
    )
    xs = np.linspace(-1, 1, 50)
    ax.plot(xs, np.asarray(jax.vmap(model)(jnp.asarray(xs))), "r-", label="MSE fit")
    ax.plot(xs, np.asarray(jax.vmap(without)(jnp.asarray(xs))), "k--", label="MSE fit without it")
    ax.plot(xs, TRUE_A + TRUE_B * xs, "g:", label="truth")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Student-t noise, ν = {NU}")
    ax.legend(fontsize=7)

    ax = axes[1]
    ax.bar(np.arange(n), norms, color=["r" if i == worst else "C0" for i in range(n)])
    ax.set_yscale("log")
    ax.set_xlabel("sample i")
    ax.set_ylabel("‖∇_θ ℓ_i‖")
    ax.set_title(f"per-sample gradient norms (max/median = {ratio:.0f}×)")

    ax = axes[2]
    g = np.stack([np.asarray(grads.a), np.asarray(grads.b)], axis=1)
    ax.scatter(g[:, 0], g[:, 1], s=12)
    ax.scatter(g[worst, 0], g[worst, 1], s=80, facecolors="none", edgecolors="r")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("∂ℓ_i/∂a")
    ax.set_ylabel("∂ℓ_i/∂b")
    ax.set_title("per-sample gradients (their mean is 0 at the fit)")
    fig.tight_layout()
    path = save_figure(fig, out, "per_sample.png", dpi=110)

    headline = (
        f"sample {worst} (noise draw {noise[worst]:+.2f}) has the largest per-sample gradient: "
        f"{ratio:.0f}× the median, {100 * share:.0f}% of Σ‖∇ℓ_i‖²; dropping it moves the "
        f"slope by {slope_shift:+.3f}"
    )
    return {
        "headline": headline,
        "worst_index": worst,
        "biggest_noise_index": biggest_draw,
        "worst_loss_index": int(np.argmax(losses)),
        "max_over_median": ratio,
        "share_of_squared_norms": share,
        "slope_shift": slope_shift,
        "mean_grad_a": mean_grad.a,
        "mean_grad_b": mean_grad.b,
        "figure": path,
    }


if __name__ == "__main__":
    run_cli(main, __doc__)
