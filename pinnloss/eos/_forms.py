r"""Classical equations of state $E(V)$ as Equinox modules.

Every form has array fields `e0` (eV), `v0` (Å³), `b0` (eV/Å³) and `b1` (dimensionless
$B_0'$), and is called on one scalar volume: `form(v) -> E(v)`. Array fields mean a new
value never recompiles, and a batch of forms is one module with a leading axis on its fields.

The energy of a form fitted by `fit_eos` is absolute (it includes `EVData.energy_shift`);
a form fitted by hand against `EVData.energy` lives in the data's shifted frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

__all__ = [
    "AbstractEOS",
    "BirchMurnaghan",
    "BirchMurnaghan4",
    "Vinet",
    "Murnaghan",
    "PoirierTarantola",
    "FormSpec",
    "FORM_REGISTRY",
    "FORMS",
    "form_spec",
    "form_class",
    "shift_energy",
]


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
# `--form` all read it (through `FORM_REGISTRY`, `FORMS` and `form_spec`).
_SPECS = (
    FormSpec("birch_murnaghan", BirchMurnaghan, ("bm", "bm3"), "Birch–Murnaghan (3rd order)"),
    FormSpec("birch_murnaghan4", BirchMurnaghan4, ("bm4",), "Birch–Murnaghan (4th order)"),
    FormSpec("vinet", Vinet, (), "Vinet"),
    FormSpec("murnaghan", Murnaghan, (), "Murnaghan"),
    FormSpec("poirier_tarantola", PoirierTarantola, ("pt",), "Poirier–Tarantola"),
)

#: Every accepted form name, canonical or alias, to its `FormSpec`.
FORM_REGISTRY: dict[str, FormSpec] = {n: spec for spec in _SPECS for n in spec.names}

#: Every accepted form name to its class (a view of `FORM_REGISTRY`).
FORMS: dict[str, type[AbstractEOS]] = {n: spec.cls for n, spec in FORM_REGISTRY.items()}


def form_spec(form) -> FormSpec:
    """The registry entry of a form name (`"birch_murnaghan"`, `"bm"`, `"vinet"`, …) or class.

    Example:
        >>> form_spec("bm").name, form_spec("bm").description
        ('birch_murnaghan', 'Birch–Murnaghan (3rd order)')
    """
    if isinstance(form, type) and issubclass(form, AbstractEOS):
        if form is AbstractEOS:
            raise ValueError("form: give a concrete form such as BirchMurnaghan, not AbstractEOS.")
        for spec in _SPECS:
            if spec.cls is form:
                return spec
        return FormSpec(form.__name__, form, (), form.__name__)  # a user's own form
    if isinstance(form, str) and form.lower() in FORM_REGISTRY:
        return FORM_REGISTRY[form.lower()]
    raise ValueError(
        f"form: unknown equation of state {form!r}; choose one of {sorted(FORM_REGISTRY)} "
        "or pass a form class such as eos.Vinet."
    )


def form_class(form) -> type[AbstractEOS]:
    """The form class for a name (`"birch_murnaghan"`, `"bm"`, `"vinet"`, …) or a class."""
    return form_spec(form).cls


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
