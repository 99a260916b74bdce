r"""Outliers: MSE vs MAE vs Huber when the noise is Student-t.

A line $y = a + b x + \varepsilon$ is fitted to `n` points, many times over, with noise
$\varepsilon \sim t_\nu$ for $\nu = 1.5$ (infinite variance), 3 and 30 (nearly Gaussian).
The MSE fit (a square objective, solved exactly by `pl.least_squares`) is the sample
mean in disguise: its spread explodes as the tails get heavier. MAE and Huber
(`pl.DataLoss`, not squares, so `pl.fit` with Adam) bound the pull of any one point:
their spread barely moves.

    python examples/outliers.py [--out FIG] [--smoke]
"""

from __future__ import annotations

import functools
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

NUS = (1.5, 3.0, 30.0)
LOSSES = ("mse", "mae", "huber")
TRUE_A, TRUE_B = 1.0, 2.0


class Line(eqx.Module):
    """$f(x) = a + b x$, called on one scalar point."""

    a: jax.Array
    b: jax.Array

    def __call__(self, x):
        return self.a + self.b * x


def _zero_line(dtype) -> Line:
    return Line(jnp.zeros((), dtype), jnp.zeros((), dtype))


def draw(rng: np.random.Generator, nu: float, n: int, repeats: int):
    """`repeats` data sets of `n` points: x ~ U(-1, 1), y = a + b x + t_nu noise (NumPy)."""
    dtype = jnp.result_type(float)
    x = rng.uniform(-1.0, 1.0, (repeats, n))
    y = TRUE_A + TRUE_B * x + rng.standard_t(nu, (repeats, n))
    return jnp.asarray(x, dtype), jnp.asarray(y, dtype)


@jax.jit
def fit_mse(x, y):
    """MSE line fits `(a, b)` of a batch of data sets, by Levenberg–Marquardt (exact)."""

    def one(xi, yi):
        res = pl.least_squares(_zero_line(xi.dtype), pl.DataMSE(xi, yi), max_steps=20)
        return res.model.a, res.model.b

    return jax.vmap(one)(x, y)


@functools.partial(jax.jit, static_argnames=("steps",))
def fit_robust(x, y, *, steps: int):
    """MAE and Huber line fits of a batch of data sets, by Adam with a cosine decay.

    Returns `{"mae": (a, b), "huber": (a, b)}`. Neither loss is a mean of squares, so
    they go through `pl.DataLoss` and the first-order `pl.fit`.
    """
    opt = optax.adam(optax.cosine_decay_schedule(0.1, steps, alpha=1e-4))

    def one(xi, yi, loss):
        term = pl.DataLoss(xi, yi, loss=loss)
        m = pl.fit(_zero_line(xi.dtype), term, opt, steps=steps, progress=False).model
        return m.a, m.b

    return {
        "mae": jax.vmap(lambda a, b: one(a, b, pl.losses.mae))(x, y),
        "huber": jax.vmap(lambda a, b: one(a, b, pl.losses.huber))(x, y),
    }


def simulate(seed: int, n: int, repeats: int, steps: int):
    """Fit every loss to `repeats` draws at every nu.

    Returns `(data, fits)`: `data[nu] = (x, y)` of shape `(repeats, n)`, and
    `fits[nu][loss] = (a, b)`, arrays of shape `(repeats,)`. All draws form one batch,
    so each solver compiles once.
    """
    rng = np.random.default_rng(seed)
    data = [draw(rng, nu, n, repeats) for nu in NUS]
    x = jnp.concatenate([d[0] for d in data])
    y = jnp.concatenate([d[1] for d in data])
    fits = {"mse": fit_mse(x, y), **fit_robust(x, y, steps=steps)}
    sl = lambda i: slice(i * repeats, (i + 1) * repeats)
    return (
        {nu: data[i] for i, nu in enumerate(NUS)},
        {
            nu: {loss: tuple(np.asarray(v[sl(i)]) for v in fits[loss]) for loss in LOSSES}
            for i, nu in enumerate(NUS)
        },
    )


