"""The reference case of the issue: FLEUR Cu points + AE-average constraints, EnergyNet."""

import json
from pathlib import Path

import jax
import numpy as np

import pinnloss as pl
from pinnloss import eos

ACWF = Path(__file__).resolve().parent / "data" / "acwf"  # vendored, MIT (see its LICENSE)


def test_cu_reference_case():
    """FLEUR Cu (X/FCC) points + AE-average V0, B0 constraints, fitted by least squares."""
    data = eos.load(ACWF / "results-unaries-verification-PBE-v1-fleur.json", key="Cu-X/FCC")
    ae = json.loads((ACWF / "results-unaries-verification-PBE-v1-AE-average.json").read_text())
    ref = ae["BM_fit_data"]["Cu-X/FCC"]
    v0, b0 = ref["min_volume"], ref["bulk_modulus_ev_ang3"]
    net = eos.EnergyNet(data, width=32, depth=2, key=jax.random.key(0))
    objective = (
        pl.DataMSE(data.volume, data.energy)
        + 1e2 * eos.ZeroPressure(v0=v0)
        + 1e0 * eos.BulkModulus(v0=v0, b0=b0)
    )
    result = pl.least_squares(net, objective)
    p = eos.properties(result.model, data)
    rms = 1e3 * np.sqrt(
        np.mean((np.asarray(jax.vmap(result.model)(data.volume)) - data.energy) ** 2)
    )
    dv, db = abs(p.v0 / v0 - 1), abs(p.b0 / b0 - 1)
    print(
        f"\nCu reference: V0 = {p.v0:.6f} Å³ (constraint {v0:.6f}, rel {dv:.1e}), "
        f"B0 = {p.b0_gpa:.3f} GPa (constraint {b0 * eos.EV_PER_A3_TO_GPA:.3f}, rel {db:.1e}), "
        f"B0' = {p.b1:.3f}, RMS = {rms:.2e} meV/atom, loss {float(result.loss):.1e} "
        f"in {int(result.steps)} steps ({result.reason})"
    )
    assert dv < 5e-4 and db < 1e-2 and rms < 0.5
    # E0 is absolute (properties adds the data's energy_shift back)
    assert abs(p.e0 - (-45035.7486)) < 1e-3
