"""Solvers: `AbstractSolver` (init / step / terminate, a typed state) and its implementations."""

from ._base import AbstractSolver as AbstractSolver
from ._base import AbstractState as AbstractState
from ._base import Problem as Problem
from ._gn import GaussNewton as GaussNewton
from ._lm import AbstractLeastSquares as AbstractLeastSquares
from ._lm import AbstractLinearSolve as AbstractLinearSolve
from ._lm import AutoLinearSolve as AutoLinearSolve
from ._lm import DenseDual as DenseDual
from ._lm import DensePrimal as DensePrimal
from ._lm import GeodesicExact as GeodesicExact
from ._lm import GeodesicFD as GeodesicFD
from ._lm import LevenbergMarquardt as LevenbergMarquardt
from ._lm import LMState as LMState
from ._lm import MatrixFreeCG as MatrixFreeCG
from ._lm import Nielsen as Nielsen
from ._nystrom import NystromCG as NystromCG

# OptaxSolver/OptaxState on first use: an LM-only fit (the EOS CLI) never imports optax
_LAZY = {"OptaxSolver", "OptaxState"}


def __getattr__(name):
    if name in _LAZY:
        from . import _optax

        return getattr(_optax, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])


TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._optax import OptaxSolver as OptaxSolver
    from ._optax import OptaxState as OptaxState
