"""pinnloss.eos: energy–volume curves of solids.

Data (`EVData`, `load`), classical equations of state (`BirchMurnaghan`, `Vinet`, …) and
`fit_eos`, a physics-informed neural `EnergyNet` with the terms `ZeroPressure`,
`BulkModulus`, `BulkModulusDerivative`, `PressureData`, `properties` by autodiff with
ensemble error bars, `rms` residuals, the ACWF metrics `delta`, `epsilon`, `nu`, and
figures of a fit in `pinnloss.eos.plot` (matplotlib, imported on first use).

Form names (`fit_eos(form=...)`, the command line's `--form`) come from one registry,
`FORM_REGISTRY`: canonical names and aliases, each with its class and a description
(`FORMS`, `form_class` and `form_spec` of version 0.2 are deprecated aliases of it).

Names are imported lazily (PEP 562 module `__getattr__`; see pinnloss/__init__.py): a name
loads its module on first use. To export a name, add it to `_EXPORTS` and to the
`TYPE_CHECKING` block (tests/test_imports.py checks that they agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

#: Public submodules, imported on first attribute access.
_SUBMODULES = ("plot",)

#: Public name → private module that defines it (same name there).
_EXPORTS = {
    "EV_PER_A3_TO_GPA": "._data",
    "EVData": "._data",
    "example_data": "._data",
    "example_path": "._data",
    "from_ase": "._data",
    "load": "._data",
    "UNITS": "._data",
    "Ensemble": "._summary",
    "bootstrap": "._ensemble",
    "seed_ensemble": "._ensemble",
    "constrained_objective": "._constrained",
    "fit_constrained": "._constrained",
    "cubic_guess": "._fit",
    "fit_eos": "._fit",
    "LAMBDA_GRID": "._flex",
    "FlexibleEOS": "._flex",
    "FlexReport": "._flex",
    "fit_flexible": "._flex",
    "FORM_REGISTRY": "._forms",
    "AbstractEOS": "._forms",
    "AntonSchmidt": "._forms",
    "BirchMurnaghan": "._forms",
    "BirchMurnaghan4": "._forms",
    "FormSpec": "._forms",
    "Murnaghan": "._forms",
    "PoirierTarantola": "._forms",
    "Polynomial3": "._forms",
    "StabilizedJellium": "._forms",
    "Vinet": "._forms",
    "UnknownFormError": "._forms",
    "shift_energy": "._forms",
    "delta": "._metrics",
    "epsilon": "._metrics",
    "nu": "._metrics",
    "FitQualityWarning": "._quality",
    "Verdict": "._quality",
    "assess": "._quality",
    "EnergyNet": "._net",
    "EOSProperties": "._properties",
    "bulk_modulus": "._properties",
    "bulk_modulus_derivative": "._properties",
    "energy_offset": "._properties",
    "pressure": "._properties",
    "properties": "._properties",
    "rms": "._properties",
    "BulkModulus": "._terms",
    "BulkModulusDerivative": "._terms",
    "PressureData": "._terms",
    "ZeroPressure": "._terms",
}

__all__ = sorted([*_SUBMODULES, *_EXPORTS])


_lazy_getattr, __dir__ = attach(__name__, _SUBMODULES, _EXPORTS)

#: Deprecated names of the form registry (version 0.2): `FORM_REGISTRY` replaces them.
_DEPRECATED = {
    "FORMS": ("FORM_REGISTRY[name].cls", lambda f: f._forms_view()),
    "form_class": ("FORM_REGISTRY[form].cls", lambda f: f.form_class),
    "form_spec": ("FORM_REGISTRY[form]", lambda f: f.form_spec),
}


def __getattr__(name: str):
    if name in _DEPRECATED:
        import warnings

        from . import _forms

        use, get = _DEPRECATED[name]
        warnings.warn(
            f"pinnloss.eos.{name} is deprecated; use eos.{use}.", DeprecationWarning, stacklevel=2
        )
        return get(_forms)
    return _lazy_getattr(name)


if TYPE_CHECKING:  # what static tools see; the same names as _SUBMODULES and _EXPORTS
    from . import plot as plot
    from ._constrained import constrained_objective as constrained_objective
    from ._constrained import fit_constrained as fit_constrained
    from ._data import EV_PER_A3_TO_GPA as EV_PER_A3_TO_GPA
    from ._data import UNITS as UNITS
    from ._data import EVData as EVData
    from ._data import example_data as example_data
    from ._data import example_path as example_path
    from ._data import from_ase as from_ase
    from ._data import load as load
    from ._ensemble import bootstrap as bootstrap
    from ._ensemble import seed_ensemble as seed_ensemble
    from ._fit import cubic_guess as cubic_guess
    from ._fit import fit_eos as fit_eos
    from ._flex import LAMBDA_GRID as LAMBDA_GRID
    from ._flex import FlexibleEOS as FlexibleEOS
    from ._flex import FlexReport as FlexReport
    from ._flex import fit_flexible as fit_flexible
    from ._forms import FORM_REGISTRY as FORM_REGISTRY
    from ._forms import AbstractEOS as AbstractEOS
    from ._forms import AntonSchmidt as AntonSchmidt
    from ._forms import BirchMurnaghan as BirchMurnaghan
    from ._forms import BirchMurnaghan4 as BirchMurnaghan4
    from ._forms import FormSpec as FormSpec
    from ._forms import Murnaghan as Murnaghan
    from ._forms import PoirierTarantola as PoirierTarantola
    from ._forms import Polynomial3 as Polynomial3
    from ._forms import StabilizedJellium as StabilizedJellium
    from ._forms import UnknownFormError as UnknownFormError
    from ._forms import Vinet as Vinet
    from ._forms import shift_energy as shift_energy
    from ._metrics import delta as delta
    from ._metrics import epsilon as epsilon
    from ._metrics import nu as nu
    from ._net import EnergyNet as EnergyNet
    from ._properties import EOSProperties as EOSProperties
    from ._properties import bulk_modulus as bulk_modulus
    from ._properties import bulk_modulus_derivative as bulk_modulus_derivative
    from ._properties import energy_offset as energy_offset
    from ._properties import pressure as pressure
    from ._properties import properties as properties
    from ._properties import rms as rms
    from ._quality import FitQualityWarning as FitQualityWarning
    from ._quality import Verdict as Verdict
    from ._quality import assess as assess
    from ._summary import Ensemble as Ensemble
    from ._terms import BulkModulus as BulkModulus
    from ._terms import BulkModulusDerivative as BulkModulusDerivative
    from ._terms import PressureData as PressureData
    from ._terms import ZeroPressure as ZeroPressure
