r"""Classical equations of state $E(V)$ as Equinox modules.

Every form has array fields `e0` (eV), `v0` (Å³), `b0` (eV/Å³) and `b1` (dimensionless
$B_0'$), and is called on one scalar volume: `form(v) -> E(v)`. Array fields mean a new
value never recompiles, and a batch of forms is one module with a leading axis on its fields.

The energy of a form fitted by `fit_eos` is absolute (it includes `EVData.energy_shift`);
a form fitted by hand against `EVData.energy` lives in the data's shifted frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._data import EV_PER_A3_TO_GPA, UNITS

__all__ = [
    "AbstractEOS",
    "BirchMurnaghan",
    "BirchMurnaghan4",
    "Vinet",
    "Murnaghan",
    "PoirierTarantola",
    "StabilizedJellium",
    "AntonSchmidt",
    "Polynomial3",
    "FormSpec",
    "FORM_REGISTRY",
    "UnknownFormError",
    "shift_energy",
]


_DIGITS = {"e0": 12, "v0": 8, "b0": 6, "b1": 6, "b2": 5}


def _fmt(k: str, x: float) -> str:
    return f"{x:.{_DIGITS.get(k, 6)}g}"


def _show(k: str, x: float) -> str:
    gpa = f" ({x * EV_PER_A3_TO_GPA:.5g} GPa)" if k == "b0" and np.isfinite(x) else ""
    return f"{k}={_fmt(k, x)}{_unit(k)}{gpa}"


def _unit(k: str) -> str:
    """A parameter's unit in reprs: `UNITS` without "/atom" (a form is E(V) of one cell)."""
    u = UNITS.get(k, "").removesuffix("/atom")
    return f" {u}" if u else ""


def _arr(x) -> Array:
    a = jnp.asarray(x)
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        a = a.astype(jnp.result_type(float))
    return a


class AbstractEOS(eqx.Module):
    """An equation of state $E(V)$ with parameters $E_0, V_0, B_0, B_0'$.

    Subclasses implement `energy(v)`; `form(v)` calls it on one scalar volume.
    """

    e0: Array = eqx.field(converter=_arr)
    v0: Array = eqx.field(converter=_arr)
    b0: Array = eqx.field(converter=_arr)
    b1: Array = eqx.field(converter=_arr)

    #: number of fitted parameters (the fewest points a fit needs)
    n_params: ClassVar[int] = 4

    def energy(self, v: ArrayLike) -> Array:
        """$E(V)$ in eV for volume `v` in Å³ (broadcasts over `v`)."""
        raise NotImplementedError

    def __call__(self, v: ArrayLike) -> Array:
        return self.energy(v)

    def params(self) -> dict[str, Array]:
        """The parameters as a dict, e.g. `{"e0": ..., "v0": ..., "b0": ..., "b1": ...}`."""
        return {"e0": self.e0, "v0": self.v0, "b0": self.b0, "b1": self.b1}

    def __repr__(self) -> str:
        """Values with units: `BirchMurnaghan(e0=-3.25 eV, v0=11.95 Å³, b0=0.88 eV/Å³ …)`.

        A batch of forms (fields with a leading axis) shows its shape and, per parameter,
        the range and median. Under a transformation (traced fields) the Equinox repr.
        """
        try:
            p = {k: np.asarray(a, dtype=np.float64) for k, a in self.params().items()}
        except Exception:  # tracers, placeholders: the structural repr
            return eqx.tree_pformat(self)
        name = type(self).__name__
        shape = np.broadcast_shapes(*(a.shape for a in p.values()))
        if shape == ():
            return f"{name}({', '.join(_show(k, float(a)) for k, a in p.items())})"
        parts = []
        for k, a in p.items():
            a = np.broadcast_to(a, shape).ravel()
            ok = a[np.isfinite(a)]
            if ok.size == 0:
                parts.append(f"{k} all NaN")
                continue
            lo, med, hi = (_fmt(k, x) for x in (ok.min(), np.median(ok), ok.max()))
            parts.append(f"{k} {lo} … {hi}{_unit(k)} (median {med})")
        bad = int((~np.all([np.isfinite(np.broadcast_to(a, shape)) for a in p.values()], 0)).sum())
        nan = f"; {bad} with NaN parameters" if bad else ""
        n = int(np.prod(shape))
        return f"{name}[{n} curves, shape {shape}]({'; '.join(parts)}{nan})"


