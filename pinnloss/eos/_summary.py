"""`Ensemble`: mean and spread of E(V) properties over an ensemble of fits.

Its own module so that every ensemble maker (`bootstrap`, `seed_ensemble` in `_ensemble.py`,
the flexible form's refits in `_flex.py`) can build one without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._data import UNITS
from ._properties import _LABELS, EOSProperties
from ._stderr import format_value

__all__ = ["KEYS", "Ensemble", "summarise"]

KEYS = ("v0", "e0", "b0", "b0_gpa", "b1")


@dataclass(frozen=True)
class Ensemble:
    """Mean and standard deviation of each property over an ensemble of fits.

    What the spread means depends on the ensemble, and differs from the Gauss–Newton
    standard errors of `properties(fit, data).std` (the noise in the data propagated through
    a correct form, calibrated for the residual degrees of freedom):

    - `bootstrap`: refits to resampled points; assumes nothing about the noise but on
      few-point curves overestimates the spread (B0 3–5× on 7-point curves).
    - `seed_ensemble`: neural fits from different random starts; measures how much the
      data and constraints leave the model undetermined, not the noise in the data.

    Attributes:
        mean, std: `EOSProperties` of NumPy float64 scalars (std with ddof=1).
        samples: `EOSProperties` of arrays, one entry per member (NaN where it failed).
        n: members run. n_valid: members that converged to a valid fit (a minimum inside
            the data range; for the bootstrap also as many distinct points as parameters).
        weights: for `bootstrap`, the `(n, N)` resample counts used as point weights.
    """

    mean: EOSProperties
    std: EOSProperties
    samples: EOSProperties
    n: int
    n_valid: int
    weights: np.ndarray | None = None

    def as_dict(self) -> dict[str, dict[str, float]]:
        """`{"v0": {"mean": ..., "std": ...}, ...}` as Python floats."""
        return {
            k: {"mean": float(getattr(self.mean, k)), "std": float(getattr(self.std, k))}
            for k in KEYS
        }

    def __str__(self) -> str:
        rows = []
        for k in KEYS:
            m, sd = float(getattr(self.mean, k)), float(getattr(self.std, k))
            rows.append(f"  {_LABELS[k]:<4s}= {format_value(m, sd, UNITS[k])}")
        return (
            f"Ensemble mean ± std over {self.n_valid}/{self.n} members (members that converged "
            "to a valid fit: a minimum inside the data)\n" + "\n".join(rows)
        )

    __repr__ = __str__


def summarise(samples: dict[str, np.ndarray], valid: np.ndarray, where: str, weights=None):
    n = int(valid.size)
    nv = int(valid.sum())
    if nv < 2:
        raise ValueError(
            f"{where}: only {nv} of {n} ensemble members found a minimum inside the data; "
            "error bars need at least 2. Use more points or more members."
        )
    s = {k: np.where(valid, np.asarray(v, np.float64), np.nan) for k, v in samples.items()}
    mean = {k: np.float64(np.nanmean(v)) for k, v in s.items()}
    std = {k: np.float64(np.nanstd(v, ddof=1)) for k, v in s.items()}
    ok = np.bool_(True)
    return Ensemble(
        mean=EOSProperties(**mean, valid=ok),
        std=EOSProperties(**std, valid=ok),
        samples=EOSProperties(**s, valid=valid),
        n=n,
        n_valid=nv,
        weights=weights,
    )
