r"""Vanishing gradients: MSE after a sigmoid against binary cross-entropy from logits.

For a label $y = 1$ and a logit $z$, with $p = \sigma(z)$:

* MSE after the sigmoid, $(\sigma(z) - 1)^2$, has
  $d/dz = 2(\sigma(z) - 1)\,\sigma(z)(1 - \sigma(z))$, which behaves like $-2e^{z}$ as
  $z \to -\infty$: a confidently wrong prediction gets almost no gradient.
* Binary cross-entropy, $\log(1 + e^{-z})$, has $d/dz = \sigma(z) - 1 \to -1$: the more
  wrong, the harder it pulls.

Then a logistic-regression model is started confidently wrong (its weights point the
opposite way, scaled up) and trained by plain gradient descent under each loss. Both runs
are one compiled, vmapped `pl.fit`: the two objectives differ only in their weight arrays.

    python examples/vanishing_gradients.py [--out FIG] [--smoke]
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


def mse_after_sigmoid(logits, labels):
    r"""$\frac1N\sum_i (\sigma(z_i) - y_i)^2$: squared error on probabilities."""
    return pl.losses.mse(jax.nn.sigmoid(logits), labels)


def error_rate(logits, labels):
    """Fraction of misclassified points (no gradient: used with weight 0 to log accuracy)."""
    wrong = (logits > 0) != (labels > 0.5)
    return jnp.mean(wrong.astype(jnp.result_type(logits)))


@jax.jit
def logit_gradients(z):
    """`d loss / d z` of both losses for label 1, at each logit in `z`."""
    one = jnp.ones((1,), z.dtype)
    g_mse = jax.vmap(jax.grad(lambda t: mse_after_sigmoid(t[None], one)))(z)
    g_bce = jax.vmap(jax.grad(lambda t: pl.losses.sigmoid_binary_cross_entropy(t[None], one)))(z)
    return g_mse, g_bce


class Logistic(eqx.Module):
    """A linear classifier's logit, $z = w \\cdot x + b$."""

    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        return self.w @ x + self.b


def make_data(seed: int, n: int):
    """Two Gaussian features; label 1 where $u \\cdot x > 0$ for a fixed direction u."""
    dtype = jnp.result_type(float)
    x = np.random.default_rng(seed).standard_normal((n, 2))
    u = np.array([0.8, -0.6])
    return jnp.asarray(x, dtype), jnp.asarray(x @ u > 0, dtype), jnp.asarray(u, dtype)


def train_both(x, y, start: Logistic, steps: int, lr: float):
    """Gradient descent under MSE-after-sigmoid and under BCE: one compiled, vmapped fit.

    The objective holds three terms; the weights (1, 0, 0) select MSE, (0, 1, 0) BCE. The
    third term, the error rate, has weight 0: it is only logged in the history.
    """
    objective = (
        pl.DataLoss(x, y, loss=mse_after_sigmoid, name="mse_after_sigmoid")
        + pl.DataLoss(x, y, loss=pl.losses.sigmoid_binary_cross_entropy, name="bce")
        + 0.0 * pl.DataLoss(x, y, loss=error_rate, name="error_rate")
    )
    weights = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], objective.weights.dtype)
    opt = optax.sgd(lr)

    @eqx.filter_jit
    def run(weights):
        def one(w):
            obj = eqx.tree_at(lambda o: o.weights, objective, w)
            res = pl.fit(start, obj, opt, steps=steps, progress=False)
            return res.model, res.history

        return jax.vmap(one)(weights)

    models, history = run(weights)
    pick = lambda i: jax.tree_util.tree_map(lambda a: a[i], (models, history))
    return {"mse": pick(0), "bce": pick(1)}


def first_step_below(values, level: float) -> int:
    """The first step at which `values` drops below `level` (-1 if it never does)."""
    hit = np.flatnonzero(np.asarray(values) < level)
    return int(hit[0]) if hit.size else -1


def plot(z, g_mse, g_bce, runs, fig=None):
    """Left: |dloss/dz| against the logit; right: error rate during training."""
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(10, 4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    ax0.semilogy(z, np.abs(g_mse), label="MSE after sigmoid")
    ax0.semilogy(z, np.abs(g_bce), label="BCE from logits")
    ax0.set(
        xlabel="logit z (label y = 1)",
        ylabel="|d loss / d z|",
        title="gradient vs logit: wrong side on the left",
    )
    ax0.legend()
    for name, label in (("mse", "MSE after sigmoid"), ("bce", "BCE from logits")):
        ax1.plot(runs[name][1]["error_rate"], label=label)
    ax1.set(
        xlabel="gradient-descent step",
        ylabel="error rate",
        title="training from a confidently wrong start",
        ylim=(-0.02, 1.02),
    )
    ax1.legend()
    return fig


def main(smoke: bool = False, out: str | None = None) -> dict:
    """Run the experiment, save the figure, return the headline numbers."""
    n, steps = (200, 300) if smoke else (1000, 1000)
    z = np.linspace(-15.0, 15.0, 301)  # contains -10 exactly, at index 50
    g_mse, g_bce = (np.asarray(g) for g in logit_gradients(jnp.asarray(z, jnp.result_type(float))))
    gm, gb = g_mse[50], g_bce[50]
    ratio = float(abs(gb / gm))

    x, y, u = make_data(0, n)
    start = Logistic(-10.0 * u, jnp.zeros((), u.dtype))  # confidently wrong: flipped, scaled
    runs = train_both(x, y, start, steps, lr=1.0)
    err = {k: np.asarray(runs[k][1]["error_rate"]) for k in runs}
    final_err = {}
    for k, (model, _) in runs.items():
        logits = np.asarray(x) @ np.asarray(model.w) + np.asarray(model.b)
        final_err[k] = float(np.mean((logits > 0) != (np.asarray(y) > 0.5)))

    fig = plot(z, g_mse, g_bce, runs)
    path = save_figure(fig, out, "vanishing_gradients.png", dpi=120)
    result = {
        "grad_ratio_bce_over_mse_at_z_minus10": ratio,
        "grad_mse_at_z_minus10": float(gm),
        "grad_bce_at_z_minus10": float(gb),
        "initial_error_rate": float(err["mse"][0]),
        "final_error_rate_mse": final_err["mse"],
        "final_error_rate_bce": final_err["bce"],
        "steps_to_10pct_error_mse": first_step_below(err["mse"], 0.1),
        "steps_to_10pct_error_bce": first_step_below(err["bce"], 0.1),
        "steps": steps,
    }
    s_mse = result["steps_to_10pct_error_mse"]
    result["headline"] = (
        f"at logit -10 the BCE gradient is {ratio:.3g}x the MSE-after-sigmoid one; from a "
        f"confidently wrong start BCE reaches 10% error in "
        f"{result['steps_to_10pct_error_bce']} steps, MSE "
        + (f"in {s_mse}" if s_mse >= 0 else f"not in {steps}")
        + f" (final error {final_err['bce']:.2f} vs {final_err['mse']:.2f})"
    )
    result["figure"] = path
    return result


if __name__ == "__main__":
    run_cli(main, __doc__)