class BirchMurnaghan(AbstractEOS):
    r"""Third-order Birch–Murnaghan equation of state.

    $$E(V) = E_0 + \frac{9 V_0 B_0}{16}\Big\{(\eta-1)^3 B_0' + (\eta-1)^2 (6 - 4\eta)\Big\},
    \qquad \eta = (V_0/V)^{2/3}.$$

    It is exactly a cubic polynomial in $V^{-2/3}$, which `fit_eos` uses for its start.

    Args:
        e0: energy at the minimum [eV]. v0: equilibrium volume [Å³].
        b0: bulk modulus $V_0 E''(V_0)$ [eV/Å³]. b1: $B_0' = dB/dP$ at $P=0$.

    Example:
        >>> bm = BirchMurnaghan(e0=0.0, v0=11.95, b0=0.88, b1=5.05)
        >>> bm(12.0)           # energy in eV
        >>> jax.grad(bm)(11.95)  # ~0: zero pressure at V0

    Reference: F. Birch, "Finite elastic strain of cubic crystals", Phys. Rev. 71, 809 (1947).
    """

    def energy(self, v):
        eta = (self.v0 / v) ** (2.0 / 3.0)
        d = eta - 1.0
        return self.e0 + 9.0 * self.v0 * self.b0 / 16.0 * (
            d**3 * self.b1 + d**2 * (6.0 - 4.0 * eta)
        )


class BirchMurnaghan4(AbstractEOS):
    r"""Fourth-order Birch–Murnaghan equation of state (adds $B_0''$ as `b2`).

    With the Eulerian strain $f = \frac12\big[(V_0/V)^{2/3} - 1\big]$,
    $$E(V) = E_0 + \tfrac92 B_0 V_0 f^2\Big[1 + (B_0'-4) f
      + \tfrac34\big(B_0 B_0'' + (B_0'-4)(B_0'-3) + \tfrac{35}{9}\big) f^2\Big].$$
    At $b2 = B_0''$ of the third-order form, $-[(B_0'-4)(B_0'-3) + 35/9]/B_0$, it reduces
    to `BirchMurnaghan`.

    Args:
        e0, v0, b0, b1: as `BirchMurnaghan`. b2: $B_0'' = d^2B/dP^2$ at $P=0$ [Å³/eV].

    Example:
        >>> bm4 = BirchMurnaghan4(e0=0.0, v0=11.95, b0=0.88, b1=5.05, b2=-8.0)
        >>> bm4(12.0)

    Reference: F. Birch, J. Geophys. Res. 83, 1257 (1978); R. E. Cohen, O. Gülseren,
    R. J. Hemley, Am. Mineral. 85, 338 (2000).
    """

    b2: Array = eqx.field(converter=_arr, default=0.0)
    n_params: ClassVar[int] = 5

    def energy(self, v):
        f = 0.5 * ((self.v0 / v) ** (2.0 / 3.0) - 1.0)
        a1 = self.b1 - 4.0
        a2 = 0.75 * (self.b0 * self.b2 + (self.b1 - 4.0) * (self.b1 - 3.0) + 35.0 / 9.0)
        return self.e0 + 4.5 * self.b0 * self.v0 * f**2 * (1.0 + a1 * f + a2 * f**2)

    def params(self):
        return {**super().params(), "b2": self.b2}


class Vinet(AbstractEOS):
    r"""Vinet (Rydberg) equation of state.

    $$E(V) = E_0 + \frac{2 B_0 V_0}{(B_0'-1)^2}\Big\{2 - \big[5 + 3B_0'(x-1) - 3x\big]
      e^{-\frac32 (B_0'-1)(x-1)}\Big\}, \qquad x = (V/V_0)^{1/3}.$$

    Example:
        >>> Vinet(e0=0.0, v0=11.95, b0=0.88, b1=5.05)(12.0)

    Reference: P. Vinet, J. H. Rose, J. Ferrante, J. R. Smith, J. Phys.: Condens. Matter 1,
    1941 (1989).
    """

    def energy(self, v):
        x = (v / self.v0) ** (1.0 / 3.0)
        c = self.b1 - 1.0
        return self.e0 + 2.0 * self.b0 * self.v0 / c**2 * (
            2.0 - (5.0 + 3.0 * self.b1 * (x - 1.0) - 3.0 * x) * jnp.exp(-1.5 * c * (x - 1.0))
        )


