r"""Fit-quality verdicts for classical $E(V)$ fits: `assess`, `Verdict`, `FitQualityWarning`.

Each check names what is wrong and what to do:

| kind | when |
| --- | --- |
| `no_minimum` | no energy minimum inside the sampled volumes (the fit is refused) |
| `rms` | residuals large against the curve's energy range (or against a given noise) |
| `pattern` | residuals sorted by volume are systematic, not noise (Durbin–Watson type test) |
| `b0` | $B_0$ not positive or tiny (< 0.05 GPa) |
| `b1` | $B_0'$ outside [0.5, 15] |
| `v0_edge` | $V_0$ within the outer 10 % of the sampled volume range |
| `turnover` | $E''(V) < 0$ somewhere inside the sampled range: the curve turns over |
| `no_dof` | as many parameters as points: no standard errors |

`fit_eos` warns with `FitQualityWarning` for each; `eos.assess(fit, data)` returns them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ._data import EV_PER_A3_TO_GPA, EVData
from ._forms import AbstractEOS
from ._properties import Diagnosis, as_items, diagnose, point_weights, pressure

__all__ = ["Verdict", "FitQualityWarning", "assess"]

#: relative RMS (RMS / energy range of the data) above which a fit is called poor
RMS_RELATIVE = 0.01
#: p-value below which residuals count as systematic
PATTERN_P = 0.01
#: ... and only when the RMS is at least this fraction of the energy range
PATTERN_RELATIVE = 1e-3
#: smallest plausible bulk modulus [GPa] (the softest ACWF crystal: 0.15 GPa)
B0_MIN_GPA = 0.05
#: plausible range of B0' (ACWF all-electron: 0.41 to 12.1)
B1_RANGE = (0.5, 15.0)
#: V0 closer than this fraction of the range to either end counts as "at the edge"
EDGE = 0.1
#: draws of the simulated lag-1 null distribution (curves of up to `_SIMULATE_MAX` points)
_DRAWS = 2000
_SIMULATE_MAX = 2000
#: numbers drawn at once in that simulation (8 MB): memory does not grow with the draws
_BLOCK = 1 << 20


class FitQualityWarning(UserWarning):
    """A fitted equation of state looks doubtful (see `eos.assess` and its `Verdict`s)."""


@dataclass(frozen=True)
class Verdict:
    """One doubt about a fit.

    Attributes:
        kind: short id: `"no_minimum"`, `"rms"`, `"pattern"`, `"b0"`, `"b1"`, `"v0_edge"`,
            `"turnover"`, `"no_dof"`.
        message: one line naming what is wrong and what to do.
        index: the curve in a batched fit (None for a single fit).
        value: the number the check tested (RMS in meV/atom, p-value, B0 in GPa, ...).
    """

    kind: str
    message: str
    index: int | None = None
    value: float | None = None

    def __str__(self) -> str:
        return self.message


def _lag1(x) -> np.ndarray:
    """Lag-1 autocorrelation $\\sum_i x_i x_{i+1} / \\sum_i x_i^2$ along the last axis."""
    return np.sum(x[..., 1:] * x[..., :-1], axis=-1) / np.sum(x * x, axis=-1)


def _lag1_pvalue(u, Jw, rng) -> tuple[float, float]:
    r"""Lag-1 autocorrelation $\rho$ of residuals `u` and its p-value under noise.

    The null distribution is that of least-squares residuals of pure noise,
    $(I - Q Q^\top)\varepsilon$, with $Q$ an orthonormal basis of the weighted Jacobian:
    residuals of a p-parameter fit are correlated even when the noise is not
    (Durbin & Watson, Biometrika 37, 409 (1950)). Up to `_SIMULATE_MAX` points it is
    simulated (`_DRAWS` draws from `rng`, in blocks of at most `_BLOCK` numbers, so memory
    stays bounded); above, `_lag1_tail` gives it from the exact first three cumulants.
    Memory is O(n p) either way.
    """
    n, _ = Jw.shape
    Q, _ = np.linalg.qr(Jw)
    r = float(_lag1(u))
    if n > _SIMULATE_MAX:
        return r, _lag1_tail(Q, r)
    rows = max(1, _BLOCK // n)
    above = 0
    for start in range(0, _DRAWS, rows):
        Z = rng.standard_normal((min(rows, _DRAWS - start), n))
        Z -= (Z @ Q) @ Q.T  # residuals of noise
        above += int(np.sum(_lag1(Z) >= r))
    return r, (1 + above) / (_DRAWS + 1)


def _lag1_tail(Q: np.ndarray, r: float) -> float:
    r"""$P(\rho_0 \ge r)$ for the lag-1 autocorrelation $\rho_0$ of residuals of noise.

    With $M = I - QQ^\top$ and $A$ the lag-1 matrix ($A_{i,i\pm1} = 1/2$),
    $\rho_0 \ge r \iff X = \varepsilon^\top C \varepsilon \ge 0$, $C = M(A - rI)M$. The
    cumulants of $X$ are $\kappa_j = 2^{j-1}(j-1)!\,\mathrm{tr}\,C^j$; the traces follow
    exactly from $p \times p$ products ($\mathrm{tr}\,A = \mathrm{tr}\,A^3 = 0$,
    $\mathrm{tr}\,A^2 = (n-1)/2$) in O(n p²) time and O(n p) memory. $X$ is then matched
    to $a + b\chi^2_h$ in its first three cumulants (Pearson's approximation, as in
    J. P. Imhof, Biometrika 48, 419 (1961)), with the $\chi^2$ tail by Wilson–Hilferty.
    Within 3 % of a 40 000-draw simulation at p = 0.01 for n ≥ 500.
    """
    n, p = Q.shape
    AQ = _lag1_matrix_times(Q)
    S1, S2, S3 = Q.T @ AQ, AQ.T @ AQ, AQ.T @ _lag1_matrix_times(AQ)
    m = n - p
    g1 = -np.trace(S1)  # tr(MA)
    g2 = (n - 1) / 2 - 2 * np.trace(S2) + np.trace(S1 @ S1)  # tr((MA)^2)
    g3 = -3 * np.trace(S3) + 3 * np.trace(S1 @ S2) - np.trace(S1 @ S1 @ S1)  # tr((MA)^3)
    k1 = g1 - r * m
    k2 = 2 * (g2 - 2 * r * g1 + r * r * m)
    k3 = 8 * (g3 - 3 * r * g2 + 3 * r * r * g1 - r**3 * m)
    if k3 == 0 or 8 * k2**3 > 1e12 * k3**2:  # no skew to speak of: normal
        return 0.5 * math.erfc(-k1 / math.sqrt(2 * k2))
    h = 8 * k2**3 / k3**2
    b = abs(k3) / (4 * k2)

    def chi2_tail(x, upper: bool):  # P(chi2_h >= x) or <= x, Wilson & Hilferty (1931)
        if x <= 0:
            return 1.0 if upper else 0.0
        z = ((x / h) ** (1 / 3) - (1 - 2 / (9 * h))) / math.sqrt(2 / (9 * h))
        return 0.5 * math.erfc((z if upper else -z) / math.sqrt(2))

    return chi2_tail(h - k1 / b, True) if k3 > 0 else chi2_tail(h + k1 / b, False)


def _lag1_matrix_times(X: np.ndarray) -> np.ndarray:
    r"""$A X$ for the lag-1 matrix $A$ ($A_{i,i\pm1} = 1/2$), along the first axis."""
    Y = np.zeros_like(X)
    Y[1:] += X[:-1]
    Y[:-1] += X[1:]
    return 0.5 * Y


def verdicts(
    diag: Diagnosis,
    items: list[EVData],
    weights: list,
    sigma_known: bool,
    batched: bool,
    form_name: str,
) -> list[Verdict]:
    """The verdicts of every curve of a diagnosis (internal; see `assess`)."""
    out: list[Verdict] = []
    for i, d in enumerate(items):
        label = d.label or (f"curve {i}" if batched else "")
        pre = f"{label}: " if label else ""
        for kind, msg, value in _doubts(diag, i, d, weights[i], sigma_known, form_name):
            out.append(Verdict(kind, f"{pre}{msg}", i if batched else None, value))
    return out


def _doubts(diag: Diagnosis, i: int, d: EVData, w, sigma_known: bool, form_name: str):
    """`(kind, message, value)` of each doubt about curve `i`, in the table's order."""
    lo, hi = float(d.volume.min()), float(d.volume.max())
    if not diag.finite[i]:
        return [
            ("no_minimum", "the fit did not converge to finite parameters; check the data.", None)
        ]
    if not diag.props["valid"][i]:
        return [
            (
                "no_minimum",
                f"{form_name} has no energy minimum inside the sampled volumes "
                f"[{lo:.6g}, {hi:.6g}] Å³/atom; sample volumes on both sides of the "
                "equilibrium, narrow the window around the minimum or choose another form.",
                None,
            )
        ]
    keep = w > 0
    n_pts, p = int(keep.sum()), diag.jac[i].shape[1]
    found = _residual_doubts(diag, i, d, w, sigma_known, form_name)
    found += _parameter_doubts(float(diag.props["b0"][i]), float(diag.props["b1"][i]))
    found += _shape_doubts(float(diag.props["v0"][i]), lo, hi, diag.e2[i], diag.grid[i])
    if n_pts - p <= 0 and not sigma_known:
        found.append(
            (
                "no_dof",
                f"{n_pts} points for {p} parameters leave no residual degrees of freedom, so "
                "no standard errors; add points or give the noise with sigma=.",
                None,
            )
        )
    return found


