"""PDE building blocks: differential operators, collocation points, adaptive resampling and
hard Dirichlet constraints.

Operators act on a model called on *one* point — a vector `x` of shape `(d,)` or a scalar —
and return a function of that point, for use inside `pl.Residual` functions:

    >>> def poisson(model, x):
    ...     return pde.laplacian(model)(x) + 2 * jnp.pi**2 * jnp.prod(jnp.sin(jnp.pi * x))
    >>> term = pl.Residual(poisson, pde.box([0.0, 0.0], [1.0, 1.0]).sobol(512, seed=0))

Space-time models take one vector `z = (t, x_1, ..., x_d)` with time on axis `time_axis`
(0 by default): `pde.dt(u)(z) - pde.spatial_laplacian(u)(z)` is the heat residual.

Models with several outputs (Navier-Stokes: $(u, v, p)$): every operator takes `out=`, an
output index `i` (the operator of component $i$, as for a scalar model) or a sequence of
indices (one result per chosen component, stacked first). Shapes, for a point of shape `(d,)`:

| operator | scalar model or `out=i` | `out=(i, j, ...)`, `k` indices |
| --- | --- | --- |
| `grad` | `(d,)` | `(k, d)` |
| `laplacian`, `spatial_laplacian` | `()` | `(k,)` |
| `dt` | `()` | `(k,)` |
| `hessian` | `(d, d)` | `(k, d, d)` |
| `divergence` | — | `()`, with `k` = the number of axes summed |

`jacobian`, `vector_laplacian`, `dt` and `hessian` also take any output shape with `out=None`
(the output shape first); `grad` and `laplacian` then need a scalar (or `(1,)`) output, which
catches a model returning `(k,)` where one component was meant.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

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
]

_METHODS = ("auto", "hessian_trace", "fwd_over_rev", "taylor")

# Laplacian method for "auto", measured by a script outside the package (MLP d→32→32→1 tanh,
# float64, 1000 points vmapped under jit, best of 20, shared 2-core CPU, jax 0.10.2). Value,
# then gradient of the mean squared Laplacian w.r.t. the parameters, in ms; run 1 with a
# hand-written copy, run 2 with this module:
#                  d = 2 (run 1)  d = 5 (run 1)   d = 2 (run 2)  d = 5 (run 2)
#   hessian_trace  0.90 / 4.45    1.19 /  8.81    0.83 / 3.45    1.05 / 5.92
#   fwd_over_rev   0.66 / 3.81    1.14 /  8.54    0.63 / 4.20    1.27 / 5.92
#   taylor         1.05 / 3.80    1.61 / 13.02    0.91 / 3.31    1.37 / 6.92
# The three are within ~25% of each other and the ranking moves with the machine's load;
# fwd_over_rev is fastest in 5 of 8 cells and never more than 1.27x the best, taylor is the
# slowest at d = 5, so "auto" takes fwd_over_rev.
_AUTO = "fwd_over_rev"


# --------------------------------------------------------------------------- operators


def _point(where: str, x) -> Array:
    """`x` as an inexact array of shape `()` or `(d,)`; a `ValueError` otherwise."""
    x = jnp.asarray(x)
    if x.ndim > 1:
        raise ValueError(
            f"pde.{where}: the point must be a scalar or a vector of shape (d,); got shape "
            f"{x.shape}. Operators act on one point — vmap them over a batch."
        )
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


def _scalar(where: str, u: Callable) -> Callable:
    """`u` with a shape-`()` or `(1,)` output as a scalar function; other shapes refused."""

    def f(x):
        out = jnp.asarray(u(x))
        if out.shape not in ((), (1,)):
            raise ValueError(
                f"pde.{where}: the model must return a scalar (shape () or (1,)); got shape "
                f"{out.shape}. For a model with several outputs pass out=i (component i) or "
                "out=(i, j, ...) (one result per component)."
            )
        return jnp.reshape(out, ())

    return f


Out = int | Sequence[int] | None


def _check_out(where: str, out: Out) -> int | tuple[int, ...] | None:
    """`out` as None, an int or a non-empty tuple of ints; a `ValueError` otherwise."""
    if out is None:
        return None
    is_int = lambda i: isinstance(i, (int, np.integer)) and not isinstance(i, bool)
    if is_int(out):
        return int(out)
    if isinstance(out, Sequence) and not isinstance(out, str) and len(out) > 0:
        if all(is_int(i) for i in out):
            return tuple(int(i) for i in out)
    raise ValueError(
        f"pde.{where}: out must be None, an output index or a non-empty sequence of indices; "
        f"got {out!r}."
    )


def _select(where: str, u: Callable, out: Out) -> Callable:
    """`u` restricted to the components `out` of its vector output (shape `()` for an index,
    `(k,)` for `k` indices); `u` itself for `out=None`."""
    out = _check_out(where, out)
    if out is None:
        return u
    picks = (out,) if isinstance(out, int) else out

    def f(x):
        y = jnp.asarray(u(x))
        if y.ndim != 1:
            raise ValueError(
                f"pde.{where}: out={out!r} picks components of a vector output of shape (k,); "
                f"the model returns shape {y.shape}."
            )
        k = y.shape[0]
        bad = [i for i in picks if not -k <= i < k]
        if bad:
            raise ValueError(
                f"pde.{where}: out={out!r} has index {bad[0]}; the model has {k} outputs."
            )
        return y[out] if isinstance(out, int) else y[np.asarray(out)]

    return f


def _scalar_or_picked(where: str, u: Callable, out: Out) -> Callable:
    """A scalar function for `out=None` (a scalar model) or an index; the picked vector for a
    sequence of indices."""
    f = _select(where, u, out)
    return f if isinstance(_check_out(where, out), tuple) else _scalar(where, f)


def _axes(where: str, x: Array, exclude: Sequence[int]) -> tuple[int, ...]:
    """The input axes a Laplacian sums over: all but `exclude` (negative axes allowed)."""
    if x.ndim == 0:
        if exclude:
            raise ValueError(f"pde.{where}: exclude={tuple(exclude)} needs a vector point.")
        return ()
    d = x.shape[0]
    drop = set()
    for a in exclude:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -d <= a < d:
            raise ValueError(f"pde.{where}: exclude has axis {a!r}; the point has {d} axes.")
        drop.add(int(a) % d)
    keep = tuple(i for i in range(d) if i not in drop)
    if not keep:
        raise ValueError(f"pde.{where}: exclude={tuple(exclude)} leaves no axis.")
    return keep


def _second(u: Callable, x: Array, axes: tuple[int, ...], method: str) -> Array:
    """$\\sum_{i\\in axes} \\partial_i^2 u(x)$ for any output shape of `u` (`x` a scalar when
    `axes` is empty)."""
    if method == "auto":
        method = _AUTO
    if x.ndim == 0:
        one = jnp.ones_like(x)
        if method == "hessian_trace":
            return jax.jacfwd(jax.jacrev(u))(x)
        if method == "fwd_over_rev":
            return jax.jvp(jax.jacrev(u), (x,), (one,))[1]
        from jax.experimental import jet

        try:
            return jet.jet(u, (x,), ((one, jnp.zeros_like(x)),))[1][1]
        except (KeyError, NotImplementedError, TypeError):  # a primitive jet has no rule for
            return jax.jvp(jax.jacrev(u), (x,), (one,))[1]
    idx = jnp.asarray(axes)
    if method == "hessian_trace":
        h = jax.hessian(u)(x)  # out + (d, d)
        return jnp.sum(jnp.diagonal(h, axis1=-2, axis2=-1)[..., idx], axis=-1)
    basis = jnp.eye(x.shape[0], dtype=x.dtype)[idx]
    if method == "fwd_over_rev":
        g = jax.jacrev(u)  # out + (d,)

        def along(i, e):
            return jax.jvp(g, (x,), (e,))[1][..., i]

        return jnp.sum(jax.vmap(along)(idx, basis), axis=0)
    from jax.experimental import jet

    zero = jnp.zeros_like(x)
    # jet's series are derivatives: the order-2 term is d²/ds² u(x + s e) = eᵀ H e
    try:
        return jnp.sum(jax.vmap(lambda e: jet.jet(u, (x,), ((e, zero),))[1][1])(basis), axis=0)
    except (KeyError, NotImplementedError, TypeError):  # a primitive jet has no rule for
        return _second(u, x, axes, "fwd_over_rev")


def _check_method(where: str, method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"pde.{where}: method must be one of {_METHODS}; got {method!r}.")


def grad(u: Callable, *, out: Out = None) -> Callable:
    r"""The gradient $\nabla u$ of a scalar model (or of chosen outputs) at a point.

    Args:
        u: a model `u(x)`; `x` a scalar or shape `(d,)`. With `out=None` it must return
            shape `()` or `(1,)`.
        out: for a model with outputs of shape `(k,)`: an index `i` ($\nabla u_i$, shape
            `(d,)`) or a sequence of indices (one gradient per row, shape `(len(out), d)`).

    Returns:
        `x -> ∇u(x)`, shape `x.shape` (for a scalar point, $u'(x)$); `(len(out),) + x.shape`
        for a sequence `out`.

    Example:
        >>> def flux(model, x):
        ...     return pde.grad(model)(x) @ normal - q(x)
        >>> dp = pde.grad(ns_model, out=2)(x)        # ∇p of a (u, v, p) model
    """
    f = _scalar_or_picked("grad", u, out)
    if isinstance(_check_out("grad", out), tuple):
        return lambda x: _jac(f, _point("grad", x))
    return lambda x: jax.grad(f)(_point("grad", x))


def divergence(v: Callable, *, out: Out = None, exclude: Sequence[int] = ()) -> Callable:
    r"""The divergence $\nabla\cdot v = \sum_i \partial_i v_i$ of a vector field.

    Component $i$ of the field pairs with the $i$-th input axis not in `exclude`, so the
    velocity divergence of a space-time Navier-Stokes model $z = (t, x, y) \mapsto (u, v, p)$
    is `pde.divergence(model, out=(0, 1), exclude=(0,))`. One forward-mode product per axis.

    Args:
        v: a model returning shape `(d,)` at a point of shape `(d,)` (or a scalar at a scalar);
            with `out`, the chosen components form the field.
        out: a sequence of output indices forming the field (one per summed axis).
        exclude: input axes left out (the time axis).

    Returns:
        `x -> ∇·v(x)`, a scalar.

    Example:
        >>> def continuity(model, x):            # incompressible flow, ∂u/∂x + ∂v/∂y = 0
        ...     return pde.divergence(model, out=(0, 1))(x)
        >>> term = pl.Residual(continuity, points)
    """
    field = _select("divergence", v, out)
    exclude = tuple(exclude)

    def div(x):
        x = _point("divergence", x)
        axes = _axes("divergence", x, exclude)
        shape = jax.eval_shape(field, x).shape
        want = x.shape if x.ndim == 0 else (len(axes),)
        if shape != want:
            raise ValueError(
                f"pde.divergence: the field must have one component per summed input axis: "
                f"shape {want} at a point of shape {x.shape}"
                + (f" with exclude={exclude}" if exclude else "")
                + f"; got output shape {shape}"
                + (f" (out={out!r})." if out is not None else ".")
            )
        if x.ndim == 0:
            return jax.jvp(field, (x,), (jnp.ones_like(x),))[1]
        basis = jnp.eye(x.shape[0], dtype=x.dtype)[jnp.asarray(axes)]

        def along(i, e):
            return jax.jvp(field, (x,), (e,))[1][i]

        return jnp.sum(jax.vmap(along)(jnp.arange(len(axes)), basis))

    return div


def laplacian(
    u: Callable, method: str = "auto", *, exclude: Sequence[int] = (), out: Out = None
) -> Callable:
    r"""The Laplacian $\Delta u = \sum_i \partial^2 u / \partial x_i^2$ of a scalar model.

    Sums over the input axes not in `exclude` (the time axis of a space-time model).
    Methods, all exact:

    - `"hessian_trace"`: the trace of `jax.hessian` (a full $d\times d$ Hessian);
    - `"fwd_over_rev"`: $\sum_i e_i^\top\,\mathrm{jvp}(\nabla u, e_i)$, the basis vmapped;
    - `"taylor"`: $\sum_i \frac{d^2}{ds^2}u(x + s e_i)$ by Taylor mode (`jax.experimental.jet`;
      a model with a primitive jet has no rule for, such as `jnp.prod`, falls back to
      `"fwd_over_rev"`);
    - `"auto"`: `"fwd_over_rev"`, measured for an MLP d→32→32→1 (tanh, float64, 1000
      points, shared 2-core CPU; value / gradient w.r.t. the parameters, ms, two runs):
      d = 2: 0.66 / 3.81 and 0.63 / 4.20 against hessian_trace 0.90 / 4.45 and 0.83 /
      3.45, taylor 1.05 / 3.80 and 0.91 / 3.31; d = 5: 1.14 / 8.54 and 1.27 / 5.92 against
      1.19 / 8.81 and 1.05 / 5.92, taylor 1.61 / 13.0 and 1.37 / 6.92. The three are
      within ~25% (fwd_over_rev never over 1.27x the best); taylor is slowest at d = 5.

    Args:
        u: a model `u(x)` returning shape `()` or `(1,)` (or `(k,)` with `out`); `x` a
            scalar or shape `(d,)`.
        method: `"auto"`, `"hessian_trace"`, `"fwd_over_rev"` or `"taylor"`.
        exclude: input axes left out of the sum, e.g. `(0,)` for time first.
        out: for a model with outputs of shape `(k,)`: an index `i` ($\Delta u_i$, a
            scalar) or a sequence of indices (one Laplacian per component, shape
            `(len(out),)`, computed together).

    Returns:
        `x -> Δu(x)`, a scalar (for a scalar point, $u''(x)$), or `(len(out),)`.

    Example:
        >>> def poisson(model, x):                  # -Δu = f
        ...     return -pde.laplacian(model)(x) - f(x)
        >>> lap_uv = pde.laplacian(ns_model, out=(0, 1))(x)   # (Δu, Δv) of a (u, v, p) model
    """
    _check_method("laplacian", method)
    f = _scalar_or_picked("laplacian", u, out)
    exclude = tuple(exclude)

    def lap(x):
        x = _point("laplacian", x)
        return _second(f, x, _axes("laplacian", x, exclude), method)

    return lap


def vector_laplacian(
    u: Callable, method: str = "auto", *, exclude: Sequence[int] = (), out: Out = None
) -> Callable:
    r"""The component-wise Laplacian $(\Delta u_1, \dots, \Delta u_k)$ of a model $R^d \to R^k$.

    Same methods and `exclude` as `pde.laplacian`; any output shape is kept. For a `(k,)`
    output, `pde.laplacian(u, out=range(k))` is the same.

    Args:
        u: a model `u(x)`, any output shape; `x` a scalar or shape `(d,)`.
        method: `"auto"`, `"hessian_trace"`, `"fwd_over_rev"` or `"taylor"`.
        exclude: input axes left out of the sum.
        out: an index or a sequence of indices of a `(k,)` output (default: all of it).

    Returns:
        `x -> Δu(x)`, shaped as `u(x)` (or as the chosen components).

    Example:
        >>> def stokes(model, x):                    # -Δv + ∇p = f, velocity part
        ...     return -pde.vector_laplacian(model, out=(0, 1))(x) + pde.grad(model, out=2)(x)
        >>> term = pl.Residual(stokes, points)
    """
    _check_method("vector_laplacian", method)
    f = _select("vector_laplacian", u, out)
    exclude = tuple(exclude)

    def lap(x):
        x = _point("vector_laplacian", x)
        return _second(f, x, _axes("vector_laplacian", x, exclude), method)

    return lap


def spatial_laplacian(
    u: Callable, time_axis: int = 0, method: str = "auto", *, out: Out = None
) -> Callable:
    r"""The Laplacian over space of a space-time model $u(z)$, $z = (t, x)$: $\Delta_x u$.

    `pde.laplacian(u, method, exclude=(time_axis,), out=out)`.

    Args:
        u: a scalar model of one vector `z`, time on axis `time_axis` (or `(k,)` with `out`).
        time_axis: the axis of `z` holding time (default 0).
        method: as in `pde.laplacian`.
        out: as in `pde.laplacian`.

    Example:
        >>> def heat(model, z):                      # u_t = κ Δu
        ...     return pde.dt(model)(z) - kappa * pde.spatial_laplacian(model)(z)
        >>> term = pl.Residual(heat, pde.time_box(0.0, 1.0, [0.0], [1.0]).sobol(1024, 0))
    """
    return laplacian(u, method, exclude=(time_axis,), out=out)


def dt(u: Callable, time_axis: int = 0, *, out: Out = None) -> Callable:
    r"""The time derivative $\partial u / \partial t$ of a space-time model $u(z)$, $z = (t, x)$.

    One forward-mode product along the time axis; any output shape.

    Args:
        u: a model of one vector `z` (a scalar `t` for an ODE), time on axis `time_axis`.
        time_axis: the axis of `z` holding time (default 0).
        out: an index (a scalar result) or a sequence of indices of a `(k,)` output.

    Returns:
        `z -> ∂u/∂t(z)`, shaped as `u(z)` (or as the chosen components).

    Example:
        >>> def advection(model, z):                 # u_t + c u_x = 0, z = (t, x)
        ...     return pde.dt(model)(z) + c * pde.grad(model)(z)[1]
        >>> term = pl.Residual(advection, points)
    """
    f = _select("dt", u, out)

    def d(z):
        z = _point("dt", z)
        if z.ndim == 0:
            e = jnp.ones_like(z)
        else:
            if not -z.shape[0] <= time_axis < z.shape[0]:
                raise ValueError(
                    f"pde.dt: time_axis={time_axis} but the point has shape {z.shape}."
                )
            e = jnp.zeros_like(z).at[time_axis].set(1)
        return jax.jvp(f, (z,), (e,))[1]

    return d


def _jac(u: Callable, x: Array) -> Array:
    """`jax.jacrev` when `u` has fewer output entries than `x`, `jax.jacfwd` otherwise."""
    shape = jax.eval_shape(u, x).shape
    if math.prod(shape) < x.size:
        return jax.jacrev(u)(x)
    return jax.jacfwd(u)(x)


def jacobian(u: Callable, *, out: Out = None) -> Callable:
    r"""The Jacobian $J_{ij} = \partial u_i / \partial x_j$ of a model, as a function of the point.

    Reverse mode when the output has fewer entries than the input, forward mode otherwise.

    Args:
        u: a model `u(x)`, any output shape; `x` a scalar or shape `(d,)`.
        out: an index or a sequence of indices of a `(k,)` output (default: all of it).

    Returns:
        `x -> J(x)`, shape `u(x).shape + x.shape` (the chosen components' shape first).

    Example:
        >>> def strain(model, x):                    # ε = (∇v + ∇vᵀ) / 2
        ...     j = pde.jacobian(model, out=(0, 1))(x)
        >>> eps = 0.5 * (j + j.T)
    """
    f = _select("jacobian", u, out)
    return lambda x: _jac(f, _point("jacobian", x))


def hessian(u: Callable, *, out: Out = None) -> Callable:
    r"""The Hessian $H_{ij} = \partial^2 u / \partial x_i \partial x_j$ (forward over reverse).

    Args:
        u: a model `u(x)`, any output shape; `x` a scalar or shape `(d,)`.
        out: an index or a sequence of indices of a `(k,)` output (default: all of it).

    Returns:
        `x -> H(x)`, shape `u(x).shape + x.shape + x.shape` (the chosen components' shape
        first: `(d, d)` for `out=i`).

    Example:
        >>> def biharmonic_part(model, x):
        ...     return jnp.sum(pde.hessian(model)(x) ** 2)
        >>> term = pl.Residual(biharmonic_part, points)
    """
    f = _select("hessian", u, out)
    return lambda x: jax.jacfwd(jax.jacrev(f))(_point("hessian", x))


# --------------------------------------------------------------------- collocation points


def _dtype(dtype):
    return jnp.result_type(float) if dtype is None else jnp.dtype(dtype)


def _bounds(where: str, lower, upper) -> tuple[Array, Array]:
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    if lo.ndim > 1 or lo.shape != hi.shape or lo.size == 0:
        raise ValueError(
            f"pde.{where}: lower and upper must be scalars or vectors of one shape (d,); got "
            f"shapes {lo.shape} and {hi.shape}."
        )
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
        raise ValueError(f"pde.{where}: need finite lower < upper; got {lo} and {hi}.")
    return jnp.asarray(lo), jnp.asarray(hi)


def _check_n(where: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"pde.{where}: n must be a positive Python integer; got {n!r}.")
    return int(n)


def _qmc(kind: str, d: int, n: int, seed) -> np.ndarray:
    try:
        from scipy.stats import qmc
    except ImportError:  # scipy is in the `test` extra, not a core dependency
        raise ImportError(
            f"pde.Box.{kind}: quasi-random points come from scipy.stats.qmc; install scipy "
            "(pip install scipy) or use .uniform / .grid."
        ) from None

    if kind == "sobol":
        if n & (n - 1):
            warnings.warn(
                f"pde.Box.sobol: n = {n} is not a power of two; Sobol points keep their balance "
                f"properties only for powers of two (use {1 << (n - 1).bit_length()}).",
                UserWarning,
                stacklevel=3,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's own power-of-two warning
            return qmc.Sobol(d, scramble=True, seed=seed).random(n)
    if kind == "halton":
        return qmc.Halton(d, scramble=True, seed=seed).random(n)
    return qmc.LatinHypercube(d, seed=seed).random(n)


class Box(eqx.Module):
    r"""A box domain $\prod_i [l_i, u_i]$ and its collocation points.

    With scalar bounds the points are scalars, shape `(n,)`; with bounds of shape `(d,)`
    they are `(n, d)`. Points are float64 (the default float: float32 without
    `jax_enable_x64`) unless `dtype` is given, and reproducible from `key` or `seed`.

    Example:
        >>> dom = pde.box([0.0, 0.0], [1.0, 2.0])
        >>> x, xb = dom.sobol(1024, seed=0), dom.boundary(256, jax.random.key(1))
        >>> nb = dom.boundary_normals(xb)
    """

    lower: Array
    upper: Array

    @property
    def ndim(self) -> int:
        """The dimension $d$ (1 for scalar bounds)."""
        return max(1, self.lower.size)

    def _out(self, u01, dtype) -> Array:
        u01 = jnp.asarray(u01, _dtype(dtype))
        pts = self.lower.astype(u01.dtype) + (self.upper - self.lower).astype(u01.dtype) * u01
        return pts[:, 0] if self.lower.ndim == 0 else pts

    def uniform(self, n: int, key, dtype=None) -> Array:
        """`n` independent uniform points (`jax.random.uniform`); works under `jit` (static `n`)."""
        n = _check_n("Box.uniform", n)
        return self._out(jax.random.uniform(key, (n, self.ndim), _dtype(dtype)), dtype)

    def sobol(self, n: int, seed: int | None = 0, dtype=None) -> Array:
        """`n` scrambled Sobol points (`scipy.stats.qmc.Sobol`); warns unless `n` is a power of
        two. Reference: Sobol' (1967); Owen (1998) scrambling."""
        n = _check_n("Box.sobol", n)
        return self._out(_qmc("sobol", self.ndim, n, seed), dtype)

    def halton(self, n: int, seed: int | None = 0, dtype=None) -> Array:
        """`n` scrambled Halton points (`scipy.stats.qmc.Halton`). Reference: Halton (1960)."""
        n = _check_n("Box.halton", n)
        return self._out(_qmc("halton", self.ndim, n, seed), dtype)

    def latin_hypercube(self, n: int, seed: int | None = 0, dtype=None) -> Array:
        """`n` Latin hypercube points (`scipy.stats.qmc.LatinHypercube`); McKay et al. (1979)."""
        n = _check_n("Box.latin_hypercube", n)
        return self._out(_qmc("lhs", self.ndim, n, seed), dtype)

    def grid(self, n_per_axis: int | Sequence[int], dtype=None) -> Array:
        """A tensor grid with end points, `n_per_axis` (an int or one per axis) along each axis;
        shape `(prod n, d)`, the last axis varying fastest."""
        ns = (n_per_axis,) * self.ndim if np.ndim(n_per_axis) == 0 else tuple(n_per_axis)
        if len(ns) != self.ndim:
            raise ValueError(f"pde.Box.grid: need {self.ndim} counts; got {n_per_axis!r}.")
        ns = tuple(_check_n("Box.grid", k) for k in ns)
        axes = [np.linspace(0.0, 1.0, k) if k > 1 else np.full(1, 0.5) for k in ns]
        mesh = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
        return self._out(mesh, dtype)

    def _face_areas(self) -> Array:
        w = jnp.atleast_1d(self.upper - self.lower)
        d = w.shape[0]
        area = jnp.stack([jnp.prod(jnp.delete(w, i)) if d > 1 else 1.0 for i in range(d)])
        return jnp.concatenate([area, area])  # faces x_i = l_i, then x_i = u_i

    def boundary(self, n: int, key, dtype=None) -> Array:
        r"""`n` points uniformly on the boundary: a face drawn with probability proportional to
        its area, then a uniform point on it. Works under `jit` (static `n`)."""
        n = _check_n("Box.boundary", n)
        d = self.ndim
        kf, kp = jax.random.split(key)
        area = self._face_areas()
        face = jax.random.choice(kf, 2 * d, (n,), p=area / jnp.sum(area))
        u01 = jax.random.uniform(kp, (n, d), _dtype(dtype))
        axis, side = face % d, (face // d).astype(u01.dtype)
        u01 = jnp.where(jnp.arange(d) == axis[:, None], side[:, None], u01)
        return self._out(u01, dtype)

    def boundary_normals(self, points) -> Array:
        """Outward unit normals at boundary `points`: of the nearest face (at an edge or a
        corner, the first such face by axis, lower before upper). Shape as `points`."""
        p = jnp.asarray(points)
        p2 = p[:, None] if self.lower.ndim == 0 else p
        lo, hi = jnp.atleast_1d(self.lower), jnp.atleast_1d(self.upper)
        dist = jnp.concatenate([jnp.abs(p2 - lo), jnp.abs(hi - p2)], axis=1)  # (n, 2d)
        face = jnp.argmin(dist, axis=1)
        d = self.ndim
        sign = jnp.where(face < d, -1.0, 1.0).astype(p2.dtype)
        normals = (jnp.arange(d) == (face % d)[:, None]).astype(p2.dtype) * sign[:, None]
        return normals[:, 0] if self.lower.ndim == 0 else normals


def box(lower: ArrayLike, upper: ArrayLike) -> Box:
    r"""A box domain $\prod_i [l_i, u_i]$: scalars for an interval, vectors of shape `(d,)`.

    Args:
        lower, upper: the corners, finite with `lower < upper`.

    Example:
        >>> dom = pde.box([0.0, 0.0], [1.0, 1.0])
        >>> interior = dom.sobol(1024, seed=0)
        >>> edge = dom.boundary(128, jax.random.key(0))
    """
    lo, hi = _bounds("box", lower, upper)
    return Box(lo, hi)


class TimeBox(eqx.Module):
    r"""A space-time box $[t_0, t_1] \times \prod_i [l_i, u_i]$ with points $z = (t, x)$.

    Interior samplers (`uniform`, `sobol`, `halton`, `latin_hypercube`, `grid`) act on the
    whole $(1 + d)$-dimensional box, time on axis 0; `initial` gives points at $t_0$ and
    `boundary` points on the lateral boundary ($t$ uniform, $x$ on the spatial faces).

    Example:
        >>> dom = pde.time_box(0.0, 1.0, [0.0], [1.0])
        >>> z, z0 = dom.sobol(1024, seed=0), dom.initial(128, jax.random.key(0))
        >>> zb = dom.boundary(128, jax.random.key(1))
    """

    domain: Box
    space: Box

    @property
    def t0(self) -> Array:
        return self.domain.lower[0]

    @property
    def t1(self) -> Array:
        return self.domain.upper[0]

    def uniform(self, n: int, key, dtype=None) -> Array:
        return self.domain.uniform(n, key, dtype)

    def sobol(self, n: int, seed: int | None = 0, dtype=None) -> Array:
        return self.domain.sobol(n, seed, dtype)

    def halton(self, n: int, seed: int | None = 0, dtype=None) -> Array:
        return self.domain.halton(n, seed, dtype)

    def latin_hypercube(self, n: int, seed: int | None = 0, dtype=None) -> Array:
        return self.domain.latin_hypercube(n, seed, dtype)

    def grid(self, n_per_axis: int | Sequence[int], dtype=None) -> Array:
        return self.domain.grid(n_per_axis, dtype)

    def _with_time(self, t: Array, x: Array) -> Array:
        return jnp.concatenate([t[:, None], x.reshape(x.shape[0], -1)], axis=1)

    def initial(self, n: int, key, dtype=None) -> Array:
        """`n` points $(t_0, x)$, `x` uniform in space; shape `(n, 1 + d)`."""
        x = self.space.uniform(n, key, dtype)
        return self._with_time(jnp.full(x.shape[:1], self.t0, x.dtype), x)

    def boundary(self, n: int, key, dtype=None) -> Array:
        """`n` points $(t, x)$, `t` uniform in $[t_0, t_1]$ and `x` uniform on the spatial
        boundary (faces drawn by area); shape `(n, 1 + d)`."""
        kt, kx = jax.random.split(key)
        x = self.space.boundary(n, kx, dtype)
        t = jax.random.uniform(kt, x.shape[:1], x.dtype, self.t0, self.t1)
        return self._with_time(t, x)

    def boundary_normals(self, points) -> Array:
        """Outward spatial normals at lateral boundary `points` $(t, x)$; shape `(n, d)`."""
        x = jnp.asarray(points)[:, 1:]
        return self.space.boundary_normals(x[:, 0] if self.space.lower.ndim == 0 else x)


def time_box(t0: float, t1: float, lower: ArrayLike, upper: ArrayLike) -> TimeBox:
    r"""A space-time domain $[t_0, t_1] \times \prod_i [l_i, u_i]$, points $z = (t, x)$.

    Args:
        t0, t1: the time interval, `t0 < t1`.
        lower, upper: the spatial box (scalars for one space dimension).

    Example:
        >>> dom = pde.time_box(0.0, 1.0, [-1.0], [1.0])
        >>> z0 = dom.initial(256, jax.random.key(0))       # (256, 2), z0[:, 0] == 0
        >>> term = pl.Residual(lambda m, z: m(z) - u0(z[1:]), z0)
    """
    space = box(lower, upper)
    t = _bounds("time_box", t0, t1)
    lo = jnp.concatenate([t[0][None], jnp.atleast_1d(space.lower)])
    hi = jnp.concatenate([t[1][None], jnp.atleast_1d(space.upper)])
    return TimeBox(Box(lo, hi), space)


# -------------------------------------------------------------------- adaptive resampling


def rad_resample(
    key,
    candidates: ArrayLike,
    residual_values: ArrayLike,
    n: int,
    k: ArrayLike = 1.0,
    c: ArrayLike = 1.0,
    *,
    replace: bool = False,
) -> Array:
    r"""Residual-based adaptive distribution (RAD): draw `n` of `candidates`, favouring large
    residuals.

    Each candidate $x_j$ is drawn with probability proportional to

    $$p(x_j) \propto \frac{|r(x_j)|^k}{\frac1N\sum_{i}|r(x_i)|^k} + c,$$

    (Wu et al. 2023, eq. for RAD): $k$ sharpens the preference, $c$ keeps a floor of uniform
    sampling ($k = 0$ or $c \to \infty$ is uniform). For a vector residual $|r|$ is its
    Euclidean norm per point; all-zero residuals give uniform draws. `n` is static and `k`,
    `c` are arrays, so under `jax.jit` a new draw is a new array of the same shape and a
    fit on it reuses its compiled loop.

    Args:
        key: a JAX PRNG key.
        candidates: `(N, ...)` points, e.g. `dom.uniform(N, key)`.
        residual_values: the residual at each candidate, shape `(N,)` or `(N, ...)`, e.g.
            `jax.vmap(lambda x: fn(model, x))(candidates)`.
        n: how many points to draw (a Python int; `n <= N` without replacement).
        k, c: the exponent $k \ge 0$ and the offset $c \ge 0$ (default 1, 1).
        replace: draw with replacement (default: without, as in the paper's experiments).

    Returns:
        `(n, ...)` points from `candidates`.

    Example:
        >>> cand = dom.uniform(10_000, key)
        >>> r = jax.vmap(lambda x: poisson(sol.model, x))(cand)
        >>> points = pde.rad_resample(key, cand, r, 1000)

    Reference: C. Wu, M. Zhu, Q. Tan, Y. Kartha, L. Lu, "A comprehensive study of
    non-adaptive and residual-based adaptive sampling for physics-informed neural
    networks", Comput. Methods Appl. Mech. Engrg. 403 (2023) 115671.
    """
    n = _check_n("rad_resample", n)
    cand = jnp.asarray(candidates)
    r = jnp.asarray(residual_values)
    if cand.ndim == 0 or r.ndim == 0 or r.shape[0] != cand.shape[0]:
        raise ValueError(
            f"pde.rad_resample: candidates of shape {cand.shape} and residual_values of shape "
            f"{r.shape} must share a leading axis N (one residual per candidate)."
        )
    N = cand.shape[0]
    if not replace and n > N:
        raise ValueError(f"pde.rad_resample: n = {n} > N = {N} candidates without replacement.")
    dtype = jnp.result_type(r.dtype, float)
    mag = jnp.abs(r.astype(dtype)) if r.ndim == 1 else jnp.linalg.norm(r.reshape(N, -1), axis=1)
    a = mag ** jnp.asarray(k, dtype)
    mean = jnp.mean(a)
    w = jnp.where(mean > 0, a / jnp.where(mean > 0, mean, 1), 1) + jnp.asarray(c, dtype)
    idx = jax.random.choice(key, N, (n,), replace=replace, p=w / jnp.sum(w))
    return cand[idx]


# ------------------------------------------------------------------------ hard constraints


class BoxDistance(eqx.Module):
    r"""A smooth distance-like function of a box, zero exactly on its boundary:
    $D(x) = \prod_i \frac{4 (x_i - l_i)(u_i - x_i)}{(u_i - l_i)^2}$, 1 at the centre.

    The corners are static (geometry, not parameters): a model holding it has no extra
    trainable leaves."""

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)

    def __call__(self, x) -> Array:
        x = jnp.atleast_1d(jnp.asarray(x))
        lo = jnp.asarray(self.lower, x.dtype)
        hi = jnp.asarray(self.upper, x.dtype)
        if x.shape != lo.shape:
            raise ValueError(
                f"pde.box_distance: the box has {lo.size} axes but the point has shape {x.shape}."
            )
        return jnp.prod(4 * (x - lo) * (hi - x) / (hi - lo) ** 2)


def box_distance(lower: ArrayLike, upper: ArrayLike) -> BoxDistance:
    r"""The product of distances to the faces of a box, $D(x) = \prod_i 4(x_i-l_i)(u_i-x_i)/w_i^2$.

    $w_i = u_i - l_i$. Positive inside, zero on every face, 1 at the centre; for
    `pde.dirichlet`.

    Args:
        lower, upper: the box corners (scalars for an interval).

    Example:
        >>> D = pde.box_distance([0.0, 0.0], [1.0, 1.0])
        >>> model = pde.dirichlet(net, D, 0.0)
        >>> model(jnp.array([0.0, 0.3]))    # exactly 0

    Reference: Lagaris, Likas, Fotiadis, IEEE Trans. Neural Netw. 9 (1998) 987.
    """
    lo, hi = _bounds("box_distance", lower, upper)
    as_tuple = lambda a: tuple(float(v) for v in np.atleast_1d(np.asarray(a)))
    return BoxDistance(as_tuple(lo), as_tuple(hi))


@jax.tree_util.register_pytree_node_class
class _Frozen:
    """A pytree of constants held by value, with no leaves of its own: never trained, never
    counted by `eqx.is_inexact_array` (so `pl.least_squares` puts no Jacobian column on it),
    compared and hashed by value (an equal copy reuses a compiled program). `.value` gives
    the tree back, arrays as JAX arrays. Build with `_freeze`."""

    __slots__ = ("_treedef", "_leaves", "_hash")

    def __init__(self, treedef, leaves: tuple, key: tuple):
        self._treedef, self._leaves, self._hash = treedef, leaves, hash(key)

    @property
    def value(self):
        leaves = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in self._leaves]
        return jax.tree_util.tree_unflatten(self._treedef, leaves)

    def tree_flatten(self):
        return (), self

    @classmethod
    def tree_unflatten(cls, aux, children):
        return aux

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        if not isinstance(other, _Frozen) or self._hash != other._hash:
            return False
        if self._treedef != other._treedef or len(self._leaves) != len(other._leaves):
            return False
        for a, b in zip(self._leaves, other._leaves):
            if isinstance(a, np.ndarray) != isinstance(b, np.ndarray):
                return False
            if isinstance(a, np.ndarray):
                if a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=True):
                    return False
            elif a is not b and a != b:
                return False
        return True

    def __repr__(self) -> str:
        return f"Frozen({self.value!r})"