class Murnaghan(AbstractEOS):
    r"""Murnaghan equation of state (constant $B_0'$).

    $$E(V) = E_0 + \frac{B_0 V}{B_0'}\Big[\frac{(V_0/V)^{B_0'}}{B_0'-1} + 1\Big]
      - \frac{B_0 V_0}{B_0'-1}.$$

    Example:
        >>> Murnaghan(e0=0.0, v0=11.95, b0=0.88, b1=5.05)(12.0)

    Reference: F. D. Murnaghan, Proc. Natl. Acad. Sci. USA 30, 244 (1944).
    """

    def energy(self, v):
        b1 = self.b1
        return (
            self.e0
            + self.b0 * v / b1 * ((self.v0 / v) ** b1 / (b1 - 1.0) + 1.0)
            - self.b0 * self.v0 / (b1 - 1.0)
        )


class PoirierTarantola(AbstractEOS):
    r"""Poirier–Tarantola (logarithmic) equation of state.

    $$E(V) = E_0 + \frac{B_0 V_0}{6}\,\epsilon^2\big[3 + \epsilon(B_0' - 2)\big],
    \qquad \epsilon = -\ln(V/V_0).$$

    Example:
        >>> PoirierTarantola(e0=0.0, v0=11.95, b0=0.88, b1=5.05)(12.0)

    Reference: J. P. Poirier, A. Tarantola, Phys. Earth Planet. Inter. 109, 1 (1998).
    """

    def energy(self, v):
        eps = -jnp.log(v / self.v0)
        return self.e0 + self.b0 * self.v0 / 6.0 * eps**2 * (3.0 + eps * (self.b1 - 2.0))


def _cubic_in_power(form: AbstractEOS, v, k: float):
    r"""$E_0 + \tfrac12 f_2 (x-x_0)^2 + \tfrac16 f_3 (x-x_0)^3$ with $x = V^{-k}$.

    The cubic polynomial in $x$ whose minimum is at $V_0$ with $V_0 E''(V_0) = B_0$ and
    $B'(P=0) = B_0'$: $f_2 = B_0 V_0^{2k+1}/k^2$ and $f_3 = (B_0' - 3k - 2) f_2/(k x_0)$
    (from $B_0' = -1 - V_0 E'''(V_0)/E''(V_0)$). Third-order Birch–Murnaghan is $k = 2/3$.
    """
    x0 = form.v0 ** (-k)
    d = jnp.asarray(v) ** (-k) - x0
    f2 = form.b0 * form.v0 ** (2.0 * k + 1.0) / k**2
    f3 = (form.b1 - 3.0 * k - 2.0) * f2 / (k * x0)
    return form.e0 + d**2 * (0.5 * f2 + d * f3 / 6.0)


class StabilizedJellium(AbstractEOS):
    r"""Stabilized-jellium equation of state (SJEOS): a cubic polynomial in $V^{-1/3}$.

    $$E(V) = a + b\,V^{-1/3} + c\,V^{-2/3} + d\,V^{-1},$$
    written here in $E_0, V_0, B_0, B_0'$ (any such cubic with a minimum is one of these,
    and `fit_eos` starts from the exact linear least-squares cubic). ASE's `eos="sj"`.

    Example:
        >>> StabilizedJellium(e0=0.0, v0=11.95, b0=0.88, b1=5.05)(12.0)

    Reference: A. B. Alchagirov, J. P. Perdew, J. C. Boettger, R. C. Albers, C. Fiolhais,
    Phys. Rev. B 63, 224115 (2001).
    """

    #: the power $k$ of $x = V^{-k}$ in which the energy is a cubic (read by `fit_eos`)
    poly_power: ClassVar[float] = 1.0 / 3.0

    def energy(self, v):
        return _cubic_in_power(self, v, self.poly_power)