def lstsq_check(data, fits) -> float:
    """Largest difference between the MSE fits and NumPy's `lstsq` over every draw."""
    worst = 0.0
    for nu, (x, y) in data.items():
        x, y = np.asarray(x), np.asarray(y)
        for i in range(x.shape[0]):
            design = np.column_stack([np.ones(x.shape[1]), x[i]])
            coef = np.linalg.lstsq(design, y[i], rcond=None)[0]
            got = np.array([fits[nu]["mse"][0][i], fits[nu]["mse"][1][i]])
            worst = max(worst, float(np.max(np.abs(got - coef))))
    return worst


@jax.jit
def _huber_grad_norms(x, y, a, b):
    def one(xi, yi, ai, bi):
        g = jax.grad(pl.DataLoss(xi, yi, loss=pl.losses.huber))(Line(ai, bi))
        return jnp.hypot(g.a, g.b)

    return jax.vmap(one)(x, y, a, b)


def huber_check(data, fits) -> float:
    """Largest gradient norm of the Huber objective at the fitted lines (0 at the optimum)."""
    return max(
        float(jnp.max(_huber_grad_norms(*data[nu], *(jnp.asarray(v) for v in fits[nu]["huber"]))))
        for nu in NUS
    )


def spreads(fits) -> dict[float, dict[str, float]]:
    """Standard deviation of each slope estimate over the repeated draws."""
    return {nu: {loss: float(np.std(ab[1])) for loss, ab in d.items()} for nu, d in fits.items()}


def plot(data, fits, draw_index: int = 0, fig=None):
    """Left: one heavy-tailed (nu = 1.5) draw and its three fitted lines; right: spread vs nu."""
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(10, 4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    x, y = (np.asarray(v[draw_index]) for v in data[1.5])
    ax0.scatter(x, y, s=10, c="0.4", label="data ($\\nu$ = 1.5)")
    grid = np.linspace(-1, 1, 50)
    for loss in LOSSES:
        a, b = (v[draw_index] for v in fits[1.5][loss])
        ax0.plot(grid, a + b * grid, label=loss)
    ax0.plot(grid, TRUE_A + TRUE_B * grid, "k--", lw=1, label="truth")
    lo, hi = np.percentile(np.asarray(y), [2, 98])
    ax0.set_ylim(lo - 2, hi + 2)
    ax0.set(xlabel="x", ylabel="y", title="one draw with outliers (clipped view)")
    ax0.legend(fontsize=8)
    sp = spreads(fits)
    for loss in LOSSES:
        ax1.plot(NUS, [sp[nu][loss] for nu in NUS], "o-", label=loss)
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="Student-t degrees of freedom $\\nu$",
        ylabel="std of slope estimate over draws",
        title="estimator spread",
    )
    ax1.set_xticks(NUS, [str(nu) for nu in NUS])
    ax1.set_xticks([], minor=True)
    ax1.legend()
    return fig


def main(smoke: bool = False, out: str | None = None) -> dict:
    """Run the experiment, save the figure, return the headline numbers."""
    n, repeats, steps = (50, 200, 1000) if smoke else (50, 2000, 3000)
    data, fits = simulate(0, n, repeats, steps)
    sp = spreads(fits)
    fig = plot(data, fits)
    path = save_figure(fig, out, "outliers.png", dpi=120)

    result = {f"std_{loss}_nu{nu:g}": sp[nu][loss] for nu in NUS for loss in LOSSES}
    result["mse_spread_ratio"] = sp[1.5]["mse"] / sp[30.0]["mse"]
    result["huber_spread_ratio"] = sp[1.5]["huber"] / sp[30.0]["huber"]
    result["mae_spread_ratio"] = sp[1.5]["mae"] / sp[30.0]["mae"]
    result["mse_vs_lstsq_max_abs_diff"] = lstsq_check(data, fits)
    result["huber_max_grad_norm"] = huber_check(data, fits)
    result["headline"] = (
        f"slope-estimate spread, nu=1.5 vs nu=30: MSE x{result['mse_spread_ratio']:.1f}, "
        f"MAE x{result['mae_spread_ratio']:.2f}, Huber x{result['huber_spread_ratio']:.2f} "
        f"({repeats} draws of {n} points)"
    )
    result["figure"] = path
    return result


if __name__ == "__main__":
    run_cli(main, __doc__)