def _freeze(tree):
    """`tree` as a `_Frozen` constant when all its array leaves are concrete and its other
    leaves hashable; `tree` itself otherwise (built under `jit`/`vmap`: tracers)."""
    import hashlib

    leaves, treedef = jax.tree_util.tree_flatten(tree)
    kept, key = [], [treedef]
    for a in leaves:
        if isinstance(a, jax.core.Tracer):
            return tree
        if eqx.is_array(a):
            a = np.array(a)  # a private copy
            a.setflags(write=False)
            digest = hashlib.blake2b(a.tobytes(), digest_size=16).digest()
            key.append((a.shape, a.dtype.str, digest))
        else:
            key.append(a)
        kept.append(a)
    try:
        hash(tuple(key))
    except TypeError:
        return tree
    return _Frozen(treedef, tuple(kept), tuple(key))


def _thaw(x):
    """The value of a `_Frozen`; any other pytree with its array leaves' gradients stopped."""
    if isinstance(x, _Frozen):
        return x.value
    return jax.tree_util.tree_map(lambda a: jax.lax.stop_gradient(a) if eqx.is_array(a) else a, x)


class HardDirichlet(eqx.Module):
    r"""A model satisfying a Dirichlet condition exactly: $u(x) = g(x) + D(x)\,N(x)$.

    Only `net` is trained. `distance` and `boundary_value` are fixed: held as constants
    (no array leaves, so no parameters for `pl.fit` / `pl.least_squares`) when they were
    concrete at build time; built under `jit`/`vmap`, their array leaves pass through
    `jax.lax.stop_gradient`. With `out` set, only those output components are constrained.
    Built by `pde.dirichlet`.
    """

    net: Any
    distance: Any
    boundary_value: Any
    out: int | tuple[int, ...] | None = eqx.field(static=True, default=None)

    def __call__(self, x) -> Array:
        g, dist = _thaw(self.boundary_value), _thaw(self.distance)
        gx = g(x) if callable(g) else g
        y = jnp.asarray(self.net(x))
        gx, dx = jnp.asarray(gx), jnp.asarray(dist(x))
        if dx.shape not in ((), (1,)):
            raise ValueError(f"pde.dirichlet: distance(x) must be a scalar; got shape {dx.shape}.")
        dx = jnp.reshape(dx, ())
        if self.out is None:
            part = y
        else:
            if y.ndim != 1:
                raise ValueError(
                    f"pde.dirichlet: out={self.out!r} picks components of a vector output of "
                    f"shape (k,); the network returns shape {y.shape}."
                )
            picks = (self.out,) if isinstance(self.out, int) else self.out
            bad = [i for i in picks if not -y.shape[0] <= i < y.shape[0]]
            if bad:
                raise ValueError(
                    f"pde.dirichlet: out={self.out!r} has index {bad[0]}; the network has "
                    f"{y.shape[0]} outputs."
                )
            idx = self.out if isinstance(self.out, int) else np.asarray(self.out)
            part = y[idx]
        try:
            fits = jnp.broadcast_shapes(gx.shape, part.shape) == part.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"pde.dirichlet: boundary_value has shape {gx.shape} but the constrained "
                f"output has shape {part.shape} per point; they must broadcast to it."
            )
        hard = (gx + dx * part).astype(jnp.result_type(gx, dx, part))
        if self.out is None:
            return hard
        return y.astype(hard.dtype).at[idx].set(hard)


