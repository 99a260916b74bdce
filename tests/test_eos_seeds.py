"""Seed ensembles of EnergyNets: vmapped fits in one call; constraints pin V0 and B0."""

import jax
import numpy as np

import pinnloss as pl
from pinnloss import eos


def test_seed_ensemble_spread():
    data = eos.example_data()
    ref = eos.fit_eos(data)
    objective = (
        pl.DataMSE(data.volume, data.energy)
        + 1e2 * eos.ZeroPressure(v0=ref.v0)
        + eos.BulkModulus(v0=ref.v0, b0=ref.b0)
    )
    ens = eos.seed_ensemble(data, objective, n=3, key=jax.random.key(0), width=16)
    assert ens.n == ens.n_valid == 3
    s = ens.samples
    # every member honours the constraints, so V0 and B0 barely spread ...
    assert np.allclose(s.v0, float(ref.v0), rtol=1e-6)
    assert np.allclose(s.b0, float(ref.b0), rtol=1e-4)
    assert np.allclose(s.e0, float(ref.e0), atol=1e-4)  # absolute energies
    # ... while B0', which nothing constrains, does: the error bar says so
    assert ens.std.b1 > 1e-3
    assert np.isclose(ens.std.b1, np.std(s.b1, ddof=1), rtol=1e-12)