def _residual_doubts(diag: Diagnosis, i: int, d: EVData, w, sigma_known: bool, form_name):
    """Residuals too large (against the energy range, or the given noise by reduced χ²) or
    systematic (lag-1 autocorrelation over volume against its null distribution)."""
    found = []
    r = diag.residuals[i]
    keep = w > 0
    dof = int(keep.sum()) - diag.jac[i].shape[1]
    span = float(np.ptp(d.energy[keep])) or 1.0
    rms = float(np.sqrt(np.mean(r[keep] ** 2)))
    rel = rms / span
    if sigma_known and dof > 0:
        chi2 = float(np.sum(w * r**2)) / dof
        if chi2 > 1.0 + 3.0 * np.sqrt(2.0 / dof):
            found.append(
                (
                    "rms",
                    f"residuals are {np.sqrt(chi2):.3g}× the given noise sigma (reduced chi² "
                    f"{chi2:.3g} on {dof} dof): {form_name} does not fit these data to their "
                    "noise; choose another form or narrow the volume window.",
                    np.sqrt(chi2),
                )
            )
    elif rel > RMS_RELATIVE:
        found.append(
            (
                "rms",
                f"RMS residual {1e3 * rms:.3g} meV/atom is {100 * rel:.3g} % of the curve's "
                f"energy range ({1e3 * span:.3g} meV/atom): {form_name} does not follow the "
                "data; narrow the volume window around the minimum or choose another form.",
                1e3 * rms,
            )
        )
    if dof >= 2 and rel > PATTERN_RELATIVE:
        sw = np.sqrt(w[keep])
        # a fresh fixed seed per curve: the same verdict alone or in any batch
        rng = np.random.default_rng(0)
        rho, pval = _lag1_pvalue(r[keep] * sw, diag.jac[i][keep] * sw[:, None], rng)
        if pval < PATTERN_P:
            found.append(
                (
                    "pattern",
                    f"residuals are systematic, not noise (lag-1 autocorrelation {rho:.2f} "
                    f"over volume, p = {pval:.2g}; RMS {1e3 * rms:.3g} meV/atom): the form "
                    "misses the curve's shape and its standard errors understate the error; "
                    "choose another form or narrow the volume window.",
                    pval,
                )
            )
    return found


