"""Solvers: the protocol (`Problem`, `AbstractState`, `AbstractSolver`: init / step /
terminate), the least-squares strategies (linear solve, damping, geodesic acceleration) and
the built-in solvers."""

from ._base import AbstractSolver as AbstractSolver
from ._base import AbstractState as AbstractState
from ._base import Problem as Problem
from ._damping import AbstractDamping as AbstractDamping
from ._damping import Multiplicative as Multiplicative
from ._damping import Nielsen as Nielsen
from ._geodesic import AbstractGeodesic as AbstractGeodesic
from ._geodesic import GeodesicExact as GeodesicExact
from ._geodesic import GeodesicFD as GeodesicFD
from ._gn import GaussNewton as GaussNewton
from ._linearise import AbstractLinearSolve as AbstractLinearSolve
from ._linearise import Linearisation as Linearisation
from ._lm import AbstractLeastSquares as AbstractLeastSquares
from ._lm import AutoLinearSolve as AutoLinearSolve
from ._lm import DenseDual as DenseDual
from ._lm import DensePrimal as DensePrimal
from ._lm import LevenbergMarquardt as LevenbergMarquardt
from ._lm import LMState as LMState
from ._lm import MatrixFreeCG as MatrixFreeCG
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