def dirichlet(
    net, distance: Callable, boundary_value: Callable | ArrayLike = 0.0, *, out: Out = None
) -> HardDirichlet:
    r"""Wrap a network so that it meets $u = g$ on the boundary exactly: $u = g + D\,N$.

    $D$ must vanish on the boundary and be positive inside: any callable `x -> scalar`,
    such as `pde.box_distance`, a geometry's signed distance (`domain.distance` of
    `pl.geometry`, positive inside) or a closed form (for a disk, $r^2 - |x - c|^2$). $g$
    must equal the boundary data there (any smooth extension inside). The result is an
    `eqx.Module` model: fit it with `pl.fit` / `pl.least_squares` and no boundary term.
    Only `net` learns: `distance` and `boundary_value`, when concrete, are stored as
    constants with no array leaves (not parameters, not in the Jacobian); built under a
    transformation, their array leaves have their gradients stopped. An exact distance has
    a kink on its medial axis (a disk's centre, a polygon's bisectors): the Laplacian of the
    constrained model is singular there (unbounded near a disk's centre). A smooth distance
    ($r^2 - |x - c|^2$ for a disk; Sukumar & Srivastava 2022 in general) avoids that.

    Args:
        net: the network $N$, called on one point.
        distance: $D(x)$, a scalar, zero on the boundary and positive inside.
        boundary_value: $g(x)$, a function of the point or a constant (default 0).
        out: for a network with outputs of shape `(k,)`, the index or indices constrained
            (the velocity `(0, 1)` of a `(u, v, p)` model); the others pass through.

    Example:
        >>> net = eqx.nn.MLP("scalar", "scalar", 16, 2, activation=jnp.tanh, key=key)
        >>> model = pde.dirichlet(net, pde.box_distance(0.0, 1.0), 0.0)
        >>> disk = pde.dirichlet(net2, lambda x: 1.0 - x @ x, 0.0)   # unit disk, u = 0 on it

    Reference: Lagaris, Likas, Fotiadis, IEEE Trans. Neural Netw. 9 (1998) 987;
    Sukumar & Srivastava, Comput. Methods Appl. Mech. Engrg. 389 (2022) 114333.
    """
    if not callable(distance):
        raise ValueError(f"pde.dirichlet: distance must be callable; got {type(distance)}.")
    return HardDirichlet(
        net, _freeze(distance), _freeze(boundary_value), _check_out("dirichlet", out)
    )
