"""Keypoint heatmaps with a visibility mask: occluded joints stop pulling the model.

A net maps a pose (root position and angle of a three-joint arm) to one heatmap per
joint, a Gaussian bump at the joint's pixel position, trained on the heatmap MSE. Where
an occluder covers the right part of the image, most joints there are not annotated;
their label is the empty heatmap. Plain MSE treats "not annotated" as "not there": the
occluded joints pull the net's heatmaps in that region toward zero and the peaks fade.
A visibility mask v_ij ∈ {0, 1}, given as per-joint weights to pl.DataMSE,

    Σ_ij v_ij |H_θ(x_i)_j − T_ij|² / Σ_ij v_ij · (pixels),

removes those labels from the loss (and from its gradient: an occluded joint
contributes exactly zero), so the peaks keep their height wherever the joint is.

Run:  python examples/keypoints.py [--out FIG] [--smoke]
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

SIZE = 12  # heatmap side, pixels
JOINTS = 3
SIGMA = 1.0  # bump width, pixels
OCCLUDER_X = 7.5  # joints right of this column are hidden ...
P_HIDDEN = 0.85  # ... with this probability


def joints(pose: np.ndarray) -> np.ndarray:
    """Pixel positions (N, J, 2) of a three-joint arm: root (x, y), angle a, links of ~2 px."""
    root, angle = pose[:, :2], pose[:, 2]
    bend = 0.6 * np.sin(2.0 * angle)
    out = [root]
    for j, a in enumerate((angle, angle + bend)):
        d = np.stack([np.cos(a), np.sin(a)], axis=1)
        out.append(out[-1] + 2.2 * d * (1 + 0.2 * j))
    return np.stack(out, axis=1)


def heatmaps(points: np.ndarray) -> np.ndarray:
    """Gaussian heatmaps (N, J, SIZE, SIZE) with peak 1 at each point."""
    g = np.arange(SIZE)
    dx = g[None, None, None, :] - points[:, :, 0, None, None]
    dy = g[None, None, :, None] - points[:, :, 1, None, None]
    return np.exp(-(dx**2 + dy**2) / (2 * SIGMA**2))


def make_data(n: int, rng: np.random.Generator):
    pose = np.stack(
        [rng.uniform(2, 10, n), rng.uniform(2, 10, n), rng.uniform(-np.pi, np.pi, n)], axis=1
    )
    pts = joints(pose)
    pose_features = np.concatenate(
        [(pose[:, :2] - 6.0) / 4.0, np.cos(pose[:, 2:]), np.sin(pose[:, 2:])], axis=1
    )
    return pose_features, pts, heatmaps(pts)


class HeatmapNet(eqx.Module):
    mlp: eqx.nn.MLP

    def __init__(self, key):
        self.mlp = eqx.nn.MLP(4, JOINTS * SIZE * SIZE, 64, 2, activation=jax.nn.gelu, key=key)

    def __call__(self, x):
        return self.mlp(x).reshape(JOINTS, SIZE, SIZE)


def peak_at(pred: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Predicted heatmap value at the nearest pixel to each true joint, (N, J)."""
    ij = np.clip(np.rint(pts).astype(int), 0, SIZE - 1)
    n, j = np.meshgrid(np.arange(pts.shape[0]), np.arange(pts.shape[1]), indexing="ij")
    return pred[n, j, ij[..., 1], ij[..., 0]]