def _parameter_doubts(b0_ev: float, b1: float) -> list:
    """Physically absurd parameters: B0 not positive or tiny, B0' outside its plausible range."""
    found = []
    b0 = b0_ev * EV_PER_A3_TO_GPA
    if b0 < B0_MIN_GPA:
        found.append(
            (
                "b0",
                f"B0 = {b0:.3g} GPa is {'not positive' if b0 <= 0 else 'implausibly small'}; "
                "the data are probably too flat or too noisy around the minimum: add points "
                "farther from V0 or choose another form.",
                b0,
            )
        )
    if not B1_RANGE[0] <= b1 <= B1_RANGE[1]:
        found.append(
            (
                "b1",
                f"B0' = {b1:.3g} is outside the plausible range [{B1_RANGE[0]:g}, "
                f"{B1_RANGE[1]:g}]; the curvature is poorly determined: add points, widen "
                "the window or choose another form.",
                b1,
            )
        )
    return found


def _shape_doubts(v0: float, lo: float, hi: float, e2, grid) -> list:
    """V0 at the edge of the sampled volumes; a curve that turns over (E'' < 0) inside them."""
    found = []
    x = (v0 - lo) / (hi - lo)
    if x < EDGE or x > 1.0 - EDGE:
        side = "smallest" if x < EDGE else "largest"
        found.append(
            (
                "v0_edge",
                f"V0 = {v0:.6g} Å³/atom lies at the edge of the sampled volumes "
                f"[{lo:.6g}, {hi:.6g}] (near the {side}); add points beyond it so that the "
                "minimum is bracketed.",
                x,
            )
        )
    if np.any(e2 < 0):
        vt = grid[np.argmax(e2 < 0)]
        found.append(
            (
                "turnover",
                f"the fitted curve turns over inside the data (E'' < 0 from V = {vt:.6g} "
                "Å³/atom): the form bends the wrong way to follow the points; narrow the "
                "window around the minimum or choose another form.",
                float(vt),
            )
        )
    return found


