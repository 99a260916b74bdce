"""Loss terms: modules that take a model and return a scalar, and weighted sums of them.

A model is called on *one* point, `model(x_i)`; a term holding `N` points vmaps it over
the leading axis. Squared terms expose their residual vector: their value is the mean of
its squares, and a weighted sum of squared terms is one stacked residual vector, which is
what the second-order solver works on.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _validate as _v
from ._derivatives import derivative as _derivative
from ._validate import as_data, check_int
from ._validate import check_leading as _check_leading
from ._validate import is_concrete as _concrete
from .losses import _masked_products, _normalised

__all__ = [
    "AbstractTerm",
    "AbstractSquareTerm",
    "Objective",
    "DataMSE",
    "QuadraticMSE",
    "DataLoss",
    "Residual",
    "Derivative",
    "UnitNorm",
    "term_name",
]


def _as_data(where: str, arg: str, value, *, min_ndim: int = 1) -> Array:
    """`_validate.as_data` without int promotion, for modules that still import it from here."""
    return as_data(where, arg, value, min_ndim=min_ndim, promote=False)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def term_name(term: AbstractTerm) -> str:
    """The name of a term: its `name` field if it has one, else its class in snake case."""
    name = getattr(term, "name", None)
    return name if isinstance(name, str) else _snake(type(term).__name__)


def _predict(where: str, model, x: Array, y_shape: tuple[int, ...] | None = None) -> Array:
    """`vmap(model)(x)`, with the output shape checked against the targets at trace time."""
    pred = jax.vmap(model)(x)
    if y_shape is not None and pred.shape != tuple(y_shape):
        hint = ""
        if pred.shape[:1] == tuple(y_shape[:1]) and (
            pred.shape[1:] == (1,) and len(y_shape) == 1 or y_shape[1:] == (1,) and pred.ndim == 1
        ):
            hint = (
                " — the model returns shape "
                f"{pred.shape[1:]} per point and the targets {tuple(y_shape[1:])}; "
                "(N,) against (N, 1) would broadcast to (N, N). Reshape the targets or the "
                "model's output"
            )
        raise ValueError(
            f"{where}: model predictions have shape {pred.shape} but y has shape "
            f"{tuple(y_shape)}{hint}."
        )
    return pred


def _as_weight(w, *, divisor: bool = False) -> Array:
    """A term weight: a finite non-negative scalar, 0 or normal; `divisor`: 1/w of a positive w."""
    if isinstance(w, AbstractTerm):
        raise TypeError("Terms are combined with +; multiply a term by a number or array.")
    if divisor:  # 1 / w, checked
        return _v.check_weight("term / w", "divisor w", w, reciprocal=True)
    return _v.check_weight("Objective", "term weight", w)


class AbstractTerm(eqx.Module):
    """A loss term: `term(model)` is a scalar. Terms add (`a + b`) and scale (`w * term`)."""

    is_square: ClassVar[bool] = False
    # NumPy defers to the term's __rmul__ (`np.ones(1) * term`, `np.float64(2) * term`)
    # instead of broadcasting over it and calling the result
    __array_ufunc__: ClassVar[None] = None

    @abc.abstractmethod
    def value(self, model) -> Array:
        """The term's scalar value for `model`."""

    def __call__(self, model) -> Array:
        return self.value(model)

    def breakdown(self, model) -> dict[str, Array]:
        """`{name: unweighted value}` for each part of the term."""
        return Objective.of(self).breakdown(model)

    def __mul__(self, weight) -> Objective:
        return Objective.of(self).scale(weight)

    __rmul__ = __mul__

    def __truediv__(self, weight) -> Objective:
        return Objective.of(self).scale(_as_weight(weight, divisor=True))

    def __add__(self, other) -> Objective:
        if not isinstance(other, AbstractTerm):
            return NotImplemented
        return Objective.concat(Objective.of(self), Objective.of(other))

    def __radd__(self, other) -> Objective:
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts from 0
            return Objective.of(self)
        return NotImplemented

    # ---- the points protocol the driver uses (it imports no term class): `collocation`:
    # residuals of an equation at collocation points (a PDE term); `resamplable`: the term
    # draws fresh points (`resample`) and measures its value on them (`heldout`)
    collocation: ClassVar[bool] = False

    @property
    def resamplable(self) -> bool:
        """Whether `resample` and `heldout` draw fresh points (a term over a domain)."""
        return False

    def resample(self, key, model, method: str = "uniform") -> AbstractTerm:
        """This term with new points of the same shape (`"uniform"` or `"rad"`); itself
        when it has no domain to draw from."""
        return self

    def heldout(self, model, key) -> Array | None:
        """The term's value at fresh points (a held-out estimate); None without a domain."""
        return None


