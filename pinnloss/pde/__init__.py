"""PDE building blocks: differential operators (of scalar or vector-valued models, `out=`),
collocation points, geometry, adaptive resampling, hard Dirichlet constraints on any domain
with a distance, and multi-scale inputs (`Normalize`, `FourierFeatures`, `FourierMLP`).

Operators act on a model called on *one* point — a vector `x` of shape `(d,)` or a scalar —
and return a function of that point, for use inside `pl.Residual` functions:

    >>> def poisson(model, x):
    ...     return pde.laplacian(model)(x) + 2 * jnp.pi**2 * jnp.prod(jnp.sin(jnp.pi * x))
    >>> term = pl.Residual(poisson, pde.box([0.0, 0.0], [1.0, 1.0]).sobol(512, seed=0))

Space-time models take one vector `z = (t, x_1, ..., x_d)` with time on axis `time_axis`
(0 by default): `pde.dt(u)(z) - pde.spatial_laplacian(u)(z)` is the heat residual.
"""

# constructive geometry (also `pl.geometry`; its Box is `pl.geometry.Box`, pde.Box is the older
# box of collocation points)
from ._geometry import Ball as Ball
from ._geometry import Disk as Disk
from ._geometry import Interval as Interval
from ._geometry import Polygon as Polygon
from ._geometry import Rectangle as Rectangle
from ._geometry import Sphere as Sphere
from ._geometry import TimeDomain as TimeDomain
from ._nn import FourierFeatures as FourierFeatures
from ._nn import FourierMLP as FourierMLP
from ._nn import Normalize as Normalize
from ._nn import OutputScale as OutputScale
from ._operators import _AUTO as _AUTO
from ._operators import Box as Box
from ._operators import BoxDistance as BoxDistance
from ._operators import HardDirichlet as HardDirichlet
from ._operators import TimeBox as TimeBox
from ._operators import box as box
from ._operators import box_distance as box_distance
from ._operators import dirichlet as dirichlet
from ._operators import divergence as divergence
from ._operators import dt as dt
from ._operators import grad as grad
from ._operators import hessian as hessian
from ._operators import jacobian as jacobian
from ._operators import laplacian as laplacian
from ._operators import rad_resample as rad_resample
from ._operators import spatial_laplacian as spatial_laplacian
from ._operators import time_box as time_box
from ._operators import vector_laplacian as vector_laplacian

__all__ = [
    "grad",
    "divergence",
    "laplacian",
    "vector_laplacian",
    "spatial_laplacian",
    "dt",
    "jacobian",
    "hessian",
    "Box",
    "TimeBox",
    "box",
    "time_box",
    "rad_resample",
    "HardDirichlet",
    "BoxDistance",
    "dirichlet",
    "box_distance",
    "Interval",
    "Rectangle",
    "Disk",
    "Sphere",
    "Ball",
    "Polygon",
    "TimeDomain",
    "Normalize",
    "OutputScale",
    "FourierFeatures",
    "FourierMLP",
]
