r"""Energy–volume: a physics-informed EnergyNet against a data-only net and Birch–Murnaghan.

Four all-electron DFT energies of fcc Cu (every other point of the bundled seven-point
WIEN2k curve) are fitted three ways:

* a **data-only** `eos.EnergyNet` (an MLP with ~300–1200 parameters): $\min \frac1N\sum_i
  (E(V_i) - E_i)^2$ — four points leave it free to bend as it likes in between;
* a **physics-informed** `EnergyNet`: the same data term plus what is known from elsewhere,
  zero pressure at the equilibrium volume and the bulk modulus there,
  $$L = \frac1N\sum_i (E(V_i) - E_i)^2 + 10^2\,E'(V_0)^2 + \big(V_0 E''(V_0) - B_0\big)^2,$$
  (`eos.ZeroPressure`, `eos.BulkModulus`, with $V_0$, $B_0$ taken here from the
  Birch–Murnaghan fit to all seven points, standing for a denser or independent calculation);
* a **Birch–Murnaghan** fit (Birch 1947) to the same four points: four parameters, four points.

Error bars come from an ensemble of nets started from different seeds: the spread of
$V_0$, $B_0$, $B_0'$ is how much the data (and constraints) leave undetermined. Both kinds of
net and all seeds are one compiled `pl.least_squares` call under `jax.vmap`: the data-only
objective is the physics-informed one with weights (1, 0, 0). The three held-out DFT points
measure the curve *between* the fitted ones.

Reference: F. Birch, Phys. Rev. 71, 809 (1947); data: E. Bosoni et al., Nat. Rev. Phys. 6, 45
(2024) (ACWF verification set, WIEN2k).

    python examples/energy_volume.py [--out FIG] [--smoke]
"""

from __future__ import annotations

import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pinnloss as pl
from pinnloss import eos

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import run_cli, save_figure

TRAIN = (0, 2, 4, 6)  # indices of the fitted points; the others are held out
HELD_OUT = (1, 3, 5)
KINDS = ("data-only net", "physics-informed net")
WEIGHTS = ((1.0, 0.0, 0.0), (1.0, 1e2, 1.0))  # data, zero pressure, bulk modulus
GPA = eos.EV_PER_A3_TO_GPA


def split(full: eos.EVData) -> eos.EVData:
    """The training points of `full`, on the same energy reference."""
    idx = np.asarray(TRAIN)
    return eos.EVData(
        full.volume[idx],
        full.absolute_energy[idx],
        reference=full.energy_shift,
        label=f"{full.label}, {len(idx)} of {len(full)} points",
    )


def objective(train: eos.EVData, v0, b0) -> pl.Objective:
    """Data MSE + zero pressure at `v0` + bulk modulus `b0` [eV/Å³] at `v0`."""
    return (
        pl.DataMSE(train.volume, train.energy, name="energy")
        + 1e2 * eos.ZeroPressure(v0=v0)
        + 1.0 * eos.BulkModulus(v0=v0, b0=b0)
    )


def make_nets(train: eos.EVData, keys, width: int) -> eos.EnergyNet:
    """One `EnergyNet` per key, stacked along a leading axis."""
    return eqx.filter_vmap(lambda k: eos.EnergyNet(train, width=width, key=k))(keys)


@eqx.filter_jit
def fit_nets(nets, objective: pl.Objective, weights, max_steps: int):
    """Levenberg–Marquardt fits of every net under every weight vector: `(models, loss)`,
    with leading axes `(len(weights), n_nets)`."""

    def per_weights(w):
        obj = eqx.tree_at(lambda o: o.weights, objective, w)

        def one(net):
            res = pl.least_squares(
                net, obj, max_steps=max_steps, solver=pl.LevenbergMarquardt(geodesic=None)
            )
            return res.model, res.loss

        return eqx.filter_vmap(one)(nets)

    return eqx.filter_vmap(per_weights)(weights)


@eqx.filter_jit
def evaluate(models, grid, held_v, v0, lo, hi):
    """For a doubly batched model, in one compiled call: `properties` (V0 searched in
    `[lo, hi]`), energies and pressures on `grid`, energies at `held_v`, pressure at `v0`."""

    def one(m):
        p = eos.properties(m, bracket=(lo, hi))
        return p, jax.vmap(m)(grid), eos.pressure(m, grid), jax.vmap(m)(held_v), eos.pressure(m, v0)

    return eqx.filter_vmap(eqx.filter_vmap(one))(models)


