r"""Fitting classical equations of state: `fit_eos`.

Start: a linear least-squares cubic in $x = V^{-2/3}$ (third-order Birch–Murnaghan is
exactly such a cubic, so for that form the start is already the answer). Finish: nonlinear
least squares through the core solver (`pl.least_squares` on `pl.DataMSE`), on volumes and
energies rescaled to O(1) so that every parameter and the stopping tolerances are well
scaled. Many curves fit in one compiled, vmapped call.

No first-call waits: curves are padded with zero-weight points (an exact no-op) to a few
lengths and batches to a few sizes, so new lengths reuse a compiled program; the
four-parameter forms other than Birch–Murnaghan share one program (`_AnyForm`). Where the
cubic start has no minimum, a parabola around the lowest point starts the fit instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._cache import cached_jit
from .._lsq import least_squares
from .._terms import DataMSE
from ._data import EVData, check_precision
from ._data import batch_bucket as _batch_bucket
from ._data import length_bucket as _length_bucket
from ._forms import (
    FORM_REGISTRY,
    AbstractEOS,
    AntonSchmidt,
    BirchMurnaghan4,
    Murnaghan,
    PoirierTarantola,
    Polynomial3,
    StabilizedJellium,
    Vinet,
)
from ._quality import accept

__all__ = ["fit_eos", "cubic_guess"]


def cubic_guess(volume: Array, energy: Array, weights: Array | None = None):
    r"""Birch–Murnaghan parameters from a (weighted) linear least-squares cubic in $V^{-2/3}$.

    Fits $E = \sum_{k=0}^{3} c_k t^k$ with $t$ the standardised $x = V^{-2/3}$, takes the
    root of $dE/dx$ where $d^2E/dx^2 > 0$, and converts derivatives in $x$ to $V_0$, $B_0$,
    $B_0'$. Pure JAX: works under `jit` and `vmap`. Points of zero weight play no part
    (`fit_eos` pads curves with them).

    Returns:
        `(e0, v0, b0, b1, ok)`; `ok` is False when the cubic has no minimum (NaNs then).

    Reference: the ACWF verification scripts (Bosoni et al., Nat. Rev. Phys. 6, 45 (2024)).
    """
    return _poly_guess(volume, energy, weights, 2.0 / 3.0)


def _poly_guess(volume, energy, weights, k: float):
    r"""`(e0, v0, b0, b1, ok)` of the least-squares cubic in $x = V^{-k}$ (see `cubic_guess`).

    $k = 2/3$ is Birch–Murnaghan, $1/3$ stabilized jellium, $-1$ a cubic in $V$; the
    conversion is that of `_forms._cubic_in_power`: $B_0 = f_2 k^2 V_0^{-2k-1}$,
    $B_0' = 3k + 2 + k x_0 f_3/f_2$.
    """
    v = jnp.asarray(volume)
    e = jnp.asarray(energy)
    x = v ** (-k)
    m = jnp.ones_like(x) if weights is None else (jnp.asarray(weights) > 0).astype(x.dtype)
    xm = jnp.sum(m * x) / jnp.sum(m)
    xs = jnp.sqrt(jnp.sum(m * (x - xm) ** 2) / jnp.sum(m))
    t = (x - xm) / xs
    A = jnp.stack([jnp.ones_like(t), t, t**2, t**3], axis=-1)
    if weights is not None:
        sw = jnp.sqrt(jnp.asarray(weights, e.dtype))
        A, b = A * sw[:, None], e * sw
    else:
        b = e
    q = jnp.linalg.lstsq(A, b)[0]
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    disc = q2**2 - 3.0 * q1 * q3
    den = q2 + jnp.sqrt(jnp.where(disc >= 0, disc, 0.0))
    ok = (disc >= 0) & (den > 0)
    t0 = -q1 / jnp.where(ok, den, 1.0)  # root of dE/dt with d2E/dt2 = 2*den > 0
    x0 = xm + xs * t0
    ok = ok & (x0 > 0)
    x0 = jnp.where(ok, x0, 1.0)
    e0 = q0 + q1 * t0 + q2 * t0**2 + q3 * t0**3
    f2 = (2.0 * q2 + 6.0 * q3 * t0) / xs**2  # d2E/dx2 at the minimum
    f3 = 6.0 * q3 / xs**3
    v0 = x0 ** (-1.0 / k)
    b0 = f2 * k**2 * v0 ** (-2.0 * k - 1.0)
    b1 = 3.0 * k + 2.0 + k * x0 * f3 / f2
    nan = jnp.nan
    return (
        jnp.where(ok, e0, nan),
        jnp.where(ok, v0, nan),
        jnp.where(ok, b0, nan),
        jnp.where(ok, b1, nan),
        ok,
    )


def energy_terms(vn, yn, w) -> DataMSE:
    """The `DataMSE` of (a batch of) rescaled curves, built and checked once, on the host.

    Built outside `vmap`, so its checks run now, on concrete data: a term built from traced
    data carries `eqx.error_if` checks, whose host callbacks also keep the compiled fit out
    of the persistent compilation cache (the CLI's second run would compile again).
    """
    return DataMSE(jnp.asarray(vn), jnp.asarray(yn), weights=jnp.asarray(w), name="energy")


def _parabola_guess(vn, yn, w):
    """`(e0, v0, b0, ok)` of a parabola through the lowest point and two neighbours each side.

    The fallback start where the global cubic fails (a wide-range curve with a shoulder, a
    flattened well): `ok` only when the lowest weighted point is interior and the parabola
    has its minimum inside the sampled volumes.
    """
    live = w > 0
    idx = jnp.arange(vn.shape[0])
    j = jnp.argmin(jnp.where(live, yn, jnp.inf))
    first = jnp.argmax(live)
    last = vn.shape[0] - 1 - jnp.argmax(live[::-1])
    win = live & (jnp.abs(idx - j) <= 2)
    d = vn - vn[j]
    sw = jnp.sqrt(jnp.where(win, w, 0.0))
    A = jnp.stack([jnp.ones_like(d), d, d**2], axis=-1) * sw[:, None]
    c0, c1, c2 = jnp.linalg.lstsq(A, yn * sw)[0]
    c2s = jnp.where(c2 > 0, c2, 1.0)
    v0 = vn[j] - c1 / (2.0 * c2s)
    lo = jnp.min(jnp.where(live, vn, jnp.inf))
    hi = jnp.max(jnp.where(live, vn, -jnp.inf))
    ok = (c2 > 0) & (j > first) & (j < last) & (v0 > lo) & (v0 < hi)
    return c0 - c1**2 / (4.0 * c2s), v0, 2.0 * c2s * v0, ok


def _start(k, vn, yn, w):
    """The start of a fit: the cubic in $V^{-k}$ (the form's own variable for polynomial forms,
    else $k = 2/3$) when it has a minimum inside the data, else the parabola around the lowest
    point, else the cubic's minimum outside the data (which the checks then explain).
    `ok`: some start exists."""
    e0, v0, b0, b1, ok_c = _poly_guess(vn, yn, w, k)
    pe0, pv0, pb0, ok_p = _parabola_guess(vn, yn, w)
    lo = jnp.min(jnp.where(w > 0, vn, jnp.inf))
    hi = jnp.max(jnp.where(w > 0, vn, -jnp.inf))
    use_c = ok_c & (((v0 >= lo) & (v0 <= hi)) | ~ok_p)
    pick = lambda a, b: jnp.where(use_c, a, b)
    return pick(e0, pe0), pick(v0, pv0), pick(b0, pb0), pick(b1, 4.0), ok_c | ok_p


#: The other four-parameter forms share one compiled fit: `_AnyForm` picks the energy by an
#: index that is data (traced), not structure, so a loop over forms compiles once. It compiles
#: slower than one form's program (`python benchmarks/eos_first_call.py` prints both), so the
#: default form, Birch-Murnaghan, keeps its own, smaller program: the first call stays short.
_SHARED = (
    Vinet,
    Murnaghan,
    PoirierTarantola,
    StabilizedJellium,
    AntonSchmidt,
    Polynomial3,
)
_POWERS = tuple(getattr(c, "poly_power", 2.0 / 3.0) for c in _SHARED)


class _AnyForm(AbstractEOS):
    """One of `_SHARED`, chosen by the integer array `which` (`lax.switch`)."""

    which: Array

    def energy(self, v):
        p = (self.e0, self.v0, self.b0, self.b1)
        branches = [lambda v, c=c: c(*p).energy(v) for c in _SHARED]
        return jax.lax.switch(self.which, branches, v)


def _fit_one(cls, objective: DataMSE, w, which, max_steps, tol):
    vn, yn = objective.x, objective.y
    if cls is _AnyForm:
        k = jnp.asarray(_POWERS, vn.dtype)[which]
    else:
        k = getattr(cls, "poly_power", 2.0 / 3.0)
    e0, v0, b0, b1, ok = _start(k, vn, yn, w)
    # a harmless start where no start exists; flagged invalid below
    safe = lambda a, d: jnp.where(ok, a, d)
    e0, v0, b0, b1 = safe(e0, 0.0), safe(v0, jnp.mean(vn)), safe(b0, 1.0), safe(b1, 4.0)
    if cls is BirchMurnaghan4:
        b2 = -((b1 - 4.0) * (b1 - 3.0) + 35.0 / 9.0) / b0
        form = cls(e0, v0, b0, b1, b2)
    elif cls is _AnyForm:
        form = cls(e0, v0, b0, b1, which)
    else:
        form = cls(e0, v0, b0, b1)
    # no throw: a curve that fails is flagged (and explained) by fit_eos, not raised mid-batch
    res = least_squares(form, objective, max_steps=max_steps, tol=tol, throw=False)
    return res.model, ok, res.loss


# traced once per shape; with the compilation cache on, stored (jax.export) for later sessions
_fit_batch = cached_jit(
    "eos-fit", eqx.filter_vmap(_fit_one, in_axes=(None, 0, 0, None, None, None))
)


def _is_form(x) -> bool:
    return isinstance(x, str) or (isinstance(x, type) and issubclass(x, AbstractEOS))


def _column(df, want: str, others: tuple[str, ...]):
    cols = [str(c) for c in df.columns]
    exact = [c for c in cols if c.strip().lower() in (want, *others)]
    found = exact or [c for c in cols if c.strip().lower().startswith(want)]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({found})"
        raise ValueError(
            f"fit_eos: the DataFrame has {what} {want} column(s) among {cols}; name exactly one "
            f"column '{want}' (per atom, or per cell with an 'n_atoms' column)."
        )
    return np.asarray(df[found[0]], dtype=np.float64)


def _from_frame(df) -> EVData:
    """Duck-typed pandas DataFrame: columns volume, energy [, n_atoms]; pandas not imported."""
    v = _column(df, "volume", ("v", "vol"))
    e = _column(df, "energy", ("e", "etot"))
    if "n_atoms" in [str(c) for c in df.columns]:
        n = np.asarray(df["n_atoms"], dtype=np.float64)
        if not np.all(np.isfinite(n)) or (n < 1).any() or (n != np.round(n)).any():
            raise ValueError("fit_eos: the DataFrame's n_atoms column must hold positive integers.")
        v, e = v / n, e / n
    return EVData(v, e, label="DataFrame")


def _from_pairs(pairs) -> EVData:
    """`[(structure, energy), …]` with pymatgen Structures (`.volume`, `.num_sites`) or ASE
    Atoms (`.get_volume()`, `len`); energies per cell [eV], converted per atom."""
    v, e = [], []
    for i, (st, en) in enumerate(pairs):
        if hasattr(st, "num_sites") and hasattr(st, "volume"):
            vol, n = float(st.volume), int(st.num_sites)
        elif hasattr(st, "get_volume"):
            vol, n = float(st.get_volume()), len(st)
        else:
            raise ValueError(
                f"fit_eos: pair {i} holds a {type(st).__name__}; expected (structure, energy) "
                "with a pymatgen Structure or an ase.Atoms."
            )
        try:
            en = float(en)
        except (TypeError, ValueError) as err:
            raise ValueError(f"fit_eos: pair {i} has energy {en!r}, not a number.") from err
        v.append(vol / n)
        e.append(en / n)
    return EVData(v, e, label="structures")


def _is_pair_list(data) -> bool:
    return (
        isinstance(data, Sequence)
        and not isinstance(data, str)
        and len(data) > 0
        and all(isinstance(p, tuple | list) and len(p) == 2 for p in data)
        and not np.isscalar(data[0][0])
        and not isinstance(data[0][0], np.ndarray | EVData)
        and (hasattr(data[0][0], "volume") or hasattr(data[0][0], "get_volume"))
    )


def _normalise(data, form, eos):
    """`(data, form)` from every accepted call: `(EVData | [EVData], form)`, ASE's
    `(volumes, energies[, eos])`, a DataFrame, or `(structure, energy)` pairs."""
    if eos is not None and _is_form(form) and form != "birch_murnaghan":
        if FORM_REGISTRY[form].cls is not FORM_REGISTRY[eos].cls:
            raise ValueError(f"fit_eos: give the form once; got form={form!r} and eos={eos!r}.")
    if not _is_form(form):  # the ASE habit: fit_eos(volumes, energies)
        if isinstance(data, EVData):
            raise ValueError(
                f"fit_eos: form must be a name such as 'birch_murnaghan' or a form class; got "
                f"{type(form).__name__}."
            )
        try:
            data = EVData(data, form)
        except ValueError as err:
            msg = str(err).removeprefix("EVData: ")
            raise ValueError(f"fit_eos(volumes, energies): {msg}") from err
        form = "birch_murnaghan"
    if eos is not None:
        form = eos
    if isinstance(data, EVData) or (
        isinstance(data, Sequence) and data and all(isinstance(d, EVData) for d in data)
    ):
        return data, form
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):
        return _from_frame(data), form
    if _is_pair_list(data):
        return _from_pairs(data), form
    got = type(data).__name__
    shape = getattr(data, "shape", None)
    hint = (
        " For a two-column table use fit_eos(table[:, 0], table[:, 1])."
        if shape is not None and len(shape) == 2
        else " For separate arrays use fit_eos(volumes, energies) (per atom)."
    )
    raise ValueError(
        "fit_eos: data must be an EVData (eos.EVData(...) or eos.load(...)), a list of them, a "
        f"DataFrame with volume/energy columns or (structure, energy) pairs; got {got}." + hint
    )


def _as_list(data) -> tuple[list[EVData], bool]:
    if isinstance(data, EVData):
        return [data], False
    return list(data), True


def _curve_weights(weights, items: list[EVData]) -> list[np.ndarray]:
    """Per-curve weight vectors from None, `(N,)`, `(B, N)` or a list of per-curve vectors."""
    sizes = [len(d) for d in items]
    if weights is None:
        return [np.ones(n) for n in sizes]
    if isinstance(weights, Sequence) and len(weights) == len(items) and len(items) > 1:
        ws = [np.asarray(w, dtype=np.float64) for w in weights]
    else:
        w = np.asarray(weights, dtype=np.float64)
        if len(set(sizes)) != 1:
            raise ValueError(
                "fit_eos: curves of different lengths take weights as a list with one vector "
                f"per curve; got an array of shape {w.shape} for lengths {sorted(set(sizes))}."
            )
        try:
            w = np.broadcast_to(w, (len(items), sizes[0]))
        except ValueError:
            raise ValueError(
                f"fit_eos: weights of shape {w.shape} do not fit {len(items)} curve(s) of "
                f"{sizes[0]} points; give shape ({sizes[0]},) or ({len(items)}, {sizes[0]})."
            ) from None
        ws = list(w)
    for i, (w, n) in enumerate(zip(ws, sizes, strict=True)):
        if w.shape != (n,):
            raise ValueError(
                f"fit_eos: weights for curve {i} have shape {w.shape}; its {n} points need ({n},)."
            )
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() == 0:
            raise ValueError("fit_eos: weights must be finite, non-negative and not all zero.")
    return ws


def fit_eos(
    data: EVData | Sequence[EVData],
    form="birch_murnaghan",
    eos=None,
    *,
    weights=None,
    max_steps: int = 50,
    tol: float = 1e-12,
    check: bool = True,
) -> AbstractEOS:
    r"""Fit an equation of state to energy–volume data by nonlinear least squares.

    Minimises $\frac1N\sum_i [E(V_i) - E_i]^2$ over the form's parameters with
    `pl.least_squares` on a `pl.DataMSE`, started from `cubic_guess`. The fit runs on
    shifted energies and O(1)-scaled volumes; the returned form has absolute parameters
    (its `e0` includes `data.energy_shift`).

    Curves are padded with zero-weight points to a few lengths (8, 12, 16, 24, 32, 48, …)
    and batches to a few sizes, which changes no result (a zero weight removes a point
    exactly) but lets curves of 37, 39 and 40 points share one compiled program. Across
    Python sessions, `pl.enable_compilation_cache()` keeps the compiled programs on disk.

    Args:
        data: one `EVData`; or a list of them, of any lengths, fitted together in one compiled,
            vmapped call (the returned form has a leading batch axis on every field:
            `forms.v0[i]` is curve `i`); or, as in ASE, `fit_eos(volumes, energies)` with
            per-atom arrays [Å³, eV]; or a pandas DataFrame with `volume` and `energy` columns
            (per atom, or per cell with an `n_atoms` column); or a list of
            `(structure, energy)` pairs (pymatgen `Structure` or `ase.Atoms`, energy per cell).
        form: a name from `FORM_REGISTRY` — `"birch_murnaghan"`/`"bm"`, `"bm4"`, `"vinet"`,
            `"murnaghan"`, `"poirier_tarantola"`/`"pt"`, `"stabilized_jellium"`/`"sj"`,
            `"anton_schmidt"`, `"p3"`, and ASE's spellings (`"birchmurnaghan"`, `"birch"`,
            `"pouriertarantola"`, `"antonschmidt"`) — or a form class.
        eos: the form, under ASE's keyword name (`fit_eos(v, e, eos="sj")`).
        weights: optional per-point weights, shape `(N,)`, `(B, N)` for a batch of equal
            lengths, or a list of per-curve vectors.
        max_steps, tol: passed to `pl.least_squares`.
        check: raise `ValueError` when a curve has no minimum inside its sampled volumes,
            a non-positive $B_0$ or non-finite parameters. With `check=False` such curves
            get NaN parameters (and a warning) instead: never an extrapolated $V_0$.

    Returns:
        The fitted form (`BirchMurnaghan`, `Vinet`, …).

    Example:
        >>> bm = fit_eos(eos.example_data())
        >>> bm.v0, bm.b0 * eos.EV_PER_A3_TO_GPA, bm.b1
        >>> sj = fit_eos(volumes, energies, "sj")                   # ASE's habit
        >>> many = fit_eos([eos.load(f, key=k) for k in keys])   # batched

    Reference: F. Birch, Phys. Rev. 71, 809 (1947); E. Bosoni et al., Nat. Rev. Phys. 6, 45
    (2024) for the linear start.
    """
    return _fit_eos(data, form, eos, weights, max_steps, tol, check, pad=True, share=True)


def _fit_eos(data, form, eos, weights, max_steps, tol, check, *, pad: bool, share: bool):
    """`fit_eos`, with how its programs are shaped as arguments (benchmarks compare them).

    Args:
        pad: pad curves to a few lengths and batches to a few sizes (zero weights, copies), so
            that a loop over curves of 37, 39 and 40 points compiles once; False: exact shapes.
        share: fit the four-parameter forms other than Birch–Murnaghan with one program
            (`_AnyForm`); False: one program per form.
    """
    if isinstance(form, str) and form.strip().lower() in ("net", "flexible"):
        from ._flex import fit_flexible  # the flexible form (smoothing spline), see _flex.py

        return fit_flexible(data, weights=weights, check=check)
    data, form = _normalise(data, form, eos)
    if isinstance(form, str) and form.strip().lower() in ("net", "flexible"):
        return fit_eos(data, form, weights=weights, check=check)  # fit_eos(v, e, eos="net")
    cls = FORM_REGISTRY[form].cls
    items, batched = _as_list(data)
    _check_curves(cls, items, batched)
    ws = _curve_weights(weights, items)
    v, e, w, c, s = _padded(items, ws, pad)
    if cls in _SHARED and share:
        prog, which = _AnyForm, jnp.asarray(_SHARED.index(cls))
    else:
        prog, which = cls, None
    v /= c[:, None]  # in place: a million-point curve holds few copies of itself
    e /= s[:, None]
    terms = energy_terms(v, e, w)
    del v, e
    fitted, ok, _ = _fit_batch(prog, terms, jnp.asarray(w), which, max_steps, tol)
    nb = len(items)
    out = _absolute(fitted, items, c[:nb], s[:nb])
    # refuse what properties() refuses (NaN with check=False), FitQualityWarning for doubts
    out = accept(cls, items, out, np.asarray(ok)[:nb], weights, check, batched, stacklevel=4)
    _warn_float32(items)
    if not batched:
        out = {k: a[0] for k, a in out.items()}
    return cls(**out)


def _check_curves(cls, items: list[EVData], batched: bool) -> None:
    """Enough points for the form's parameters, energies the float type resolves, a spread."""
    for i, d in enumerate(items):
        if len(d) < cls.n_params:
            name = f" ({d.label or f'curve {i}'})" if batched else ""
            raise ValueError(
                f"fit_eos: {cls.__name__} has {cls.n_params} parameters and needs at least "
                f"{cls.n_params} points; got {len(d)}{name}."
            )
        check_precision("fit_eos", d)
        if np.ptp(d.energy) == 0:
            raise ValueError(f"fit_eos: curve {i} has all energies equal; nothing to fit.")