class AbstractSquareTerm(AbstractTerm):
    r"""A term that is a mean of squared residuals, $\frac1n\sum_i r_i^2$.

    Subclasses implement `residuals(model)`; the solver uses `scaled_residuals`, whose sum
    of squares equals the value (override it for weighted or whitened terms).
    """

    is_square: ClassVar[bool] = True

    @abc.abstractmethod
    def residuals(self, model) -> Array:
        """The residual vector (any shape; flattened by the solvers)."""

    def scaled_residuals(self, model) -> Array:
        """A flat vector whose sum of squares is the term's value."""
        r = jnp.ravel(self.residuals(model))
        return r / jnp.sqrt(jnp.asarray(r.size, r.dtype))

    def value(self, model) -> Array:
        return jnp.sum(self.scaled_residuals(model) ** 2)

    def pointwise(self) -> tuple[Callable[[Any, Any], Array], Any] | None:
        """`(fn, points)` with `scaled_residuals(model) == ravel(vmap(fn, (None, 0))(model,
        points))`, when each point's residuals depend on that point alone; else None.

        Second-order solvers then form the Jacobian row block of each point by one
        per-point gradient, vmapped over the points, instead of one reverse pass through
        the whole batch per residual (`jax.jacrev` of the stacked vector): 32-51× cheaper
        on 2-D Poisson with m = 100-400 residuals (benchmarks/jacobian.py).
        """
        return None


