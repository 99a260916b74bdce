"""Constructive geometry for physics-informed fitting: `pl.geometry`.

Primitives (`Interval`, `Rectangle`, `Box`, `Disk`, `Sphere`, `Ball`, `Polygon`), set
operations (`a | b`, `a & b`, `a - b`), a time axis (`domain * (t0, t1)` or
`domain * TimeDomain(t0, t1)`, points `(t, x)`), uniform / quasi-random / grid sampling of the
interior and of named boundary parts with outward normals, and signed distances (positive
inside; `smooth_distance` for hard constraints). Every domain is an `eqx.Module`: jit-,
vmap- and scan-safe.

    >>> import jax, pinnloss as pl
    >>> geo = pl.geometry
    >>> domain = geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0.5, 0.5), 0.2)
    >>> x = domain.sample_interior(1000, key=jax.random.key(0))             # (1000, 2)
    >>> xb, nb = domain.sample_boundary(200, key=jax.random.key(1), part="disk")
    >>> circle = domain.boundary("disk")   # a domain of its own: pl.Residual(bc, circle, n=200)

The implementation lives in `pinnloss/pde/_geometry.py` (module docstring: conventions).
Reference for the API: DeepXDE's `deepxde.geometry` (Lu et al., SIAM Rev. 63 (2021) 208).
"""

from .pde._geometry import CSG as CSG
from .pde._geometry import AbstractGeometry as AbstractGeometry
from .pde._geometry import Ball as Ball
from .pde._geometry import Boundary as Boundary
from .pde._geometry import Box as Box
from .pde._geometry import Disk as Disk
from .pde._geometry import Interval as Interval
from .pde._geometry import Polygon as Polygon
from .pde._geometry import Rectangle as Rectangle
from .pde._geometry import SpaceTime as SpaceTime
from .pde._geometry import Sphere as Sphere
from .pde._geometry import TimeDomain as TimeDomain

__all__ = [
    "AbstractGeometry",
    "Interval",
    "Rectangle",
    "Box",
    "Disk",
    "Sphere",
    "Ball",
    "Polygon",
    "CSG",
    "Boundary",
    "TimeDomain",
    "SpaceTime",
]