def warn(found: list[Verdict], stacklevel: int = 3) -> None:
    """One `FitQualityWarning` per verdict."""
    for v in found:
        warnings.warn(v.message, FitQualityWarning, stacklevel=stacklevel)


def assess(fit: AbstractEOS, data, *, sigma=None, weights=None) -> list[Verdict]:
    r"""Fit-quality verdicts for a (batched) classical form fitted to `data`.

    Checks the RMS residual against the curve's energy range (or against the noise `sigma`,
    by reduced $\chi^2$), a systematic pattern in the residuals sorted by volume (lag-1
    autocorrelation against its simulated distribution for noise, p < 0.01), physically
    absurd parameters ($B_0$ ≤ 0.05 GPa, $B_0'$ outside [0.5, 15]), $V_0$ at the edge of the
    sampled volumes, and a curve that turns over ($E'' < 0$) inside them. An empty list
    means no doubts.

    Args:
        fit: a form from `fit_eos` (batched forms take the list of their `EVData`).
        data: its `EVData`, or the list of them.
        sigma, weights: as in `properties`.

    Example:
        >>> for v in eos.assess(eos.fit_eos(data), data):
        ...     print(v.kind, v.message)
    """
    if not isinstance(fit, AbstractEOS):
        raise ValueError(
            f"assess: fit must be a classical form from eos.fit_eos; got {type(fit).__name__}."
        )
    items, batched = as_items("assess", data)
    shape = tuple(np.shape(np.asarray(fit.v0)))
    if batched != bool(shape) or (batched and shape != (len(items),)):
        raise ValueError(
            f"assess: a form with parameter shape {shape} needs "
            + ("one EVData" if not shape else f"a list of {shape[0]} EVData")
            + f"; got {f'a list of {len(items)}' if batched else 'one EVData'}."
        )
    w, known = point_weights("assess", items, sigma, weights)
    diag = diagnose(fit, items)
    return verdicts(diag, items, w, known, batched, type(fit).__name__)


