r"""Posterior mean vs posterior median: which constant does each loss pick?

The best constant guess $c$ for a random $y$ minimises the expected loss:
$\arg\min_c E[(y - c)^2] = E[y]$ (the mean) and $\arg\min_c E|y - c| = \mathrm{median}(y)$.
Here $y$ is the posterior of a Poisson rate $\lambda$ after seeing the counts (0, 1, 0)
under a Gamma(1/2, 0.01) prior: the posterior is Gamma(3/2, 3.01), right-skewed, so its
mean and median differ by a quarter. A constant model is fitted to posterior samples with
`pl.DataMSE` (Levenberg–Marquardt) and with `pl.DataLoss(loss=pl.losses.mae)` (Adam):
the first lands on the sample mean, the second on the sample median.

    python examples/posterior_mean.py [--out FIG] [--smoke]
"""

from __future__ import annotations

import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import pinnloss as pl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import run_cli, save_figure

COUNTS = (0, 1, 0)
PRIOR_SHAPE, PRIOR_RATE = 0.5, 0.01


class Constant(eqx.Module):
    """The model $f(x) = c$: one number, whatever the input."""

    c: jax.Array

    def __call__(self, x):
        return self.c


def posterior() -> tuple[float, float]:
    """Shape and rate of the Gamma posterior of the Poisson rate (conjugate update)."""
    return PRIOR_SHAPE + sum(COUNTS), PRIOR_RATE + len(COUNTS)


def sample(seed: int, n: int) -> jax.Array:
    """`n` draws from the Gamma posterior (NumPy's generator)."""
    shape, rate = posterior()
    draws = np.random.default_rng(seed).gamma(shape, 1.0 / rate, n)
    return jnp.asarray(draws, jnp.result_type(float))


def best_constants(samples: jax.Array, steps: int) -> dict[str, float]:
    """Fit a constant to `samples` under squared and absolute loss.

    Squared loss is a mean of squares: `pl.least_squares` solves it (one Gauss–Newton
    step for a constant). Absolute loss is not: `pl.fit` with Adam and a cosine decay.
    """
    x = jnp.zeros_like(samples)  # the inputs are irrelevant to a constant
    start = Constant(jnp.zeros((), samples.dtype))
    sq = pl.least_squares(start, pl.DataMSE(x, samples))
    opt = optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=1e-4))
    ab = pl.fit(
        start, pl.DataLoss(x, samples, loss=pl.losses.mae), opt, steps=steps, progress=False
    )
    return {"squared": float(sq.model.c), "absolute": float(ab.model.c)}


@jax.jit
def _expected_losses(samples, grid):
    def at(c):
        guess = jnp.full_like(samples, c)
        return pl.losses.mse(guess, samples), pl.losses.mae(guess, samples)

    return jax.lax.map(at, grid)


def expected_losses(samples: jax.Array, grid: jax.Array) -> dict[str, np.ndarray]:
    """Monte Carlo expected squared and absolute loss of each constant in `grid`."""
    sq, ab = _expected_losses(samples, grid)
    return {"squared": np.asarray(sq), "absolute": np.asarray(ab)}


def plot(samples, best: dict[str, float], fig=None):
    """Left: the skewed posterior and the two estimates; right: expected loss vs guess."""
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(10, 4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    s = np.asarray(samples)
    hi = np.percentile(s, 99.5)
    ax0.hist(s[s < hi], bins=80, density=True, color="0.75")
    ax0.axvline(best["squared"], c="C0", label=f"squared loss -> {best['squared']:.3f} (mean)")
    ax0.axvline(best["absolute"], c="C1", label=f"absolute loss -> {best['absolute']:.3f} (median)")
    ax0.set(
        xlabel="Poisson rate $\\lambda$",
        ylabel="posterior density",
        title="posterior after counts (0, 1, 0)",
    )
    ax0.legend(fontsize=8)
    grid = jnp.asarray(np.linspace(0.0, np.percentile(s, 90), 121), samples.dtype)
    el = expected_losses(samples, grid)
    for i, (name, v) in enumerate(el.items()):
        v = v - v.min()
        ax1.plot(grid, v / v.max(), c=f"C{i}", label=f"E[{name} loss] (rescaled)")
        ax1.axvline(best[name], c=f"C{i}", ls=":")
    ax1.set(
        xlabel="constant guess c",
        ylabel="expected loss - min (rescaled)",
        title="each loss has its own minimiser",
    )
    ax1.legend(fontsize=8)
    return fig


def main(smoke: bool = False, out: str | None = None) -> dict:
    """Run the experiment, save the figure, return the headline numbers."""
    n, steps = (20_000, 1500) if smoke else (200_000, 4000)
    samples = sample(0, n)
    best = best_constants(samples, steps)
    shape, rate = posterior()
    fig = plot(samples, best)
    path = save_figure(fig, out, "posterior_mean.png", dpi=120)
    result = {
        "squared_loss_estimate": best["squared"],
        "absolute_loss_estimate": best["absolute"],
        "sample_mean": float(np.mean(np.asarray(samples))),
        "sample_median": float(np.median(np.asarray(samples))),
        "posterior_mean_exact": shape / rate,
        "posterior_shape": shape,
        "posterior_rate": rate,
        "n_samples": n,
    }
    result["headline"] = (
        f"squared loss -> {best['squared']:.4f} (sample mean {result['sample_mean']:.4f}, "
        f"exact {shape / rate:.4f}); absolute loss -> {best['absolute']:.4f} "
        f"(sample median {result['sample_median']:.4f}): the mean is "
        f"{100 * (best['squared'] / best['absolute'] - 1):.0f}% above the median"
    )
    result["figure"] = path
    return result


if __name__ == "__main__":
    run_cli(main, __doc__)
