"""pinnloss: composable squared-error loss terms and compiled solvers for physics-informed fitting.

Public surface, re-exported explicitly; implementation lives in private modules.

Names are imported lazily (PEP 562 module `__getattr__`): `import pinnloss` is cheap and each
name loads its module (JAX, Equinox, Optax, SciPy, matplotlib, …) on first use.
`from pinnloss import X`, `dir(pinnloss)`, tab completion and `from pinnloss import *` work
as for eager imports. To export a name, add one line to `_EXPORTS` below (name → private
module) and keep the `TYPE_CHECKING` block in step, so that type checkers and IDEs see it;
tests/test_imports.py checks that the two agree and that every name resolves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import attach
from ._version import __version__ as __version__

#: Public submodules, imported on first attribute access.
_SUBMODULES = ("balancing", "eos", "extras", "geometry", "losses", "optimizers", "pde", "plot")

#: Public name → private module that defines it (same name there).
_EXPORTS = {
    "enable_compilation_cache": "._cache",
    "load_checkpoint": ".parallel._checkpoint",
    "save_checkpoint": ".parallel._checkpoint",
    "gauss_newton_matrix": "._curvature",
    "hessian_matrix": "._curvature",
    "distributed_initialize": ".parallel._distributed",
    "UnderdeterminedWarning": "._driver",
    "fit": "._fit",
    "least_squares": "._lsq",
    "langevin_sample": ".extras._samples",
    "per_sample_grad_norms": ".extras._samples",
    "per_sample_grads": ".extras._samples",
    "per_sample_losses": ".extras._samples",
    "RESULTS": "._solution",
    "NonFiniteLossError": "._solution",
    "OverfitWarning": "._solution",
    "Solution": "._solution",
    "SolveError": "._solution",
    "solve": "._solve",
    "AbstractLinearSolve": "._solvers",
    "AbstractSolver": "._solvers",
    "AbstractDamping": "._solvers",
    "AbstractGeodesic": "._solvers",
    "AbstractState": "._solvers",
    "Linearisation": "._solvers",
    "Multiplicative": "._solvers",
    "Problem": "._solvers",
    "AutoLinearSolve": "._solvers",
    "DenseDual": "._solvers",
    "DensePrimal": "._solvers",
    "GaussNewton": "._solvers",
    "GeodesicExact": "._solvers",
    "GeodesicFD": "._solvers",
    "LevenbergMarquardt": "._solvers",
    "MatrixFreeCG": "._solvers",
    "Nielsen": "._solvers",
    "NystromCG": "._solvers",
    "OptaxSolver": "._solvers",
    "sweep": ".parallel._sweep",
    "AbstractSquareTerm": "._terms",
    "AbstractTerm": "._terms",
    "DataLoss": "._terms",
    "DataMSE": "._terms",
    "Derivative": "._terms",
    "Objective": "._terms",
    "QuadraticMSE": "._terms",
    "Residual": "._terms",
    "UnitNorm": "._terms",
}

__all__ = sorted([*_SUBMODULES, *_EXPORTS, "__version__"])


__getattr__, __dir__ = attach(__name__, _SUBMODULES, _EXPORTS)

if TYPE_CHECKING:  # what static tools see; the same names as _SUBMODULES and _EXPORTS
    from . import balancing as balancing
    from . import eos as eos
    from . import extras as extras
    from . import geometry as geometry
    from . import losses as losses
    from . import optimizers as optimizers
    from . import pde as pde
    from . import plot as plot
    from ._cache import enable_compilation_cache as enable_compilation_cache
    from ._curvature import gauss_newton_matrix as gauss_newton_matrix
    from ._curvature import hessian_matrix as hessian_matrix
    from ._driver import UnderdeterminedWarning as UnderdeterminedWarning
    from ._fit import fit as fit
    from ._lsq import least_squares as least_squares
    from ._solution import RESULTS as RESULTS
    from ._solution import NonFiniteLossError as NonFiniteLossError
    from ._solution import OverfitWarning as OverfitWarning
    from ._solution import Solution as Solution
    from ._solution import SolveError as SolveError
    from ._solve import solve as solve
    from ._solvers import AbstractDamping as AbstractDamping
    from ._solvers import AbstractGeodesic as AbstractGeodesic
    from ._solvers import AbstractLinearSolve as AbstractLinearSolve
    from ._solvers import AbstractSolver as AbstractSolver
    from ._solvers import AbstractState as AbstractState
    from ._solvers import AutoLinearSolve as AutoLinearSolve
    from ._solvers import DenseDual as DenseDual
    from ._solvers import DensePrimal as DensePrimal
    from ._solvers import GaussNewton as GaussNewton
    from ._solvers import GeodesicExact as GeodesicExact
    from ._solvers import GeodesicFD as GeodesicFD
    from ._solvers import LevenbergMarquardt as LevenbergMarquardt
    from ._solvers import Linearisation as Linearisation
    from ._solvers import MatrixFreeCG as MatrixFreeCG
    from ._solvers import Multiplicative as Multiplicative
    from ._solvers import Nielsen as Nielsen
    from ._solvers import NystromCG as NystromCG
    from ._solvers import OptaxSolver as OptaxSolver
    from ._solvers import Problem as Problem
    from ._terms import AbstractSquareTerm as AbstractSquareTerm
    from ._terms import AbstractTerm as AbstractTerm
    from ._terms import DataLoss as DataLoss
    from ._terms import DataMSE as DataMSE
    from ._terms import Derivative as Derivative
    from ._terms import Objective as Objective
    from ._terms import QuadraticMSE as QuadraticMSE
    from ._terms import Residual as Residual
    from ._terms import UnitNorm as UnitNorm
    from .extras._samples import langevin_sample as langevin_sample
    from .extras._samples import per_sample_grad_norms as per_sample_grad_norms
    from .extras._samples import per_sample_grads as per_sample_grads
    from .extras._samples import per_sample_losses as per_sample_losses
    from .parallel._checkpoint import load_checkpoint as load_checkpoint
    from .parallel._checkpoint import save_checkpoint as save_checkpoint
    from .parallel._distributed import distributed_initialize as distributed_initialize
    from .parallel._sweep import sweep as sweep