def _failure(d: EVData, v0: float, start_ok: bool, finite: bool, form) -> str:
    """Why a fitted curve is refused, naming the step that failed (start guess or fit)."""
    lo, hi = float(d.volume.min()), float(d.volume.max())
    if not finite:
        why = "the fit did not converge to finite parameters"
        if not start_ok:
            why += (
                " from a default start (the start guess, a cubic in V^(-2/3) and a parabola "
                "around the lowest point, found no minimum)"
            )
        return why
    if not lo <= v0 <= hi:
        j = int(np.argmin(d.energy))
        edge = {0: "smallest", len(d) - 1: "largest"}.get(j)
        return (
            f"the fitted minimum V0 = {v0:.6g} Å³/atom lies outside the sampled "
            f"volumes [{lo:.6g}, {hi:.6g}]"
            + (
                f"; the lowest energy is at the {edge} volume, so the data do not "
                "bracket a minimum (one-sided or concave data)"
                if edge
                else ""
            )
            + "; sample volumes on both sides of the equilibrium"
        )
    start = (
        "the start guess found no minimum (cubic in V^(-2/3), parabola around the lowest "
        "point) and "
        if not start_ok
        else ""
    )
    slope = -np.asarray(pressure(form, np.array([lo, hi])), np.float64)  # dE/dV at the ends
    if not (slope[0] < 0 < slope[1]):
        return (
            start + f"the fitted curve has its minimum at V0 = {v0:.6g} Å³/atom but turns over "
            f"inside the sampled volumes (dE/dV = {slope[0]:.3g} and {slope[1]:.3g} eV/Å³ at "
            f"{lo:.6g} and {hi:.6g}); narrow the volume window around the minimum or choose "
            "another form"
        )
    return start + "the fitted curve is not convex at its minimum (E'' <= 0 there)"


def accept(cls, items, out, start_ok, weights, check: bool, batched: bool, stacklevel=3):
    """`fit_eos`'s acceptance: refuse what `properties` refuses, warn on doubtful fits.

    A curve is accepted when its parameters are finite and `properties` finds a minimum
    inside the sampled volumes with $E'' > 0$ (the same test, so `fit_eos` and `properties`
    agree). Refused curves raise `ValueError` (`check=True`) or get NaN parameters and a
    warning. Accepted curves get one `FitQualityWarning` per `Verdict`.

    Args:
        out: the fitted parameters, absolute, each `(B,)`. start_ok: `(B,)` a start existed.

    Returns:
        `out`, with NaN for refused curves.
    """
    B = len(items)
    out = {k: np.broadcast_to(np.asarray(a, np.float64), (B,)).copy() for k, a in out.items()}
    start_ok = np.broadcast_to(np.asarray(start_ok, bool), (B,))
    diag = diagnose(cls(**out), items)
    good = diag.props["valid"] & (out["b0"] > 0)
    if not good.all():
        bad = np.nonzero(~good)[0]
        msgs = []
        for i in bad[:3]:
            name = items[i].label or f"curve {i}"
            member = cls(**{k: a[i] for k, a in out.items()})
            why = _failure(items[i], out["v0"][i], bool(start_ok[i]), diag.finite[i], member)
            msgs.append(f"{name}: {why}")
        more = f" (and {bad.size - 3} more)" if bad.size > 3 else ""
        msg = f"fit_eos: {bad.size} of {B} curve(s) failed — " + "; ".join(msgs) + more
        if check:
            raise ValueError(msg + ".")
        warnings.warn(msg + "; their parameters are NaN.", stacklevel=stacklevel)
        for k in out:
            out[k] = np.where(good, out[k], np.nan)
    w, known = point_weights("fit_eos", items, None, weights)
    found = verdicts(diag, items, w, known, batched, cls.__name__)
    found = [v for v in found if good[v.index or 0] and v.kind != "no_minimum"]
    warn(found, stacklevel=stacklevel + 1)
    return out
