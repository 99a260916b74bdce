r"""Feature scaling: the MSE gradient grows as O(s^2) with a feature's scale s, MAE's as O(s).

A linear model $f(x) = w \cdot x + b$ is evaluated at a fixed, wrong weight vector while
the second feature is multiplied by $s$. The residual $r = f(x) - y$ then grows as $s$,
and the gradient with respect to that feature's weight multiplies by the feature again:
$\partial_{w_2}\,\mathrm{MSE} = \frac2N\sum_i r_i\, s x_{i2} = O(s^2)$, while
$\partial_{w_2}\,\mathrm{MAE} = \frac1N\sum_i \mathrm{sign}(r_i)\, s x_{i2} = O(s)$.
The MSE Hessian, $\frac2N X^\top X$, has its condition number $\kappa$ grow as $s^2$, so
gradient descent at its largest stable step ($1/\lambda_{max}$) needs about
$\frac{\kappa}{2}\ln(1/\mathrm{tol})$ steps; standardising the features makes $\kappa \approx 1$.

    python examples/feature_scaling.py [--out FIG] [--smoke]
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

SCALE = 10.0  # the badly scaled feature: units ten times smaller, and an offset


class Linear(eqx.Module):
    r"""$f(x) = w \cdot x + b$."""

    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        return self.w @ x + self.b


def make_data(seed: int, n: int):
    r"""Two unit-variance features and $y = x_1 - x_2 + 0.1\,\varepsilon$."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = x[:, 0] - x[:, 1] + 0.1 * rng.standard_normal(n)
    dtype = jnp.result_type(float)
    return jnp.asarray(x, dtype), jnp.asarray(y, dtype)


@eqx.filter_jit
def weight_gradients(x, y, model: Linear, scales):
    """`|d loss / d w_2|` for MSE and MAE at `model`, with feature 2 multiplied by each scale."""

    def at(s):
        xs = x * jnp.stack([jnp.ones_like(s), s])
        g_mse = eqx.filter_grad(pl.DataMSE(xs, y))(model)
        g_mae = eqx.filter_grad(pl.DataLoss(xs, y, loss=pl.losses.mae))(model)
        return jnp.abs(g_mse.w[1]), jnp.abs(g_mae.w[1])

    return jax.lax.map(at, scales)


def loglog_slope(s, g) -> float:
    """Least-squares slope of log g against log s."""
    return float(np.polyfit(np.log(np.asarray(s)), np.log(np.asarray(g)), 1)[0])


def largest_stable_rate(objective, model) -> tuple[float, float]:
    r"""$1/\lambda_{max}$ of the objective's Hessian (`pl.hessian_matrix`), and its condition."""
    ev = np.linalg.eigvalsh(np.asarray(pl.hessian_matrix(objective, model)))
    return float(1.0 / ev[-1]), float(ev[-1] / ev[0])


def descend(x, y, steps: int, opt):
    """Plain gradient descent on the MSE at the largest stable rate; the loss history.

    `opt` is `optax.inject_hyperparams(optax.sgd)`: the learning rate lives in the
    optimizer state, so fits with different rates share one compilation.
    """
    term = pl.DataMSE(x, y)
    start = Linear(jnp.zeros(2, x.dtype), jnp.zeros((), x.dtype))
    lr, cond = largest_stable_rate(term, start)
    state = opt.init(eqx.filter(start, eqx.is_inexact_array))
    state.hyperparams["learning_rate"] = jnp.asarray(lr, x.dtype)
    res = pl.fit(start, term, opt, steps=steps, opt_state=state, progress=False)
    return np.asarray(res.history["total"]), lr, cond


def steps_to_converge(history, optimum: float, tol: float) -> int:
    """First step whose loss is within `tol` (relative) of `optimum`; -1 if none."""
    hit = np.flatnonzero(history - optimum <= tol * optimum)
    return int(hit[0]) if hit.size else -1


