"""The benchmark problem: an MLP 1→32→32→1 fitted to per-atom Cu E(V) with physics terms.

Data: the FLEUR (all-electron, PBE) third-order Birch–Murnaghan fit of fcc Cu from the
ACWF verification set (Bosoni et al., Nat. Rev. Phys. 6, 45 (2024)), evaluated at 9
volumes spanning the 7 measured points (94–106 % of the central volume), per atom, with
the minimum energy subtracted. Objective:

    mean_i (E(V_i) - E_i)^2 + 1e2 · E'(V0)^2 + 1 · (E''(V0) - B0/V0)^2

i.e. data, zero pressure and bulk modulus at the reference V0.
"""

from __future__ import annotations

import json
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

DATA = os.environ.get(
    "PINNLOSS_ACWF",
    os.path.join(os.path.dirname(__file__), "..", "tests", "data", "acwf"),
)
FALLBACK = {  # the FLEUR fit of Cu-X/FCC (per atom), used when the data folder is absent
    "v0": 11.953419067991206,
    "b0": 0.8804828107714299,
    "b1": 5.052030844573864,
    "vmin": 11.243023518823408,
    "vmax": 12.678303116971078,
}
N_POINTS = 9
W_ZERO_P = 1e2
W_BULK = 1.0


def birch_murnaghan(v, e0, v0, b0, b1):
    """Third-order Birch–Murnaghan energy (Birch 1947)."""
    eta = (v0 / v) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * (
        (eta - 1.0) ** 3 * b1 + (eta - 1.0) ** 2 * (6.0 - 4.0 * eta)
    )


def cu_reference() -> dict:
    """V0 [Å³/atom], B0 [eV/Å³], B0' and the volume range of the FLEUR Cu fcc curve."""
    path = os.path.join(DATA, "results-unaries-verification-PBE-v1-fleur.json")
    if not os.path.exists(path):
        return dict(FALLBACK)
    with open(path) as f:
        d = json.load(f)
    key = "Cu-X/FCC"
    n = d["num_atoms_in_sim_cell"][key]
    bm = d["BM_fit_data"][key]
    vols = np.asarray(d["eos_data"][key])[:, 0] / n
    return {
        "v0": bm["min_volume"] / n,
        "b0": bm["bulk_modulus_ev_ang3"],
        "b1": bm["bulk_deriv"],
        "vmin": float(vols.min()),
        "vmax": float(vols.max()),
    }


def cu_data(n: int = N_POINTS, dtype=np.float64):
    """`(V, E, ref)`: n volumes and energies (eV/atom, minimum 0) of fcc Cu."""
    ref = cu_reference()
    v = np.linspace(ref["vmin"], ref["vmax"], n)
    e = birch_murnaghan(v, 0.0, ref["v0"], ref["b0"], ref["b1"])
    return v.astype(dtype), (e - e.min()).astype(dtype), ref


class MLP(eqx.Module):
    """1→32→32→1 tanh MLP on a scaled volume; `model(v)` is the energy at one volume."""

    w1: jax.Array
    b1: jax.Array
    w2: jax.Array
    b2: jax.Array
    w3: jax.Array
    b3: jax.Array
    v_c: jax.Array
    v_s: jax.Array
    e_s: jax.Array

    def __init__(self, v, e, key, width: int = 32, dtype=jnp.float64):
        k1, k2, k3 = jax.random.split(key, 3)

        def glorot(k, shape):
            lim = np.sqrt(6.0 / sum(shape))
            return jax.random.uniform(k, shape, dtype, -lim, lim)

        self.w1 = glorot(k1, (width, 1))
        self.b1 = jnp.zeros((width,), dtype)
        self.w2 = glorot(k2, (width, width))
        self.b2 = jnp.zeros((width,), dtype)
        self.w3 = glorot(k3, (1, width))
        self.b3 = jnp.zeros((1,), dtype)
        v = np.asarray(v, np.float64)
        e = np.asarray(e, np.float64)
        self.v_c = jnp.asarray(v.mean(), dtype)
        self.v_s = jnp.asarray(v.std(), dtype)
        self.e_s = jnp.asarray(max(e.std(), 1e-12), dtype)

    def __call__(self, v):
        v_c, v_s, e_s = (jax.lax.stop_gradient(a) for a in (self.v_c, self.v_s, self.e_s))
        x = jnp.reshape((v - v_c) / v_s, (1,))
        h = jnp.tanh(self.w1 @ x + self.b1)
        h = jnp.tanh(self.w2 @ h + self.b2)
        return e_s * (self.w3 @ h + self.b3)[0]


def make_model(key=None, dtype=jnp.float64):
    v, e, _ = cu_data()
    return MLP(v, e, jax.random.key(0) if key is None else key, dtype=dtype)


def make_objective(dtype=jnp.float64):
    """The pinnloss objective: DataMSE + 1e2 · ZeroPressure + 1 · BulkModulus."""
    import pinnloss as pl

    v, e, ref = cu_data()
    v0 = jnp.asarray(ref["v0"], dtype)
    return (
        pl.DataMSE(jnp.asarray(v, dtype), jnp.asarray(e, dtype))
        + W_ZERO_P * pl.Derivative(v0, 1, jnp.asarray(0.0, dtype), name="zero_pressure")
        + W_BULK * pl.Derivative(v0, 2, jnp.asarray(ref["b0"] / ref["v0"], dtype), name="bulk")
    )


def problem_arrays(dtype=jnp.float64):
    """The objective's data as a tuple of arrays (for the hand-written baselines)."""
    v, e, ref = cu_data()
    return (
        jnp.asarray(v, dtype),
        jnp.asarray(e, dtype),
        jnp.asarray(ref["v0"], dtype),
        jnp.asarray(ref["b0"] / ref["v0"], dtype),
        jnp.asarray([1.0, W_ZERO_P, W_BULK], dtype),
    )


def loss_fn(model, data):
    """The same objective written by hand (nested jax.grad for the derivatives)."""
    v, e, v0, e2_target, w = data
    pred = jax.vmap(model)(v)
    mse = jnp.mean((pred - e) ** 2)
    d1 = jax.grad(model)(v0)
    d2 = jax.grad(jax.grad(model))(v0)
    return w[0] * mse + w[1] * d1**2 + w[2] * (d2 - e2_target) ** 2


def best(fn, repeats=3):
    """Best wall time of `fn()` over `repeats` calls, waiting for its result each time."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def adam_step(objective, opt, static):
    """One Adam step of the benchmark fit on the array part `p` of the model, state `s`."""
    import optax

    def one_step(p, s):
        loss, g = jax.value_and_grad(lambda q: objective(eqx.combine(q, static)))(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    return one_step


def cost_analysis(compiled) -> dict:
    """XLA's cost analysis of a compiled program as one dict (older JAX returns a list)."""
    ca = compiled.cost_analysis()
    return ca[0] if isinstance(ca, (list, tuple)) else ca
