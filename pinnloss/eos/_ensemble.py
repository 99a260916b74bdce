"""Error bars: ensembles over bootstrap resamples or random seeds, in one compiled call."""

from __future__ import annotations

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._lsq import least_squares
from .._terms import DataMSE
from ._data import EV_PER_A3_TO_GPA, EVData, check_precision
from ._fit import fit_eos
from ._forms import FORM_REGISTRY
from ._net import EnergyNet
from ._properties import _core, properties
from ._quality import FitQualityWarning
from ._summary import KEYS, Ensemble, summarise

__all__ = ["Ensemble", "bootstrap", "seed_ensemble"]


def bootstrap(
    data: EVData,
    form="birch_murnaghan",
    *,
    n: int = 200,
    key,
    max_steps: int = 50,
    tol: float = 1e-12,
) -> Ensemble:
    r"""Bootstrap error bars of $V_0, E_0, B_0, B_0'$ for a classical form.

    Each member refits the form to a resample of the points drawn with replacement (as
    multinomial counts used as point weights, so every member has the same shapes); all `n`
    fits run as one batched `fit_eos` call and their `properties` in one more. Members with
    fewer distinct points than parameters, or no minimum inside the data, are dropped
    (`n_valid` counts the rest; a warning when fewer than 90 % survive). A curve that
    `fit_eos` refuses is refused here too, with the same message.

    What it estimates: the spread of refits over resampled points. On few-point curves it
    is a poor error bar (on 7-point ACWF curves its std is 1.6–5× the true spread of V0, B0,
    B0' under noise; see benchmarks/eos_calibration.py): prefer the Gauss–Newton standard
    errors of `properties(fit, data).std`, calibrated for the residual degrees of freedom.
    The bootstrap makes no assumption of Gaussian noise and suits many-point curves.

    Example:
        >>> ens = bootstrap(data, "birch_murnaghan", n=200, key=jax.random.key(0))
        >>> ens.mean.v0, ens.std.v0

    Reference: B. Efron, "Bootstrap methods", Ann. Statist. 7, 1 (1979).
    """
    cls = FORM_REGISTRY[form].cls
    if not isinstance(data, EVData):
        raise ValueError(f"bootstrap: data must be an EVData; got {type(data).__name__}.")
    if isinstance(n, bool) or int(n) != n or int(n) < 2:
        raise ValueError(f"bootstrap: n must be an integer of at least 2; got {n!r}.")
    n = int(n)
    N = len(data)
    if N < cls.n_params:
        raise ValueError(
            f"bootstrap: {cls.__name__} needs at least {cls.n_params} points; got {N}."
        )
    check_precision("bootstrap", data)
    idx = jax.random.randint(key, (n, N), 0, N)
    counts = np.asarray(jax.vmap(lambda i: jnp.zeros(N).at[i].add(1.0))(idx), np.float64)
    # member 0 fits all points (unit weights): a curve fit_eos refuses is refused here too
    w = np.vstack([np.ones((1, N)), counts])
    with warnings.catch_warnings():
        # members that fail or look doubtful are counted, not reported one by one
        warnings.simplefilter("ignore", FitQualityWarning)
        warnings.filterwarnings("ignore", message="fit_eos: .* failed", category=UserWarning)
        fits = fit_eos([data] * (n + 1), cls, weights=w, max_steps=max_steps, tol=tol, check=False)
        p = properties(fits, [data] * (n + 1), check=False, weights=list(w))
    if not bool(np.asarray(p.valid)[0]):
        fit_eos(data, cls, max_steps=max_steps, tol=tol)  # raises, saying why
    valid = np.asarray(p.valid)[1:] & ((counts > 0).sum(axis=1) >= cls.n_params)
    samples = {k: np.asarray(getattr(p, k), np.float64)[1:] for k in KEYS}
    ens = summarise(samples, valid, "bootstrap", counts)
    if ens.n_valid < 0.9 * n:
        warnings.warn(
            f"bootstrap: only {ens.n_valid} of {n} members converged to a valid fit (a minimum "
            "inside the data); the error bars describe the survivors only and understate the "
            "uncertainty. Add points around the minimum or use properties(fit, data).std.",
            UserWarning,
            stacklevel=2,
        )
    return ens


@eqx.filter_jit
def _seed_run(models, objective, lo, hi, max_steps, tol):
    def one(m):
        res = least_squares(m, objective, max_steps=max_steps, tol=tol, throw=False)
        return _core(res.model, lo, hi), res.loss

    return eqx.filter_vmap(one)(models)


def seed_ensemble(
    data: EVData,
    objective=None,
    *,
    n: int = 8,
    key,
    width: int = 32,
    depth: int = 2,
    max_steps: int = 200,
    tol: float = 1e-10,
) -> Ensemble:
    r"""Error bars from an ensemble of `EnergyNet`s started from different random seeds.

    Builds `n` nets (one per key split), fits each with `pl.least_squares` on the same
    `objective` (default: `pl.DataMSE(data.volume, data.energy)`), and evaluates
    `properties` on each; all vmapped in one compiled call. The spread measures how much the
    data and constraints leave the neural $E(V)$ undetermined (its optimisation and
    parametrisation), not the noise in the data: a net that interpolates every point has a
    small spread near the points whatever their noise. For error bars from the noise, fit a
    classical form and use `properties(fit, data).std`.

    Example:
        >>> objective = pl.DataMSE(data.volume, data.energy) + eos.ZeroPressure(v0=ref.v0)
        >>> ens = seed_ensemble(data, objective, n=8, key=jax.random.key(0))
        >>> print(ens)
    """
    if not isinstance(data, EVData):
        raise ValueError(f"seed_ensemble: data must be an EVData; got {type(data).__name__}.")
    if int(n) < 2:
        raise ValueError(f"seed_ensemble: n must be at least 2; got {n}.")
    if objective is None:
        objective = DataMSE(data.volume, data.energy, name="energy")
    keys = jax.random.split(key, int(n))
    models = eqx.filter_vmap(lambda k: EnergyNet(data, width=width, depth=depth, key=k))(keys)
    lo, hi = jnp.asarray(data.volume.min()), jnp.asarray(data.volume.max())
    p, _ = _seed_run(models, objective, lo, hi, max_steps, tol)
    b0 = np.asarray(p.b0, np.float64)
    samples = {
        "v0": np.asarray(p.v0, np.float64),
        "e0": np.asarray(p.e0, np.float64) + data.energy_shift,
        "b0": b0,
        "b0_gpa": b0 * EV_PER_A3_TO_GPA,
        "b1": np.asarray(p.b1, np.float64),
    }
    return summarise(samples, np.asarray(p.valid), "seed_ensemble")