@eqx.filter_jit
def curve(model, volume):
    """Energy and pressure of one model at each volume (compiled once per model class)."""
    return jax.vmap(model)(volume), eos.pressure(model, volume)


def on_grid_and_data(model, grid, full: eos.EVData):
    """`(E(grid), P(grid), E(data volumes))` with energies shifted by `full.energy_shift`:
    one evaluation, so one compilation per model class."""
    v = jnp.concatenate([jnp.asarray(grid), jnp.asarray(full.volume)])
    e, p = (np.asarray(a) for a in curve(model, v))
    n = len(grid)
    return e[:n] - full.energy_shift, p[:n], e[n:] - full.energy_shift


def member(models, i: int, j: int):
    """Model `j` of kind `i` out of a doubly batched model."""
    return jax.tree_util.tree_map(lambda a: a[i, j] if eqx.is_array(a) else a, models)


def plot(full, grid, energies, pressures, props, ref, bm4, fig=None):
    """E(V) minus the seven-point Birch–Murnaghan curve, P(V), and B0 with error bars.

    `energies`, `pressures`: `(kind, net, grid)` arrays of the nets (energies shifted by
    `full.energy_shift`); `props`: their `EOSProperties`; `ref`, `bm4`: the seven- and
    four-point Birch–Murnaghan fits.
    """
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(14, 4.2), layout="constrained")
    ax0, ax1, ax2 = fig.subplots(1, 3)
    g = np.asarray(grid)
    e_ref, p_ref, ref_at_data = on_grid_and_data(ref, grid, full)
    for i, kind in enumerate(KINDS):
        for j in range(energies.shape[1]):
            lab = kind if j == 0 else None
            ax0.plot(g, 1e3 * (energies[i, j] - e_ref), c=f"C{i}", lw=0.8, alpha=0.7, label=lab)
            ax1.plot(g, GPA * pressures[i, j], c=f"C{i}", lw=0.8, alpha=0.7, label=lab)
    e_bm4 = on_grid_and_data(bm4, grid, full)[0]
    ax0.plot(g, 1e3 * (e_bm4 - e_ref), c="C2", lw=1.5, label="Birch–Murnaghan, 4 points")
    dev = 1e3 * (full.energy - ref_at_data)
    tr, ho = np.asarray(TRAIN), np.asarray(HELD_OUT)
    ax0.plot(full.volume[tr], dev[tr], "ko", label="fitted DFT points")
    ax0.plot(full.volume[ho], dev[ho], "ko", mfc="none", label="held-out DFT points")
    ax0.set(
        xlabel="V [Å³/atom]",
        ylabel="E − E_BM(7 points) [meV/atom]",
        title="energy between the points",
    )
    ax0.legend(fontsize=7)
    ax1.plot(g, GPA * p_ref, "k--", lw=1.2, label="Birch–Murnaghan, 7 points")
    ax1.axhline(0, c="0.6", lw=0.5)
    ax1.set(xlabel="V [Å³/atom]", ylabel="P = −dE/dV [GPa]", title="pressure")
    ax1.legend(fontsize=7)
    b0 = np.asarray(props.b0_gpa)
    for i in range(len(KINDS)):
        ax2.errorbar([i], [b0[i].mean()], yerr=[b0[i].std(ddof=1)], fmt="o", c=f"C{i}", capsize=4)
        ax2.plot(np.full(b0.shape[1], i) + 0.15, b0[i], ".", c=f"C{i}", alpha=0.6)
    ax2.plot([2], [float(bm4.b0) * GPA], "s", c="C2")
    ax2.axhline(float(ref.b0) * GPA, c="k", ls="--", lw=1, label="constraint (BM, 7 points)")
    ax2.set_xticks([0, 1, 2], ["data-only\nnet", "physics-\ninformed net", "BM,\n4 points"])
    ax2.set(ylabel="B0 [GPa]", title="bulk modulus: ensemble mean ± std")
    ax2.legend(fontsize=7)
    return fig