def _unique(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            cand = f"{n}_{seen[n]}"
            while cand in seen:
                seen[n] += 1
                cand = f"{n}_{seen[n]}"
            out.append(cand)
            seen[cand] = 1
        else:
            seen[n] = 1
            out.append(n)
    return tuple(out)


class Objective(AbstractTerm):
    r"""A weighted sum of terms, $\sum_k w_k\,T_k(\text{model})$, kept flat.

    Built by `w * term` and `a + b`; weights are an array, so a new weight value (or a
    vmapped batch of them) never recompiles. `names` are unique (`data_mse`,
    `data_mse_2`, …) and label `breakdown` and the fit history.

    Example:
        >>> obj = pl.DataMSE(x, y) + 1e2 * pl.Derivative(0.0, 1, 0.0)
        >>> obj.breakdown(model)   # {"data_mse": ..., "derivative": ...}
    """

    terms: tuple[AbstractTerm, ...]
    weights: Array
    names: tuple[str, ...] = eqx.field(static=True)

    @classmethod
    def of(cls, term: AbstractTerm) -> Objective:
        """`term` as an objective (itself when it already is one)."""
        if isinstance(term, Objective):
            return term
        if not isinstance(term, AbstractTerm):
            raise TypeError(f"expected a pinnloss term; got {type(term).__name__}.")
        return cls((term,), jnp.ones((1,), jnp.result_type(float)), (term_name(term),))

    @classmethod
    def concat(cls, a: Objective, b: Objective) -> Objective:
        dtype = jnp.result_type(a.weights, b.weights)
        weights = jnp.concatenate([a.weights.astype(dtype), b.weights.astype(dtype)])
        names = _unique(list(a.names) + list(b.names))
        return cls(a.terms + b.terms, weights, names)

    def scale(self, weight) -> Objective:
        w = _as_weight(weight)
        return Objective(
            self.terms,
            _v.check_weight_product("Objective", self.names, self.weights, w),
            self.names,
        )

    @property
    def is_square(self) -> bool:  # type: ignore[override]
        return all(t.is_square for t in self.terms)

    def term_values(self, model) -> Array:
        """The unweighted value of each term, shape `(len(terms),)`."""
        return jnp.stack([jnp.asarray(t.value(model)) for t in self.terms])

    def value(self, model) -> Array:
        return jnp.dot(self.weights, self.term_values(model))

    def breakdown(self, model) -> dict[str, Array]:
        vals = self.term_values(model)
        return {n: vals[i] for i, n in enumerate(self.names)}

    @property
    def non_square(self) -> list[str]:
        """Names of the terms that are not means of squares (no residual vector)."""
        return [n for n, t in zip(self.names, self.terms) if not t.is_square]

    def scaled_residuals(self, model) -> Array:
        r"""Stacked residuals $\sqrt{w_k}\,\rho_k$ whose sum of squares is the objective."""
        bad = self.non_square
        if bad:
            raise ValueError(
                f"Objective.scaled_residuals: term(s) {bad} are not sums of squares, so the "
                "objective has no residual vector; minimise it with pl.fit and an Optax "
                "optimizer instead."
            )
        parts = [
            jnp.sqrt(self.weights[i]) * t.scaled_residuals(model) for i, t in enumerate(self.terms)
        ]
        return jnp.concatenate(parts)

    def __repr__(self) -> str:
        if _concrete(self.weights):
            parts = [f"{float(w):g} * {n}" for w, n in zip(np.asarray(self.weights), self.names)]
        else:
            parts = list(self.names)
        return "Objective(" + " + ".join(parts) + ")"


class DataMSE(AbstractSquareTerm):
    r"""Mean squared error of the model on data: $\frac1N\sum_i (f(x_i) - y_i)^2$.

    With `weights` it is $\sum_i w_i r_i^2 / \sum_i w_i$ (a 0/1 weight is a mask); with a
    noise covariance `cov` it is generalised least squares, the MSE of the residuals
    whitened by the Cholesky factor of `cov` (see `pinnloss.losses.whiten`).

    Args:
        x: inputs, shape `(N, ...)`; the model is called on each `x[i]`.
        y: targets, shape `(N, ...)`, the shape the vmapped model returns.
        weights: optional non-negative weights, shape `(N,)` or `y.shape`.
        cov: optional covariance, `(N, N)` for `y` of shape `(N,)`, or `(d, d)` for
            outputs of shape `(N, d)` correlated within each sample.

    Example:
        >>> term = pl.DataMSE(volumes, energies)
        >>> term(model)
    """

    x: Array
    y: Array
    weights: Array | None
    chol: Array | None
    name: str = eqx.field(static=True)

    def __init__(self, x, y, *, weights=None, cov=None, name: str = "data_mse"):
        where = f"DataMSE({name!r})"
        self.x = as_data(where, "x", x)
        self.y = as_data(where, "y", y)
        _check_leading(where, self.x, self.y)
        if weights is not None and cov is not None:
            raise ValueError(f"{where}: give weights or cov, not both.")
        if weights is not None:
            # dtype, shape, NaN/inf, sign; concrete weights the dtype cannot hold are rescaled
            self.weights = _v.broadcast_weights(where, weights, self.y.shape)
        else:
            self.weights = None
        if cov is not None:
            c = as_data(where, "cov", cov, min_ndim=2)
            need = self.y.shape[:1] if self.y.ndim == 1 else self.y.shape[-1:]
            if c.shape != need * 2:
                raise ValueError(
                    f"{where}: cov has shape {c.shape} but y of shape {self.y.shape} needs "
                    f"{need * 2} ({'across samples' if self.y.ndim == 1 else 'across outputs'})."
                )
            self.chol = _v.cholesky(where, cov)
        else:
            self.chol = None
        self.name = name

    def residuals(self, model) -> Array:
        """Raw residuals $f(x_i) - y_i$, shape `y.shape`."""
        return _predict(f"DataMSE({self.name!r})", model, self.x, self.y.shape) - self.y

    def _normalised_weights(self, dtype) -> Array:
        # scaled to a largest weight in [0.5, 1) first: no overflow (1e308), no 0/0 (subnormals)
        w = _normalised(self.weights)
        return (w / jnp.sum(w)).astype(dtype)

    def value(self, model) -> Array:
        if self.weights is None:
            return super().value(model)
        r = self.residuals(model)
        return jnp.sum(_masked_products(self._normalised_weights(r.dtype), r))

    def scaled_residuals(self, model) -> Array:
        r = self.residuals(model)
        if self.weights is not None:
            return jnp.ravel(jnp.sqrt(self._normalised_weights(r.dtype)) * r)
        if self.chol is not None:
            if r.ndim == 1:
                z = jax.scipy.linalg.solve_triangular(self.chol, r, lower=True)
            else:
                flat = r.reshape(-1, r.shape[-1])
                z = jax.scipy.linalg.solve_triangular(self.chol, flat.T, lower=True).T
            z = jnp.ravel(z)
            return z / jnp.sqrt(jnp.asarray(z.size, z.dtype))
        r = jnp.ravel(r)
        return r / jnp.sqrt(jnp.asarray(r.size, r.dtype))

    def pointwise(self):
        if self.chol is not None:  # whitening mixes points (an (N, N) covariance)
            return None
        dtype = jnp.result_type(self.y.dtype, float)
        if self.weights is not None:
            scale = jnp.sqrt(self._normalised_weights(dtype))
        else:
            scale = jnp.full(self.y.shape, 1.0 / np.sqrt(self.y.size), dtype)

        def one(model, p):
            x, y, s = p
            return jnp.ravel(s * (jnp.asarray(model(x)) - y))

        return one, (self.x, self.y, scale)


class QuadraticMSE(AbstractSquareTerm):
    r"""Mean quadratic form of the errors, $\frac1N\sum_i (f(x_i)-y_i)^\top R\,(f(x_i)-y_i)$.

    `R` (shape `(d, d)`, symmetric positive semi-definite) weighs error directions — the
    LQR imitation loss uses the controller's input cost. With `R = I` it is `d · DataMSE`.
    """

    x: Array
    y: Array
    factor: Array
    name: str = eqx.field(static=True)

    def __init__(self, x, y, R, *, name: str = "quadratic_mse"):
        where = f"QuadraticMSE({name!r})"
        self.x = as_data(where, "x", x)
        self.y = as_data(where, "y", y, min_ndim=2)
        _check_leading(where, self.x, self.y)
        Ra = as_data(where, "R", R, min_ndim=2)
        if Ra.shape != (self.y.shape[-1],) * 2:
            raise ValueError(
                f"{where}: R has shape {Ra.shape} but y of shape {self.y.shape} needs "
                f"({self.y.shape[-1]}, {self.y.shape[-1]})."
            )
        self.factor = _v.psd_sqrt(where, R)
        self.name = name

    def residuals(self, model) -> Array:
        """$S(f(x_i) - y_i)$ with $S^\\top S = R$, shape `(N, d)`."""
        r = _predict(f"QuadraticMSE({self.name!r})", model, self.x, self.y.shape) - self.y
        return r @ self.factor.T

    def scaled_residuals(self, model) -> Array:
        z = self.residuals(model)
        return jnp.ravel(z) / jnp.sqrt(jnp.asarray(z.shape[0], z.dtype))


class DataLoss(AbstractTerm):
    """Any loss `loss(predictions, targets) -> scalar` of the model on data.

    For losses that are not means of squares (`pl.losses.mae`, `huber`,
    `sigmoid_binary_cross_entropy`); an objective holding one is minimised with `pl.fit`.

    Example:
        >>> term = pl.DataLoss(x, y, loss=pl.losses.huber)
    """

    x: Array
    y: Array
    loss: Callable[[Array, Array], Array] = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(self, x, y, *, loss: Callable[[Array, Array], Array], name: str | None = None):
        name = name if name is not None else f"data_{getattr(loss, '__name__', 'loss')}"
        where = f"DataLoss({name!r})"
        if not callable(loss):
            raise ValueError(f"{where}: loss must be callable; got {type(loss).__name__}.")
        self.x = as_data(where, "x", x)
        self.y = as_data(where, "y", y)
        _check_leading(where, self.x, self.y)
        # the loss must give a real scalar; on concrete targets it runs once now, so that
        # its own checks (labels outside [0, 1], ...) refuse bad data here and not
        # inside a compiled fit
        out = jax.eval_shape(loss, self.y, self.y)
        if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
            raise ValueError(
                f"{where}: loss(predictions, targets) must return a real scalar; got "
                f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}."
            )
        if _concrete(self.y):
            loss(self.y, self.y)
        self.loss = loss
        self.name = name

    def value(self, model) -> Array:
        pred = _predict(f"DataLoss({self.name!r})", model, self.x, self.y.shape)
        return jnp.asarray(self.loss(pred, self.y))