class Polynomial3(AbstractEOS):
    r"""Cubic polynomial in the volume, $E(V) = c_0 + c_1 V + c_2 V^2 + c_3 V^3$.

    Written in $E_0, V_0, B_0, B_0'$:
    $E = E_0 + \frac{B_0}{2V_0}(V-V_0)^2 - \frac{(B_0'+1) B_0}{6V_0^2}(V-V_0)^3$.
    ASE's `eos="p3"`; a local fit, reliable only close to the minimum.

    Example:
        >>> Polynomial3(e0=0.0, v0=11.95, b0=0.88, b1=5.05)(12.0)

    Reference: the `p3` form of ASE's `ase.eos` (A. H. Larsen et al., J. Phys.: Condens.
    Matter 29, 273002 (2017)).
    """

    poly_power: ClassVar[float] = -1.0

    def energy(self, v):
        return _cubic_in_power(self, v, self.poly_power)


class AntonSchmidt(AbstractEOS):
    r"""Anton–Schmidt equation of state, $P(V) = -B_0 (V/V_0)^n \ln(V/V_0)$, $n = -B_0'/2$.

    $$E(V) = E_\infty + \frac{B_0 V_0}{n+1}\Big(\frac{V}{V_0}\Big)^{n+1}
      \Big[\ln\frac{V}{V_0} - \frac{1}{n+1}\Big], \qquad
      E_\infty = E_0 + \frac{B_0 V_0}{(n+1)^2}.$$
    `e0` is the energy at the minimum, $E(V_0)$, as ASE's `eos="anton-schmidt"` reports it
    (older ASE versions fitted $E_\infty$ instead). At $B_0' = 2$ ($n = -1$) the limit
    $E_0 + B_0 V_0 \ln^2(V/V_0)/2$ is taken smoothly.

    Example:
        >>> AntonSchmidt(e0=0.0, v0=11.95, b0=0.88, b1=5.05)(12.0)

    Reference: H. Anton, P. C. Schmidt, Intermetallics 5, 449 (1997) (cited by older ASE
    versions as Intermetallics 6, 567 (1998)); $n = -B_0'/2$ from A. Otero-de-la-Roza,
    V. Luaña, Comput. Phys. Commun. 182, 1708 (2011).
    """

    def energy(self, v):
        m = 1.0 - 0.5 * self.b1  # n + 1
        lg = jnp.log(jnp.asarray(v) / self.v0)
        z = m * lg
        # (1 + e^z (z - 1)) / m^2 = lg^2 sum_{j>=2} z^(j-2) (j-1)/j!: the series where the
        # closed form cancels (|z| < 0.1, 12 terms: 1e-16 relative), which also covers
        # m = 0 (B0' = 2); the closed form elsewhere, with a double where (no 0/0)
        small = jnp.abs(z) < 0.1
        ms = jnp.where(small, 1.0, m)
        zc = jnp.where(small, 1.0, z)
        exact = (zc * jnp.exp(zc) - jnp.expm1(zc)) / ms**2
        series = 0.0
        for j in range(13, 1, -1):
            series = series * z + (j - 1) / math.factorial(j)
        return self.e0 + self.b0 * self.v0 * jnp.where(small, lg**2 * series, exact)


