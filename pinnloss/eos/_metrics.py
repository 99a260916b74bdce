r"""Metrics comparing two equations of state: $\Delta$, $\varepsilon$ and $\nu$.

All three follow the all-electron verification study of Bosoni et al. (ACWF), which
compares third-order Birch–Murnaghan curves built from each side's $(V_0, B_0, B_0')$,
per atom, aligned at their minima ($E_0 = 0$), over
$V \in [0.94\,\bar V_0,\ 1.06\,\bar V_0]$ with $\bar V_0 = (V_{0,a} + V_{0,b})/2$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._forms import AbstractEOS, BirchMurnaghan

__all__ = ["delta", "epsilon", "nu"]

# Gauss–Legendre nodes on [-1, 1]: exact to ~1e-15 for these smooth integrands.
_X, _W = np.polynomial.legendre.leggauss(48)


def _params(where, p):
    if isinstance(p, (tuple, list)) and len(p) == 3:
        return tuple(jnp.asarray(x) for x in p)
    try:
        return jnp.asarray(p.v0), jnp.asarray(p.b0), jnp.asarray(p.b1)
    except AttributeError:
        raise ValueError(
            f"{where}: expected an EOS form, EOSProperties or a (v0, b0, b1) tuple; "
            f"got {type(p).__name__}."
        ) from None


def _curves(where, a, b, own):
    (va, ba, b1a), (vb, bb, b1b) = _params(where, a), _params(where, b)
    vbar = 0.5 * (va + vb)
    lo, hi = 0.94 * vbar, 1.06 * vbar
    x = jnp.asarray(_X)
    w = jnp.asarray(_W)
    v = 0.5 * (lo + hi)[..., None] + 0.5 * (hi - lo)[..., None] * x  # (..., nodes)
    wt = 0.5 * (hi - lo)[..., None] * w

    def curve(p, vp, bp, b1p):
        if own:
            if not isinstance(p, AbstractEOS):
                raise ValueError(f"{where}: curve='own' needs EOS forms; got {type(p).__name__}.")
            # batched forms: a trailing axis on every field so it broadcasts with the nodes
            q = jax.tree.map(lambda x: jnp.asarray(x)[..., None], p)
            return q.energy(v) - q.e0
        bm = BirchMurnaghan(0.0, vp[..., None], bp[..., None], b1p[..., None])
        return bm.energy(v)

    ea = curve(a, va, ba, b1a)
    eb = curve(b, vb, bb, b1b)
    return ea, eb, wt, hi - lo


def delta(a, b, *, curve: str = "birch_murnaghan") -> Array:
    r"""The $\Delta$ gauge between two equations of state [meV/atom].

    $$\Delta = \sqrt{\frac{1}{V_M - V_m}\int_{V_m}^{V_M}\big[E_a(V) - E_b(V)\big]^2\,dV}$$
    with both curves shifted to $E_0 = 0$ and $[V_m, V_M] = [0.94, 1.06]\,\bar V_0$.
    Give per-atom parameters to get meV/atom, as in the ACWF study.

    Args:
        a, b: EOS forms, `EOSProperties` or `(v0, b0, b1)` tuples (eV, Å³ per atom); arrays
            of parameters broadcast, so all crystals of a data set go in one call.
        curve: `"birch_murnaghan"` (default) builds third-order BM curves from
            $(V_0, B_0, B_0')$, as the study does; `"own"` integrates the forms themselves.

    Example:
        >>> delta(fit_wien2k, fit_fleur)   # meV/atom

    Reference: K. Lejaeghere et al., Science 351, aad3000 (2016); E. Bosoni et al.,
    Nat. Rev. Phys. 6, 45 (2024).
    """
    ea, eb, wt, width = _curves("delta", a, b, curve == "own")
    return 1000.0 * jnp.sqrt(jnp.sum(wt * (ea - eb) ** 2, axis=-1) / width)


def epsilon(a, b, *, curve: str = "birch_murnaghan") -> Array:
    r"""The dimensionless $\varepsilon$ metric of the ACWF study.

    $$\varepsilon = \sqrt{\frac{\langle (E_a - E_b)^2\rangle}
      {\sqrt{\langle (E_a - \langle E_a\rangle)^2\rangle\,
             \langle (E_b - \langle E_b\rangle)^2\rangle}}}$$
    with $\langle f\rangle = \frac{1}{V_M - V_m}\int_{V_m}^{V_M} f\,dV$ over
    $[0.94, 1.06]\,\bar V_0$ and both curves at $E_0 = 0$. Unlike $\Delta$ it does not grow
    with the stiffness of the material. The study calls $\varepsilon < 0.06$ excellent and
    $< 0.20$ good agreement.

    Note: the study's script (`quantities_for_comparison.epsilon`) centres the second
    variance on the *first* curve's mean; this function follows the published formula
    (each curve on its own mean). The two differ by terms of second order in
    $\langle E_a\rangle - \langle E_b\rangle$: at most 8e-5 relative on the ACWF
    WIEN2k–FLEUR comparison.

    Args:
        a, b, curve: as in `delta`.

    Reference: E. Bosoni et al., Nat. Rev. Phys. 6, 45 (2024), Eq. (3).
    """
    ea, eb, wt, width = _curves("epsilon", a, b, curve == "own")

    def mean(f):
        return jnp.sum(wt * f, axis=-1) / width

    ma, mb = mean(ea), mean(eb)
    var_a = mean((ea - ma[..., None]) ** 2)
    var_b = mean((eb - mb[..., None]) ** 2)
    return jnp.sqrt(mean((ea - eb) ** 2) / jnp.sqrt(var_a * var_b))


def nu(a, b, *, weights=(1.0, 1.0 / 20.0, 1.0 / 400.0)) -> Array:
    r"""The dimensionless $\nu$ metric of the ACWF study.

    $$\nu = 100\sqrt{\sum_{Y\in\{V_0, B_0, B_0'\}}
      \Big[w_Y\,\frac{Y_a - Y_b}{(Y_a + Y_b)/2}\Big]^2},
      \qquad w_{V_0} = 1,\ w_{B_0} = \tfrac{1}{20},\ w_{B_0'} = \tfrac{1}{400}.$$
    The study calls $\nu < 0.10$ excellent and $< 0.33$ good agreement.

    Args:
        a, b: as in `delta`. weights: $(w_{V_0}, w_{B_0}, w_{B_0'})$, inside the square.

    Reference: E. Bosoni et al., Nat. Rev. Phys. 6, 45 (2024), Eq. (4).
    """
    pa, pb = _params("nu", a), _params("nu", b)
    total = 0.0
    for w, ya, yb in zip(weights, pa, pb, strict=True):
        total = total + (w * 2.0 * (ya - yb) / (ya + yb)) ** 2
    return 100.0 * jnp.sqrt(total)