def _is_domain(obj) -> bool:
    """A domain to draw points from: `sample_interior(n, key=)` (pl.geometry) or
    `uniform(n, key)` (pl.pde.box / time_box); arrays are points."""
    if isinstance(obj, (jax.Array, np.ndarray, list, tuple)) or np.isscalar(obj):
        return False
    return callable(getattr(obj, "sample_interior", None)) or callable(
        getattr(obj, "uniform", None)
    )


def _draw(domain, n: int, key) -> Array:
    """`n` uniform points inside `domain`."""
    if callable(getattr(domain, "sample_interior", None)):
        return jnp.asarray(domain.sample_interior(n, key=key))
    return jnp.asarray(domain.uniform(n, key))


class Residual(AbstractSquareTerm):
    r"""Mean squared residual of `fn(model, x)` over collocation points, $\frac1N\sum_i |r(x_i)|^2$.

    `fn` returns the residual at *one* point (a scalar or an array); it is vmapped over
    the leading axis of `points`. `points` is an array of points, or a domain to draw `n`
    uniform points from (anything with `sample_interior(n, key=)`, e.g. a `pl.geometry`
    shape, or `uniform(n, key)`, e.g. `pl.pde.box`). A term over a domain can draw fresh
    points of the same shape between compiled chunks (`resample=` of `pl.least_squares`,
    `pl.solve`, `pl.fit`: uniform, or RAD, Wu et al. 2023, via `pl.pde.rad_resample`)
    without recompiling, and every solve reports its held-out residual — its value at
    `n` fresh points — in `.stats` and `.history` (`"heldout/<name>"`).

    Args:
        fn: `fn(model, x)`, the residual at one point.
        points: `(N, ...)` points, or a domain.
        n: the number of points drawn from a domain (only with a domain).
        key: the PRNG key of the first draw (default `jax.random.key(0)`).
        name: the term's name in histories and breakdowns.

    Example:
        >>> def poisson(model, x):
        ...     return jax.grad(jax.grad(model))(x) - jnp.sin(x)
        >>> term = pl.Residual(poisson, jnp.linspace(0, 1, 64))
        >>> term = pl.Residual(poisson, pl.pde.box(0.0, 1.0), n=64)   # over a domain

    Reference (RAD): C. Wu, M. Zhu, Q. Tan, Y. Kartha, L. Lu, Comput. Methods Appl. Mech.
    Engrg. 403 (2023) 115671.
    """

    fn: Callable[[Any, Array], Array] = eqx.field(static=True)
    points: Array
    name: str = eqx.field(static=True)
    domain: Any = None
    rad_candidates: int = eqx.field(static=True, default=10)

    collocation: ClassVar[bool] = True

    def __init__(self, fn: Callable, points, *, n: int | None = None, key=None, name="residual"):
        where = f"Residual({name!r})"
        if not callable(fn):
            raise ValueError(f"{where}: fn must be callable fn(model, x); got {type(fn).__name__}.")
        self.fn = fn
        self.name = name
        self.rad_candidates = 10
        if _is_domain(points):
            if n is None:
                raise ValueError(f"{where}: a domain needs n=, the number of points to draw.")
            n = check_int(where, "n", n, minimum=1)
            key = jax.random.key(0) if key is None else key
            self.points = as_data(where, "points", _draw(points, n, key))
            self.domain = points
        else:
            if n is not None:
                raise ValueError(
                    f"{where}: n= is for a domain to draw points from; points were given "
                    f"(shape {np.shape(points)})."
                )
            self.points = as_data(where, "points", points)
            self.domain = None

    @property
    def resamplable(self) -> bool:
        return self.domain is not None

    def residuals(self, model) -> Array:
        fn = self.fn
        return jax.vmap(lambda x: jnp.asarray(fn(model, x)))(self.points)

    def scaled_residuals(self, model) -> Array:
        r = self.residuals(model)
        # mean over points of |r(x_i)|^2: sum over each point's components
        return jnp.ravel(r) / jnp.sqrt(jnp.asarray(r.shape[0], r.dtype))

    def _fresh(self, n: int, key) -> Array:
        pts = _draw(self.domain, n, key).astype(self.points.dtype)
        return pts.reshape((n,) + self.points.shape[1:])

    def resample(self, key, model, method: str = "uniform") -> Residual:
        """This term with `N` new points from its domain: uniform, or RAD (`rad_resample`
        with $k = c = 1$ from `rad_candidates × N` uniform candidates, drawn by the
        residual of `model`). Same shape and dtype: a solve on it reuses its compiled loop."""
        if self.domain is None:
            return self
        n = self.points.shape[0]
        if method == "uniform":
            pts = self._fresh(n, key)
        elif method == "rad":
            from .pde._operators import rad_resample  # a pure function; pde imports no term

            k1, k2 = jax.random.split(key)
            cand = self._fresh(self.rad_candidates * n, k1)
            r = jax.vmap(lambda x: jnp.asarray(self.fn(model, x)))(cand)
            pts = rad_resample(k2, cand, r, n)
        else:
            raise ValueError(
                f"Residual({self.name!r}).resample: method must be 'uniform' or 'rad'; "
                f"got {method!r}."
            )
        return eqx.tree_at(lambda t: t.points, self, pts)

    def heldout(self, model, key) -> Array | None:
        r"""The mean squared residual at `N` fresh uniform points of the domain (None
        without one): $\frac1N\sum_j |r(\tilde x_j)|^2$, the term's value off its points."""
        if self.domain is None:
            return None
        pts = self._fresh(self.points.shape[0], key)
        r = jax.vmap(lambda x: jnp.asarray(self.fn(model, x)))(pts)
        return jnp.sum(r.reshape(r.shape[0], -1) ** 2) / r.shape[0]

    def pointwise(self):
        fn, n = self.fn, self.points.shape[0]

        def one(model, x):
            r = jnp.ravel(jnp.asarray(fn(model, x)))
            return r / jnp.sqrt(jnp.asarray(n, r.dtype))

        return one, self.points