@dataclass(frozen=True)
class FormSpec:
    """One entry of the form registry: canonical `name`, `cls`, `aliases`, `description`."""

    name: str
    cls: type[AbstractEOS]
    aliases: tuple[str, ...]
    description: str

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name followed by the aliases."""
        return (self.name, *self.aliases)


# The one table of form names: `fit_eos(form=...)`, `bootstrap` and the command line's
# `--form` all read it, through `FORM_REGISTRY`.
_SPECS = (
    # ASE's "birch" is algebraically the same third-order form (Mehl et al.'s n = 0 case)
    FormSpec(
        "birch_murnaghan",
        BirchMurnaghan,
        ("bm", "bm3", "birchmurnaghan", "birch"),
        "Birch–Murnaghan (3rd order)",
    ),
    FormSpec("birch_murnaghan4", BirchMurnaghan4, ("bm4",), "Birch–Murnaghan (4th order)"),
    FormSpec("vinet", Vinet, (), "Vinet"),
    FormSpec("murnaghan", Murnaghan, (), "Murnaghan"),
    FormSpec(
        "poirier_tarantola",
        PoirierTarantola,
        ("pt", "pouriertarantola", "poiriertarantola"),
        "Poirier–Tarantola",
    ),
    FormSpec(
        "stabilized_jellium",
        StabilizedJellium,
        ("sj", "sjeos"),
        "stabilized jellium (cubic in V^-1/3)",
    ),
    FormSpec("anton_schmidt", AntonSchmidt, ("antonschmidt", "anton-schmidt"), "Anton–Schmidt"),
    FormSpec("p3", Polynomial3, ("polynomial3",), "cubic polynomial in V"),
)


class UnknownFormError(ValueError, KeyError):
    """A form name the registry does not know (a `ValueError`, and a `KeyError` as a mapping
    look-up should raise)."""

    def __str__(self) -> str:
        return str(self.args[0])


class _FormRegistry(Mapping):
    """Every accepted form name (canonical and aliases, lower case) → its `FormSpec`.

    Looking up is case-insensitive and also takes a form class: `FORM_REGISTRY["BM"]`,
    `FORM_REGISTRY[eos.Vinet]` (a user's own `AbstractEOS` subclass gets a spec of its own).
    An unknown name raises `UnknownFormError` (a `ValueError`) that lists the names.
    """

    def __init__(self, specs):
        self._by_name = {n: spec for spec in specs for n in spec.names}
        self._specs = specs

    def __getitem__(self, form) -> FormSpec:
        if isinstance(form, type) and issubclass(form, AbstractEOS):
            if form is AbstractEOS:
                raise UnknownFormError(
                    "form: give a concrete form such as BirchMurnaghan, not AbstractEOS."
                )
            spec = next((s for s in self._specs if s.cls is form), None)
            return spec or FormSpec(form.__name__, form, (), form.__name__)  # a user's own
        if isinstance(form, str) and form.lower() in self._by_name:
            return self._by_name[form.lower()]
        raise UnknownFormError(
            f"form: unknown equation of state {form!r}; choose one of {sorted(self._by_name)} "
            "or pass a form class such as eos.Vinet."
        )

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self):
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def specs(self) -> tuple[FormSpec, ...]:
        """Each form once, in the registry's order."""
        return self._specs

    def __repr__(self) -> str:
        return f"FORM_REGISTRY({', '.join(s.name for s in self._specs)})"


#: The form registry: every accepted name (canonical or alias) → `FormSpec` (`.name`, `.cls`,
#: `.aliases`, `.description`); `FORM_REGISTRY["bm"].cls is BirchMurnaghan`. The one public
#: name for form names (`FORMS`, `form_class` and `form_spec` are deprecated aliases).
FORM_REGISTRY = _FormRegistry(_SPECS)


def form_spec(form) -> FormSpec:
    """Deprecated: use `FORM_REGISTRY[form]`."""
    return FORM_REGISTRY[form]


def form_class(form) -> type[AbstractEOS]:
    """Deprecated: use `FORM_REGISTRY[form].cls`."""
    return FORM_REGISTRY[form].cls


def _forms_view() -> dict[str, type[AbstractEOS]]:
    """Deprecated `FORMS`: every accepted name → its class."""
    return {n: spec.cls for n, spec in FORM_REGISTRY.items()}


def shift_energy(form: AbstractEOS, delta) -> AbstractEOS:
    r"""The same form with every energy moved by `delta` eV: $E_0 \to E_0 + \delta$.

    `fit_eos` returns absolute forms; `shift_energy(form, -data.energy_shift)` puts one in
    the frame of `data.energy` (to refine it against `pl.DataMSE(data.volume, data.energy)`),
    and `shift_energy(refined, data.energy_shift)` brings it back.

    Example:
        >>> start = shift_energy(eos.fit_eos(data), -data.energy_shift)
        >>> refined = pl.least_squares(start, objective).model
        >>> bm = shift_energy(refined, data.energy_shift)   # absolute again
    """
    if not isinstance(form, AbstractEOS):
        raise ValueError(
            f"shift_energy: form must be an equation of state (eos.BirchMurnaghan, ...); got "
            f"{type(form).__name__}."
        )
    return eqx.tree_at(lambda f: f.e0, form, form.e0 + delta)
