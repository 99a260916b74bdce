"""pinnloss: composable squared-error loss terms and compiled solvers for physics-informed fitting.

Public surface, re-exported explicitly; implementation lives in private modules.
"""

from . import balancing as balancing
from . import eos as eos
from . import losses as losses
from . import optimizers as optimizers
from . import pde as pde
from . import plot as plot
from ._checkpoint import load_checkpoint as load_checkpoint
from ._checkpoint import save_checkpoint as save_checkpoint
from ._curvature import gauss_newton_matrix as gauss_newton_matrix
from ._curvature import hessian_matrix as hessian_matrix
from ._driver import UnderdeterminedWarning as UnderdeterminedWarning
from ._fit import FitResult as FitResult
from ._fit import fit as fit
from ._lsq import LeastSquaresResult as LeastSquaresResult
from ._lsq import least_squares as least_squares
from ._samples import langevin_sample as langevin_sample
from ._samples import per_sample_grad_norms as per_sample_grad_norms
from ._samples import per_sample_grads as per_sample_grads
from ._samples import per_sample_losses as per_sample_losses
from ._solution import RESULTS as RESULTS
from ._solution import NonFiniteLossError as NonFiniteLossError
from ._solution import Solution as Solution
from ._solution import SolveError as SolveError
from ._solve import solve as solve
from ._solvers import AbstractLinearSolve as AbstractLinearSolve
from ._solvers import AbstractSolver as AbstractSolver
from ._solvers import AutoLinearSolve as AutoLinearSolve
from ._solvers import DenseDual as DenseDual
from ._solvers import DensePrimal as DensePrimal
from ._solvers import GaussNewton as GaussNewton
from ._solvers import GeodesicExact as GeodesicExact
from ._solvers import GeodesicFD as GeodesicFD
from ._solvers import LevenbergMarquardt as LevenbergMarquardt
from ._solvers import MatrixFreeCG as MatrixFreeCG
from ._solvers import Nielsen as Nielsen
from ._solvers import OptaxSolver as OptaxSolver
from ._sweep import sweep as sweep
from ._terms import AbstractSquareTerm as AbstractSquareTerm
from ._terms import AbstractTerm as AbstractTerm
from ._terms import DataLoss as DataLoss
from ._terms import DataMSE as DataMSE
from ._terms import Derivative as Derivative
from ._terms import Objective as Objective
from ._terms import QuadraticMSE as QuadraticMSE
from ._terms import Residual as Residual
from ._terms import UnitNorm as UnitNorm

__version__ = "0.1.0"
