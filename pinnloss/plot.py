"""Generic matplotlib figures of a fit: the loss history per term.

Matplotlib is imported when a function is called, not when `pinnloss` is imported.
Each function returns a `matplotlib.figure.Figure`; save it with `fig.savefig("loss.png")`.
Figures of energy–volume fits (E(V) with residuals, P(V)) live in `pinnloss.eos.plot`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["loss_history"]

_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1)))


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(**kw)


def loss_history(history, *, title: str | None = None):
    """Loss per term against step, log scale, from `Solution.history` (or the result).

    Args:
        history: a `{name: array(steps,)}` dict (`result.history`) or a `pl.Solution`.

    Example:
        >>> result = pl.fit(net, objective, optax.adam(1e-3), steps=2000)
        >>> fig = pinnloss.plot.loss_history(result)
    """
    if hasattr(history, "history"):
        history = history.history
    if not isinstance(history, Mapping) or not history:
        raise ValueError(
            "loss_history: expected a non-empty {name: array} dict or a pl.Solution; got "
            f"{type(history).__name__}."
        )
    curves = {}
    for name, h in history.items():
        h = np.asarray(h, dtype=np.float64)
        if h.ndim != 1:
            raise ValueError(f"loss_history: history[{name!r}] must be 1-D; got shape {h.shape}.")
        curves[name] = h
    total = curves.get("total")
    fig = _figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    # "total" thick and underneath; terms dashed on top, so a term equal to it stays visible
    for i, (name, h) in enumerate(curves.items()):
        if name == "total":
            style = dict(color="k", lw=2.4, ls="-", zorder=2)
        else:
            style = dict(color=f"C{i}", lw=1.3, ls=_STYLES[i % len(_STYLES)], zorder=3 + i)
            if total is not None and total.shape == h.shape and np.allclose(h, total, rtol=1e-9):
                name = f"{name} (= total)"
        ax.plot(np.arange(1, h.size + 1), np.where(h > 0, h, np.nan), label=name, **style)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return fig
