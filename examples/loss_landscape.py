r"""Loss landscape: the Hessian of MSE is PSD for a linear model, indefinite for an MLP.

For $L(\theta) = \frac1N\sum_i (f_\theta(x_i) - y_i)^2$,
$\nabla^2 L = \frac2N\sum_i \nabla f_i \nabla f_i^\top + \frac2N\sum_i r_i\, \nabla^2 f_i$.
A model linear in $\theta$ has $\nabla^2 f_i = 0$, so the Hessian is the Gauss–Newton
matrix $\frac2N X^\top X$: positive semi-definite, a convex bowl. An MLP's second term is
indefinite wherever the residuals are not zero, so its Hessian has negative eigenvalues:
saddles, not a bowl. `pl.hessian_matrix` (jax.hessian over the flattened parameters)
gives both spectra.

    python examples/loss_landscape.py [--out FIG] [--smoke]
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


class Linear(eqx.Module):
    r"""$f(x) = w \cdot x + b$."""

    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        return self.w @ x + self.b


def make_data(seed: int, n: int, d: int):
    r"""Inputs in $[-1, 1]^d$ and targets $\sin(3 x_1) + \frac12 x_2^2$ (d >= 2)."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, (n, d))
    y = np.sin(3 * x[:, 0]) + 0.5 * x[:, 1] ** 2
    dtype = jnp.result_type(float)
    return jnp.asarray(x, dtype), jnp.asarray(y, dtype)


@eqx.filter_jit
def make_mlp(key, d: int, width: int) -> eqx.nn.MLP:
    """A tanh MLP from d inputs to one scalar output (built in one compiled call)."""
    return eqx.nn.MLP(d, "scalar", width, 2, jax.nn.tanh, key=key, dtype=jnp.result_type(float))


def spectrum(term, model) -> np.ndarray:
    """Ascending eigenvalues of the term's Hessian in the model's parameters."""
    return np.linalg.eigvalsh(np.asarray(pl.hessian_matrix(term, model)))


def n_negative(ev: np.ndarray, rtol: float = 1e-10) -> int:
    r"""Eigenvalues below $-\mathrm{rtol}\cdot\max|\lambda|$ (round-off is not negative)."""
    return int(np.sum(ev < -rtol * np.max(np.abs(ev))))


def plot(spectra: dict[str, np.ndarray], fig=None):
    """The sorted Hessian eigenvalues of each model, side by side (symmetric log scale)."""
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, len(spectra), sharey=True)
    for ax, (name, ev) in zip(axes, spectra.items(), strict=True):
        neg = ev < -1e-10 * np.max(np.abs(ev))
        idx = np.arange(len(ev))
        ax.scatter(idx[~neg], ev[~neg], s=8, c="C0", label="$\\geq 0$")
        ax.scatter(idx[neg], ev[neg], s=12, c="C3", label=f"< 0 ({neg.sum()})")
        ax.axhline(0, c="k", lw=0.5)
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.set(xlabel="eigenvalue index", title=name)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("Hessian eigenvalue of the MSE")
    return fig


def main(smoke: bool = False, out: str | None = None) -> dict:
    """Run the experiment, save the figure, return the headline numbers."""
    n, d, width, steps = (64, 6, 8, 1500) if smoke else (256, 10, 16, 5000)
    x, y = make_data(0, n, d)
    term = pl.DataMSE(x, y)

    linear = Linear(jnp.zeros(d, x.dtype), jnp.zeros((), x.dtype))
    h_lin = np.asarray(pl.hessian_matrix(term, linear))
    design = np.column_stack([np.asarray(x), np.ones(n)])  # ravel order: w, then b
    h_exact = 2.0 / n * design.T @ design
    ev_lin = np.linalg.eigvalsh(h_lin)

    mlp = make_mlp(jax.random.key(0), d, width)
    ev_init = spectrum(term, mlp)
    opt = optax.adam(1e-2)
    trained = pl.fit(mlp, term, opt, steps=steps, progress=False)
    ev_trained = spectrum(term, trained.model)
    gn = np.linalg.eigvalsh(np.asarray(pl.gauss_newton_matrix(term, mlp)))

    spectra = {
        f"linear model ({ev_lin.size} parameters)": ev_lin,
        f"MLP at initialisation ({ev_init.size})": ev_init,
        f"MLP after {steps} Adam steps": ev_trained,
    }
    fig = plot(spectra)
    path = save_figure(fig, out, "loss_landscape.png", dpi=120)
    result = {
        "linear_min_eig": float(ev_lin[0]),
        "linear_max_eig": float(ev_lin[-1]),
        "linear_hessian_vs_2XtX_max_abs_err": float(np.max(np.abs(h_lin - h_exact))),
        "mlp_init_min_eig": float(ev_init[0]),
        "mlp_init_max_eig": float(ev_init[-1]),
        "mlp_init_n_negative": n_negative(ev_init),
        "mlp_trained_min_eig": float(ev_trained[0]),
        "mlp_trained_max_eig": float(ev_trained[-1]),
        "mlp_trained_n_negative": n_negative(ev_trained),
        "mlp_trained_loss": float(trained.loss),
        "mlp_gauss_newton_min_eig": float(gn[0]),
        "mlp_gauss_newton_max_eig": float(gn[-1]),
        "mlp_n_params": int(ev_init.size),
    }
    result["headline"] = (
        f"linear model: smallest Hessian eigenvalue {ev_lin[0]:.3g} >= 0 (largest "
        f"{ev_lin[-1]:.3g}); MLP: {result['mlp_init_n_negative']} of {ev_init.size} "
        f"eigenvalues negative at initialisation (smallest {ev_init[0]:.3g}), "
        f"{result['mlp_trained_n_negative']} after training (smallest {ev_trained[0]:.3g})"
    )
    result["figure"] = path
    return result


if __name__ == "__main__":
    run_cli(main, __doc__)