def _padded(items: list[EVData], ws: list[np.ndarray], pad: bool):
    """`(v, e, w, c, s)`: the curves as `(B, N)` arrays, padded (with `pad`) to a length and
    batch bucket: the last point repeated with weight 0 (an exact no-op), whole curves by
    copies of the first; `c`, `s` `(B,)`: each curve's mean volume and energy spread."""
    nb = len(items)
    longest = max(len(d) for d in items)
    npad = _length_bucket(longest) if pad else longest
    bpad = _batch_bucket(nb) if pad else nb
    v, e, w = np.empty((bpad, npad)), np.empty((bpad, npad)), np.zeros((bpad, npad))
    for i in range(bpad):
        d, wi = (items[i], ws[i]) if i < nb else (items[0], ws[0])
        m = len(d)
        v[i, :m], v[i, m:] = d.volume, d.volume[-1]
        e[i, :m], e[i, m:] = d.energy, d.energy[-1]
        w[i, :m] = wi
    padded = items + [items[0]] * (bpad - nb)
    c = np.array([np.mean(d.volume) for d in padded])
    s = np.array([np.ptp(d.energy) for d in padded])
    return v, e, w, c, s


def _absolute(fitted, items: list[EVData], c, s) -> dict:
    """The fitted parameters of the scaled problem in absolute units, each `(B,)`."""
    nb = len(items)
    p = {k: np.asarray(a, dtype=np.float64)[:nb] for k, a in fitted.params().items()}
    out = {
        "e0": p["e0"] * s + np.array([d.energy_shift for d in items]),
        "v0": p["v0"] * c,
        "b0": p["b0"] * s / c,
        "b1": p["b1"],
    }
    if "b2" in p:
        out["b2"] = p["b2"] * c / s
    return out


def _warn_float32(items: list[EVData]) -> None:
    """Say that E0 is held in float32 (to how many eV) when x64 is off and it matters."""
    if jax.config.jax_enable_x64:
        return
    big = max(abs(d.energy_shift) for d in items)
    if big * 2.0**-23 > 1e-6:
        warnings.warn(
            f"fit_eos: jax_enable_x64 is off, so the returned form holds E0 (|E0| ~ {big:.3g} "
            f"eV) in float32, to ~{big * 2.0**-23:.1g} eV. V0, B0 and B0' were fitted on "
            "shifted energies and are unaffected; E0 + data.energy_shift is exact in "
            "properties(). Enable float64 for an exact E0.",
            stacklevel=4,
        )