class Derivative(AbstractSquareTerm):
    r"""Squared mismatch of a derivative at one point, $|\partial^k f(a) - t|^2$ (entry mean).

    Derivatives come from `pinnloss._derivatives.derivative`: for a scalar input nested
    `jax.grad` (orders 1-2) or Taylor mode (orders >= 3); for a vector input order 1 is
    `jax.jacrev` and higher orders nest `jax.jacfwd` over it (order 2 of a scalar output is
    the Hessian). `target` must have the derivative's shape, or be a scalar (broadcast).

    Args:
        at: the point, shaped as the model's input (not empty).
        order: derivative order $k \ge 1$ (static).
        target: the required value of $\partial^k f(a)$.

    Example:
        >>> zero_slope = pl.Derivative(at=v0, order=1, target=0.0)   # E'(V0) = 0
    """

    at: Array
    target: Array
    order: int = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(self, at, order: int, target, *, name: str = "derivative"):
        where = f"Derivative({name!r})"
        self.order = check_int(where, "order", order, minimum=1, kind="an integer >= 1")
        self.at = as_data(where, "at", at, min_ndim=0)
        self.target = as_data(where, "target", target, min_ndim=0)
        self.name = name

    def derivative(self, model) -> Array:
        """$\\partial^k f$ at `at`."""
        return _derivative(model, self.order, scalar_input=self.at.ndim == 0)(self.at)

    def residuals(self, model) -> Array:
        d = self.derivative(model)
        if self.target.shape not in ((), d.shape):
            raise ValueError(
                f"Derivative({self.name!r}): the order-{self.order} derivative has shape "
                f"{d.shape} but target has shape {self.target.shape}."
            )
        return jnp.ravel(d - self.target)


class UnitNorm(AbstractSquareTerm):
    r"""Penalty keeping outputs on a sphere: $\frac1N\sum_i (|f(x_i)|^2 - \rho^2)^2$.

    Example:
        >>> term = pl.UnitNorm(x)            # |f(x_i)| = 1
    """

    x: Array
    radius: Array
    name: str = eqx.field(static=True)

    def __init__(self, x, radius=1.0, *, name: str = "unit_norm"):
        where = f"UnitNorm({name!r})"
        self.x = as_data(where, "x", x)
        self.radius = _v.check_scalar(where, "radius", radius, positive=True)
        self.name = name

    def residuals(self, model) -> Array:
        f = _predict(f"UnitNorm({self.name!r})", model, self.x)
        sq = jnp.sum(f.reshape(f.shape[0], -1) ** 2, axis=-1)
        return sq - self.radius**2