def lstsq_optimum(x, y) -> float:
    """The least-squares MSE, from NumPy's `lstsq` (an independent solver)."""
    a = np.column_stack([np.asarray(x), np.ones(len(y))])
    coef = np.linalg.lstsq(a, np.asarray(y), rcond=None)[0]
    return float(np.mean((a @ coef - np.asarray(y)) ** 2))


def plot(scales, g_mse, g_mae, histories, optimum, fig=None):
    """Left: gradient vs feature scale (log-log); right: loss gap during gradient descent."""
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(10, 4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    ax0.loglog(scales, g_mse, "o-", label=f"MSE (slope {loglog_slope(scales[6:], g_mse[6:]):.2f})")
    ax0.loglog(scales, g_mae, "s-", label=f"MAE (slope {loglog_slope(scales[6:], g_mae[6:]):.2f})")
    ax0.set(
        xlabel="scale s of feature 2",
        ylabel="|d loss / d w_2| at a fixed wrong w",
        title="gradient vs feature scale",
    )
    ax0.legend()
    for name, h in histories.items():
        gap = np.maximum(h - optimum, 1e-300) / optimum
        ax1.loglog(np.arange(1, len(h) + 1), gap, label=name)
    ax1.set(
        xlabel="gradient-descent step + 1 (rate 1/lambda_max)",
        ylabel="(MSE - MSE*) / MSE*",
        title="gradient descent before and after standardising",
        ylim=(1e-10, 1e4),
    )
    ax1.legend()
    return fig


def main(smoke: bool = False, out: str | None = None) -> dict:
    """Run the experiment, save the figure, return the headline numbers."""
    n, steps, tol = (100, 6000, 1e-6) if smoke else (1000, 20_000, 1e-6)
    x, y = make_data(0, n)

    scales = jnp.asarray(np.logspace(0, 3, 13), x.dtype)
    wrong = Linear(jnp.array([0.5, 0.5], x.dtype), jnp.zeros((), x.dtype))
    g_mse, g_mae = (np.asarray(g) for g in weight_gradients(x, y, wrong, scales))
    big = slice(6, None)  # s >= 30: the residual is dominated by the scaled feature
    slope_mse = loglog_slope(scales[big], g_mse[big])
    slope_mae = loglog_slope(scales[big], g_mae[big])

    raw_np = np.asarray(x) * [1.0, SCALE] + [0.0, SCALE]
    raw = jnp.asarray(raw_np, x.dtype)
    standard = jnp.asarray((raw_np - raw_np.mean(0)) / raw_np.std(0), x.dtype)
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)
    optimum = lstsq_optimum(raw, y)
    h_raw, _, cond_raw = descend(raw, y, steps, opt)
    h_std, _, cond_std = descend(standard, y, steps, opt)

    fig = plot(
        np.asarray(scales),
        g_mse,
        g_mae,
        {
            f"raw features (cond {cond_raw:.0f})": h_raw,
            f"standardised (cond {cond_std:.1f})": h_std,
        },
        optimum,
    )
    path = save_figure(fig, out, "feature_scaling.png", dpi=120)
    result = {
        "gradient_slope_mse": slope_mse,
        "gradient_slope_mae": slope_mae,
        "hessian_cond_raw": cond_raw,
        "hessian_cond_standardised": cond_std,
        "steps_raw": steps_to_converge(h_raw, optimum, tol),
        "steps_standardised": steps_to_converge(h_std, optimum, tol),
        "final_gap_raw": float((h_raw[-1] - optimum) / optimum),
        "final_gap_standardised": float((h_std[-1] - optimum) / optimum),
        "tol": tol,
        "max_steps": steps,
    }
    sr = result["steps_raw"]
    result["headline"] = (
        f"d MSE/dw ~ s^{slope_mse:.2f}, d MAE/dw ~ s^{slope_mae:.2f}; gradient descent to "
        f"{tol:g} of the optimum: {sr if sr >= 0 else f'>{steps}'} steps on raw features "
        f"(Hessian cond {cond_raw:.0f}), {result['steps_standardised']} after standardising "
        f"(cond {cond_std:.2f})"
    )
    result["figure"] = path
    return result


if __name__ == "__main__":
    run_cli(main, __doc__)