def main(smoke: bool = False, out: str | None = None) -> dict:
    """Run the experiment, save the figure, return the headline numbers."""
    n_nets, width, max_steps = (4, 16, 100) if smoke else (16, 32, 200)
    full = eos.example_data()
    train = split(full)
    ref = eos.fit_eos(full)  # the constraints' source: all seven points
    mask = np.isin(np.arange(len(full)), TRAIN).astype(float)
    bm4 = eos.fit_eos(full, weights=mask)  # zero weight = held out; same shapes, no recompile

    obj = objective(train, ref.v0, ref.b0)
    nets = make_nets(train, jax.random.split(jax.random.key(0), n_nets), width)
    models, loss = fit_nets(nets, obj, jnp.asarray(WEIGHTS, obj.weights.dtype), max_steps)

    lo, hi = float(full.volume.min()), float(full.volume.max())
    grid = jnp.asarray(np.linspace(lo, hi, 121))
    held_v = jnp.asarray(full.volume[np.asarray(HELD_OUT)])
    props, energies, pressures, held, p_v0 = evaluate(models, grid, held_v, ref.v0, lo, hi)
    energies, pressures = np.asarray(energies), np.asarray(pressures)
    held_err = np.asarray(held) - full.energy[np.asarray(HELD_OUT)]  # (kind, net, point) [eV]
    held_rms = 1e3 * np.sqrt(np.mean(held_err**2, axis=-1))  # (kind, net) [meV/atom]
    bm4_err = on_grid_and_data(bm4, grid, full)[2] - full.energy
    bm4_err = bm4_err[np.asarray(HELD_OUT)]
    e_ref = on_grid_and_data(ref, grid, full)[0]
    curve_rms = 1e3 * np.sqrt(np.mean((energies - e_ref) ** 2, axis=-1))

    fig = plot(full, grid, energies, pressures, props, ref, bm4)
    path = save_figure(fig, out, "energy_volume.png", dpi=120)

    v0, b0, b1 = (np.asarray(getattr(props, k)) for k in ("v0", "b0_gpa", "b1"))
    result = {
        "ref_v0": float(ref.v0),
        "ref_b0_gpa": float(ref.b0) * GPA,
        "ref_b1": float(ref.b1),
        "bm4_v0": float(bm4.v0),
        "bm4_b0_gpa": float(bm4.b0) * GPA,
        "bm4_held_out_rms_mev": float(1e3 * np.sqrt(np.mean(bm4_err**2))),
        "max_final_loss": float(np.max(loss)),
        "all_valid": bool(np.all(np.asarray(props.valid))),
        "n_nets": n_nets,
    }
    for i, tag in enumerate(("data", "pinn")):
        result[f"{tag}_v0_mean"] = float(v0[i].mean())
        result[f"{tag}_v0_std"] = float(v0[i].std(ddof=1))
        result[f"{tag}_b0_gpa_mean"] = float(b0[i].mean())
        result[f"{tag}_b0_gpa_std"] = float(b0[i].std(ddof=1))
        result[f"{tag}_b1_mean"] = float(b1[i].mean())
        result[f"{tag}_b1_std"] = float(b1[i].std(ddof=1))
        result[f"{tag}_held_out_rms_mev"] = float(held_rms[i].mean())
        result[f"{tag}_curve_rms_mev"] = float(curve_rms[i].mean())
        result[f"{tag}_max_abs_p_at_v0_gpa"] = float(np.max(np.abs(GPA * np.asarray(p_v0[i]))))
    r = result
    result["headline"] = (
        f"B0 [GPa]: data-only net {r['data_b0_gpa_mean']:.1f} ± {r['data_b0_gpa_std']:.1f}, "
        f"physics-informed {r['pinn_b0_gpa_mean']:.2f} ± {r['pinn_b0_gpa_std']:.1g} "
        f"(constraint {r['ref_b0_gpa']:.2f}); held-out error [meV/atom]: data-only "
        f"{r['data_held_out_rms_mev']:.2f}, physics-informed {r['pinn_held_out_rms_mev']:.2f}, "
        f"Birch–Murnaghan on 4 points {r['bm4_held_out_rms_mev']:.3f} ({n_nets} nets each)"
    )
    result["figure"] = path
    return result


if __name__ == "__main__":
    run_cli(main, __doc__)