def localisation_error(pred: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Pixel distance between each heatmap's argmax and the true joint, (N, J)."""
    flat = pred.reshape(*pred.shape[:2], -1).argmax(-1)
    yx = np.stack([flat % SIZE, flat // SIZE], axis=-1)
    return np.linalg.norm(yx - pts, axis=-1)


def main(smoke: bool = False, out: str | None = None) -> dict:
    n_train, steps = (200, 500) if smoke else (1000, 3000)
    rng = np.random.default_rng(0)
    x, pts, target = make_data(n_train, rng)
    hidden = (pts[..., 0] > OCCLUDER_X) & (rng.uniform(size=pts.shape[:2]) < P_HIDDEN)
    visible = (~hidden).astype(float)
    labels = target * visible[:, :, None, None]  # an occluded joint is labelled "empty"
    x_test, pts_test, target_test = make_data(1000, np.random.default_rng(1))

    optimizer = optax.adam(optax.cosine_decay_schedule(2e-3, steps, alpha=0.05))
    net0 = HeatmapNet(jax.random.key(0))
    x_j, labels_j = jnp.asarray(x), jnp.asarray(labels)
    plain = pl.fit(net0, pl.DataMSE(x_j, labels_j), optimizer, steps=steps, progress=False)
    masked = pl.fit(
        net0,
        pl.DataMSE(x_j, labels_j, weights=jnp.asarray(visible)),
        optimizer,
        steps=steps,
        progress=False,
    )

    in_region = pts_test[..., 0] > OCCLUDER_X + 0.5
    res = {}
    for name, fit in (("plain", plain), ("masked", masked)):
        pred = np.asarray(jax.vmap(fit.model)(jnp.asarray(x_test)))
        peak = peak_at(pred, pts_test)
        err = localisation_error(pred, pts_test)
        res[name] = dict(
            pred=pred,
            peak_occluded=float(peak[in_region].mean()),
            peak_clear=float(peak[~in_region].mean()),
            err_occluded=float(np.median(err[in_region])),
            detected_occluded=float(
                np.mean(pred.reshape(*pred.shape[:2], -1).max(-1)[in_region] > 0.5)
            ),
            test_mse=float(np.mean((pred - target_test) ** 2)),
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    i = int(np.argmax(in_region.sum(1)))  # a test pose with joints behind the occluder
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    for ax, img, title in (
        (axes[0], target_test[i].max(0), "true heatmaps (max over joints)"),
        (axes[1], res["plain"]["pred"][i].max(0), "plain MSE"),
        (axes[2], res["masked"]["pred"][i].max(0), "masked MSE (visibility weights)"),
    ):
        ax.imshow(img, vmin=0, vmax=1, cmap="magma", origin="lower")
        ax.axvspan(OCCLUDER_X, SIZE - 0.5, color="c", alpha=0.15)
        ax.plot(*pts_test[i].T, "c+", ms=10)
        ax.set_title(title)
    ax = axes[3]
    cols = np.arange(SIZE)
    for name, col in (("plain", "C0"), ("masked", "C1")):
        pk = peak_at(res[name]["pred"], pts_test)
        mean_by_col = [
            pk[np.rint(pts_test[..., 0]) == c].mean()
            if np.any(np.rint(pts_test[..., 0]) == c)
            else np.nan
            for c in cols
        ]
        ax.plot(cols, mean_by_col, "o-", color=col, label=name)
    ax.axvspan(OCCLUDER_X, SIZE - 0.5, color="c", alpha=0.15, label="occluder")
    ax.axhline(1.0, color="k", ls=":")
    ax.set_xlabel("joint column (pixels)")
    ax.set_ylabel("predicted peak height")
    ax.set_title("peaks fade where labels are missing")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = save_figure(fig, out, "keypoints.png", dpi=110)

    p, m = res["plain"], res["masked"]
    rel_p, rel_m = p["peak_occluded"] / p["peak_clear"], m["peak_occluded"] / m["peak_clear"]
    headline = (
        f"heatmap peak at joints behind the occluder, relative to the clear region: plain "
        f"MSE {rel_p:.0%}, masked {rel_m:.0%} (absolute {p['peak_occluded']:.2f} vs "
        f"{m['peak_occluded']:.2f}; detected with peak > 0.5: {p['detected_occluded']:.0%} "
        f"vs {m['detected_occluded']:.0%})"
    )
    return {
        "headline": headline,
        "relative_peak_occluded_plain": rel_p,
        "relative_peak_occluded_masked": rel_m,
        "peak_occluded_plain": p["peak_occluded"],
        "peak_occluded_masked": m["peak_occluded"],
        "peak_clear_plain": p["peak_clear"],
        "peak_clear_masked": m["peak_clear"],
        "detected_occluded_plain": p["detected_occluded"],
        "detected_occluded_masked": m["detected_occluded"],
        "median_pixel_error_occluded_plain": p["err_occluded"],
        "median_pixel_error_occluded_masked": m["err_occluded"],
        "test_mse_plain": p["test_mse"],
        "test_mse_masked": m["test_mse"],
        "fraction_hidden": float(hidden.mean()),
        "figure": path,
    }


if __name__ == "__main__":
    run_cli(main, __doc__, x64=False)  # float32 is plenty for heatmaps, and twice as fast
