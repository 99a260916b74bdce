r"""Constructive solid geometry for collocation: primitives, set operations, time axes.

A domain is an `eqx.Module` (a pytree): pass it into `jax.jit`, `vmap` over keys, sample
inside `lax.scan`. Sizes (`n`, the dimension) are static; centres, radii, corners and
vertices are array leaves.

Conventions (the same for every geometry):

- points have shape `(n, d)`, also in 1-D (`(n, 1)`); space-time points are `z = (t, x)`,
  time on axis 0, as `pl.pde.time_box` orders them (DeepXDE puts time last);
- `distance(x)` is a *signed distance, positive inside*, zero on the boundary, negative
  outside: exact for the primitives; for set operations the usual bounds
  $\max(\phi_A, \phi_B)$ (union), $\min(\phi_A, \phi_B)$ (intersection),
  $\min(\phi_A, -\phi_B)$ (difference), exact in sign and on the boundary, with
  $|\nabla\phi| = 1$ almost everywhere. It takes one point `(d,)` (a scalar, as
  `pl.pde.dirichlet` needs) or a batch `(..., d)`. `smooth_distance(x)` is the R-function
  alternative for hard constraints (Sukumar & Srivastava 2022): the same sign and zero set,
  $\nabla\phi = -n$ on the boundary, and no kinks inside;
- `contains(x)` is the closed set $\phi(x) \ge 0$;
- `sample_boundary` returns points spread uniformly by length / area over the composite
  boundary and outward unit normals (at corners and edges the normal of one adjoining
  face: the normal is undefined there, a set of measure zero);
- boundary parts carry labels: a primitive's `name` (default its kind: `"rectangle"`,
  `"disk"`, …), dotted with a face for boxes (`"rectangle.ymax"` is the lid of a cavity,
  faces `xmin, xmax, ymin, ymax, zmin, zmax`, or `x3min`, … beyond three axes) and an edge
  for polygons (`"polygon.edge0"`); `part="disk"` selects every piece whose label is
  `"disk"` or starts with `"disk."`. `domain.boundary_labels` lists them.

Sampling methods: `"uniform"` (pseudo-random, `jax.random`), `"sobol"` and `"halton"`
(the unscrambled sequences of `scipy.stats.qmc` with a Cranley–Patterson random shift drawn
from `key`, so that they stay jit-safe and differ by key), and `"grid"` (deterministic,
about `n` points, eager only). A set-operation domain draws candidates in its bounding box
(or on its primitives' boundaries) and keeps the ones that belong, in fixed-size batches
inside a `lax.while_loop` until exactly `n` are kept; the batch size comes from the
acceptance rate estimated when the domain is built, so one batch is the usual case.
Quasi-random sequences fill the first batch; the rare later batches are pseudo-random.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri
from jaxtyping import Array, ArrayLike

__all__ = [
    "AbstractGeometry",
    "Boundary",
    "Box",
    "Interval",
    "Rectangle",
    "Ball",
    "Disk",
    "Sphere",
    "Polygon",
    "CSG",
    "TimeDomain",
    "SpaceTime",
]

_METHODS = ("uniform", "sobol", "halton", "grid")
_MAX_ROUNDS = 1000
_AXES = "xyz"


# ------------------------------------------------------------------------------ helpers


def _dtype(dtype):
    return jnp.result_type(float) if dtype is None else jnp.dtype(dtype)


def _is_concrete(*arrays) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def _safe_norm(v: Array) -> Array:
    """Euclidean norm over the last axis with a finite (zero) gradient at zero."""
    sq = jnp.sum(v * v, axis=-1)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def _r_and(a: Array, b: Array) -> Array:
    """Rvachev's R0 conjunction: positive where both are, zero on either zero set."""
    return a + b - _safe_norm(jnp.stack([a, b], axis=-1))


def _r_or(a: Array, b: Array) -> Array:
    """Rvachev's R0 disjunction: positive where either is."""
    return a + b + _safe_norm(jnp.stack([a, b], axis=-1))


def _check_name(where: str, name) -> str:
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(
            f"geometry.{where}: name must be a non-empty str without '.'; got {name!r}."
        )
    return name


def _check_n(where: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"geometry.{where}: n must be a positive Python integer; got {n!r}.")
    return int(n)


def _check_method(where: str, method: str) -> str:
    if method not in _METHODS:
        raise ValueError(f"geometry.{where}: method must be one of {_METHODS}; got {method!r}.")
    return method


def _points(where: str, x, d: int) -> tuple[Array, tuple[int, ...]]:
    """`x` as `(..., d)` and the batch shape of the result."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if d == 1 and (x.ndim == 0 or x.shape[-1] != 1):
        return x[..., None], x.shape  # scalar points of a 1-D domain
    if x.ndim == 0 or x.shape[-1] != d:
        raise ValueError(
            f"geometry.{where}: points must have shape (..., {d}) for this {d}-D domain; "
            f"got shape {x.shape}."
        )
    return x, x.shape[:-1]


@functools.lru_cache(maxsize=64)
def _qmc_table(kind: str, q: int, m: int) -> np.ndarray:
    try:
        from scipy.stats import qmc
    except ImportError:  # scipy is in the `test` extra, not a core dependency
        raise ImportError(
            f"geometry: method={kind!r} takes its sequence from scipy.stats.qmc; install scipy "
            "or use method='uniform'."
        ) from None
    engine = qmc.Sobol(q, scramble=False) if kind == "sobol" else qmc.Halton(q, scramble=False)
    if kind == "sobol":
        pts = engine.random_base2(max(0, (m - 1).bit_length()))[:m]
    else:
        pts = engine.random(m)
    pts.setflags(write=False)
    return pts


def _unit(method: str, key, m: int, q: int, dtype) -> Array:
    """`(m, q)` points in $[0, 1)^q$: pseudo-random, or a randomly shifted QMC sequence."""
    if method == "uniform":
        return jax.random.uniform(key, (m, q), dtype)
    shift = jax.random.uniform(key, (q,), dtype)
    return jnp.mod(jnp.asarray(_qmc_table(method, q, m), dtype) + shift, 1.0)


def _batch_size(n: int, rate: float | None, method: str) -> int:
    rate = 0.5 if rate is None else max(rate, 1e-3)
    m = math.ceil(n / rate * 1.2) + 16
    return 1 << (m - 1).bit_length() if method == "sobol" else m


def _fill(where: str, n: int, key, method: str, q: int, rate, draw, dtype):
    """Exactly `n` accepted draws: `draw(u) -> (values pytree of (m, ...), mask (m,))`."""
    m = _batch_size(n, rate, method)

    def batch(r, k):
        u = jax.random.uniform(k, (m, q), dtype)
        if method != "uniform":  # the quasi-random sequence in the first round
            u = jnp.where(r == 0, _unit(method, k, m, q, dtype), u)
        return draw(u)

    vals0, _ = jax.eval_shape(draw, jax.ShapeDtypeStruct((m, q), dtype))
    buf = jax.tree_util.tree_map(lambda s: jnp.zeros((n, *s.shape[1:]), s.dtype), vals0)

    def cond(state):
        _, count, r, _ = state
        return (count < n) & (r < _MAX_ROUNDS)

    def body(state):
        buf, count, r, k = state
        k, sub = jax.random.split(k)
        vals, mask = batch(r, sub)
        pos = count + jnp.cumsum(mask, dtype=jnp.int32) - 1
        idx = jnp.where(mask & (pos < n), pos, n)  # n is out of range: dropped
        buf = jax.tree_util.tree_map(lambda b, v: b.at[idx].set(v, mode="drop"), buf, vals)
        return buf, jnp.minimum(count + jnp.sum(mask, dtype=jnp.int32), n), r + 1, k

    state = (buf, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), key)
    buf, count, _, _ = jax.lax.while_loop(cond, body, state)
    return eqx.error_if(
        buf,
        count < n,
        f"geometry.{where}: kept fewer than n points after {_MAX_ROUNDS} batches; the domain "
        "(or the selected boundary part) is empty or has almost no measure.",
    )


def _grid_unit(n: int, q: int) -> np.ndarray:
    k = max(2, math.ceil(n ** (1.0 / q)))
    axes = [(np.arange(k) + 0.5) / k] * q
    return np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)


@eqx.filter_jit
def _sample_jit(geom, key, n: int, method: str, part: tuple[bool, ...] | None, dtype):
    """Compiled once per (geometry structure, n, method, part, dtype); eager calls reuse it."""
    if part is None:
        rate = geom._interior_rate()
        return _fill("sample_interior", n, key, method, geom.dim, rate, geom._interior_draw, dtype)
    mask = np.asarray(part)
    rate = geom._boundary_rate() if mask.all() else None  # a part has its own, unknown rate
    draw = lambda u: geom._boundary_draw(u, mask)
    return _fill("sample_boundary", n, key, method, 1 + geom.dim, rate, draw, dtype)


@eqx.filter_jit
def _rates_jit(node, u_in, u_bd):
    """Acceptance rates of interior and boundary candidates, compiled once per structure."""
    _, inside = node._interior_draw(u_in)
    _, keep = node._boundary_draw(u_bd, np.ones(len(node.boundary_labels), bool))
    return jnp.mean(inside), jnp.mean(keep)


# -------------------------------------------------------------------------- base class


class AbstractGeometry(eqx.Module):
    """A domain in $\\mathbb{R}^d$: membership, signed distance, sampling (see the module doc)."""

    # ----------------------------------------------------------- what a geometry provides

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def _sdf(self, x: Array) -> Array:
        """Signed distance, positive inside, of `(m, d)` points; shape `(m,)`."""
        raise NotImplementedError

    def _bbox(self) -> tuple[Array, Array]:
        raise NotImplementedError

    def _leaves(self) -> tuple[AbstractPrimitive, ...]:
        raise NotImplementedError

    def _keep(self, x: Array, leaf: Array) -> tuple[Array, Array]:
        """Whether a point of leaf `leaf`'s boundary lies on this boundary, and the sign of
        its normal here."""
        return jnp.ones(x.shape[:1], bool), jnp.ones(x.shape[:1], x.dtype)

    def _interior_rate(self) -> float | None:
        raise NotImplementedError

    def _boundary_rate(self) -> float | None:
        raise NotImplementedError

    # ------------------------------------------------------------------------ public API

    def distance(self, x: ArrayLike) -> Array:
        r"""Signed distance to the boundary, positive inside: $\phi(x)$, shape `x.shape[:-1]`.

        Exact for primitives; $\max/\min$ bounds for set operations (exact sign, zero on the
        boundary, $|\nabla\phi| = 1$ a.e.). For hard constraints:
        `pl.pde.dirichlet(net, domain.distance, g)`.

        Example:
            >>> geo.Disk((0.0, 0.0), 1.0).distance(jnp.array([0.5, 0.0]))   # 0.5
        """
        pts, shape = _points("distance", x, self.dim)
        return self._sdf(pts.reshape(-1, self.dim)).reshape(shape)

    def contains(self, x: ArrayLike) -> Array:
        r"""Whether points lie in the closed domain, $\phi(x) \ge 0$; bool, shape `x.shape[:-1]`.

        Example:
            >>> geo.Rectangle((0, 0), (1, 1)).contains(jnp.array([[0.5, 0.5], [2.0, 0.0]]))
        """
        return self.distance(x) >= 0

    def smooth_distance(self, x: ArrayLike) -> Array:
        r"""A smooth approximate distance, positive inside, zero on the boundary, normalised to
        first order ($\nabla\phi = -n$ on the boundary away from corners); shape
        `x.shape[:-1]`.

        Built with R-functions: faces and half-spaces joined by $R_0$ conjunction
        $\phi_1 \wedge \phi_2 = \phi_1 + \phi_2 - \sqrt{\phi_1^2 + \phi_2^2}$, disks as
        $(r^2 - \lVert x - c\rVert^2)/2r$, polygons by the $m = 1$ equivalence of trimmed
        segment distances; `|`, `&`, `-` by $R_0$ disjunction, conjunction and $A \wedge \neg B$.
        Unlike `distance`, it has no kinks inside the domain, so the Laplacian of a hard-
        constrained model $u = g + \phi N$ stays bounded: use it with `pl.pde.dirichlet`.
        It is not the Euclidean distance away from the boundary.

        Example:
            >>> dom = geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0.0, 0.0), 0.5)
            >>> model = pl.pde.dirichlet(net, dom.smooth_distance, 0.0)

        Reference: N. Sukumar, A. Srivastava, "Exact imposition of boundary conditions with
        distance functions in physics-informed deep neural networks", Comput. Methods Appl.
        Mech. Engrg. 389 (2022) 114333; V. L. Rvachev, T. I. Sheiko, Appl. Mech. Rev. 48 (1995).
        """
        pts, shape = _points("smooth_distance", x, self.dim)
        return self._smooth(pts.reshape(-1, self.dim)).reshape(shape)

    def _smooth(self, x: Array) -> Array:
        raise NotImplementedError

    @property
    def bbox(self) -> tuple[Array, Array]:
        """The bounding box `(lower, upper)`, each `(d,)`."""
        return self._bbox()

    @property
    def boundary_labels(self) -> tuple[str, ...]:
        """The labels of the boundary pieces, in order (see the module doc for `part=`)."""
        return tuple(label for leaf in self._leaves() for label in leaf._labels())

    @property
    def measure(self) -> float:
        """Length / area / volume: exact for primitives, a quasi-Monte Carlo estimate (2^16
        Sobol points in the bounding box, relative error ~1e-3) for set operations."""
        lo, hi = self._bbox()
        rate = self._interior_rate()
        if rate is None:
            raise ValueError("geometry.measure: not available for a domain built under tracing.")
        return float(np.prod(np.asarray(hi) - np.asarray(lo))) * rate

    @property
    def boundary_measure(self) -> float:
        """Perimeter / surface area (number of end points in 1-D); estimated for set operations."""
        rate = self._boundary_rate()
        if rate is None:
            raise ValueError("geometry.boundary_measure: not available under tracing.")
        return float(np.sum(np.asarray(self._piece_measures()))) * rate

    def _piece_measures(self) -> Array:
        return jnp.concatenate([leaf._pieces() for leaf in self._leaves()])

    def _part_mask(self, where: str, part) -> np.ndarray:
        labels = self.boundary_labels
        if part is None:
            return np.ones(len(labels), bool)
        parts = (part,) if isinstance(part, str) else tuple(part)
        if not parts or not all(isinstance(p, str) for p in parts):
            raise ValueError(f"geometry.{where}: part must be a label or labels; got {part!r}.")
        mask = np.array([any(lb == p or lb.startswith(p + ".") for p in parts) for lb in labels])
        if not mask.any():
            raise ValueError(
                f"geometry.{where}: part={part!r} matches no boundary piece; the labels are "
                f"{sorted(set(labels))}."
            )
        return mask

    # ----------------------------------------------------------------------- candidates

    def _interior_draw(self, u: Array):
        lo, hi = (b.astype(u.dtype) for b in self._bbox())
        x = lo + (hi - lo) * u
        return x, self._sdf(x) >= 0

    def _boundary_draw(self, u: Array, part_mask: np.ndarray):
        """Candidates on the primitives' boundaries, drawn by measure; `u` is `(m, 1 + d)`."""
        leaves = self._leaves()
        w = self._piece_measures().astype(u.dtype) * jnp.asarray(part_mask, u.dtype)
        cum = jnp.cumsum(w) / jnp.sum(w)
        piece = jnp.clip(jnp.searchsorted(cum, u[:, 0], side="right"), 0, w.shape[0] - 1)
        counts = [len(leaf._labels()) for leaf in leaves]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        leaf_of = jnp.asarray(np.repeat(np.arange(len(leaves)), counts))[piece]
        x = jnp.zeros((u.shape[0], self.dim), u.dtype)
        nrm = jnp.zeros_like(x)
        for i, leaf in enumerate(leaves):
            local = jnp.clip(piece - offsets[i], 0, counts[i] - 1)
            xi, ni = leaf._on_piece(local, u[:, 1:])
            x = jnp.where((leaf_of == i)[:, None], xi, x)
            nrm = jnp.where((leaf_of == i)[:, None], ni, nrm)
        keep, sign = self._keep(x, leaf_of)
        return (x, nrm * sign[:, None]), keep & (w[piece] > 0)

    # ------------------------------------------------------------------------- sampling

    def sample_interior(self, n: int, key=None, *, method: str = "uniform", dtype=None) -> Array:
        r"""`n` points uniformly distributed inside the domain, shape `(n, d)`.

        Primitives and set operations alike: candidates in the bounding box, kept when
        $\phi(x) \ge 0$ (exactly `n`, jit/vmap-safe, static `n`). `method="grid"` gives the
        points of a regular grid inside the domain, about `n` of them (eager only).

        Args:
            n: the number of points (a Python int).
            key: a JAX PRNG key (not needed for `"grid"`).
            method: `"uniform"`, `"sobol"`, `"halton"` or `"grid"`.
            dtype: the float dtype (default: JAX's default float).

        Example:
            >>> dom = geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0.5, 0.5), 0.2)
            >>> x = dom.sample_interior(1000, key=jax.random.key(0))
        """
        n = _check_n("sample_interior", n)
        method = _check_method("sample_interior", method)
        dt = _dtype(dtype)
        if method == "grid":
            return self._grid_interior(n, dt)
        if key is None:
            raise ValueError(f"geometry.sample_interior: method={method!r} needs key=.")
        return _sample_jit(self, key, n, method, None, dt)

    def sample_boundary(
        self, n: int, key=None, *, part=None, method: str = "uniform", dtype=None
    ) -> tuple[Array, Array]:
        r"""`n` points spread uniformly by length / area on the boundary, with outward unit
        normals: `(points, normals)`, each `(n, d)`.

        Each primitive's boundary is sampled in proportion to its measure and a point is kept
        where it lies on the composite boundary (for $A - B$: $\partial A$ outside $B$, and
        $\partial B$ inside $A$ with its normal flipped; for $A \cup B$: each outside the
        other; for $A \cap B$: each inside the other), which is uniform by length there.

        Args:
            n: the number of points (a Python int).
            key: a JAX PRNG key (not needed for `"grid"`).
            part: a label or labels selecting boundary pieces (`domain.boundary_labels`),
                e.g. `"disk"` or `"rectangle.ymax"`; default the whole boundary.
            method: `"uniform"`, `"sobol"`, `"halton"`, or `"grid"` (equal arc-length
                spacing, 2-D and 1-D only, about `n` points, eager only).
            dtype: the float dtype.

        Example:
            >>> dom = geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0.0, 0.0), 0.5)
            >>> xb, nb = dom.sample_boundary(256, key=jax.random.key(0), part="disk")
        """
        n = _check_n("sample_boundary", n)
        method = _check_method("sample_boundary", method)
        mask = self._part_mask("sample_boundary", part)
        dt = _dtype(dtype)
        draw = lambda u: self._boundary_draw(u, mask)
        if method == "grid":
            return self._grid_boundary(n, draw, mask, dt)
        if key is None:
            raise ValueError(f"geometry.sample_boundary: method={method!r} needs key=.")
        return _sample_jit(self, key, n, method, tuple(bool(b) for b in mask), dt)

    def boundary(self, part=None) -> Boundary:
        r"""The boundary (or the named parts of it) as a domain of its own: a `Boundary`,
        whose `sample_interior` draws points *on* this boundary. Give it to `pl.Residual`
        so that a boundary condition's points are redrawn with the rest (`resample=`) and
        its held-out residual is measured, as for the PDE term.

        Args:
            part: a label or labels (`domain.boundary_labels`), default the whole boundary.

        Example:
            >>> dom = geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0.0, 0.0), 0.5)
            >>> bc = pl.Residual(lambda m, x: m(x), dom.boundary("disk"), n=200)
        """
        self._part_mask("boundary", part)  # refuse an unknown label now, not at the first draw
        return Boundary(self, part if part is None or isinstance(part, str) else tuple(part))

    def _grid_interior(self, n: int, dt) -> Array:
        rate = self._interior_rate()
        if rate is None:
            raise ValueError("geometry.sample_interior: method='grid' is eager only.")
        u = _grid_unit(math.ceil(n / max(rate, 1e-3)), self.dim)
        x, keep = self._interior_draw(jnp.asarray(u, dt))
        return x[np.asarray(keep)]

    def _grid_boundary(self, n: int, draw, mask, dt):
        if self.dim > 2:
            raise ValueError("geometry.sample_boundary: method='grid' needs a 1-D or 2-D domain.")
        rate = self._boundary_rate()
        if rate is None:
            raise ValueError("geometry.sample_boundary: method='grid' is eager only.")
        w = np.asarray(self._piece_measures()) * mask
        m = math.ceil(n / max(rate if mask.all() else 1.0, 1e-3))
        s = (np.arange(m) + 0.5) / m
        cum = np.concatenate([[0.0], np.cumsum(w) / np.sum(w)])
        piece = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(w) - 1)
        local = (s - cum[piece]) / np.maximum(cum[piece + 1] - cum[piece], 1e-300)
        u = np.concatenate([s[:, None], np.repeat(local[:, None], self.dim, axis=1)], axis=1)
        (x, nrm), keep = draw(jnp.asarray(u, dt))
        keep = np.asarray(keep)
        return x[keep], nrm[keep]

    # ------------------------------------------------------------------ set operations

    def __or__(self, other) -> CSG:
        return _csg("union", self, other)

    def __and__(self, other) -> CSG:
        return _csg("intersection", self, other)

    def __sub__(self, other) -> CSG:
        return _csg("difference", self, other)

    def __mul__(self, other) -> SpaceTime:
        return _space_time(self, other)

    __rmul__ = __mul__


class AbstractPrimitive(AbstractGeometry):
    """A primitive: its boundary is a list of pieces (faces, edges) with labels."""

    def _leaves(self):
        return (self,)

    def _labels(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _pieces(self) -> Array:
        """The measure of each boundary piece."""
        raise NotImplementedError

    def _on_piece(self, piece: Array, v: Array) -> tuple[Array, Array]:
        """Points on boundary piece `piece` from unit coordinates `v` `(m, d)`, and normals."""
        raise NotImplementedError

    def _boundary_rate(self) -> float:
        return 1.0


# -------------------------------------------------------------------------- primitives


def _face_names(d: int) -> tuple[str, ...]:
    ax = list(_AXES[:d]) if d <= 3 else [f"x{i}" for i in range(d)]
    return tuple(f"{a}{side}" for a in ax for side in ("min", "max"))


class Box(AbstractPrimitive):
    r"""An axis-aligned box $\prod_i [l_i, u_i]$ in any dimension.

    Boundary pieces are its $2d$ faces, labelled `name.xmin`, `name.xmax`, `name.ymin`, …
    (axis by axis, lower face first). Signed distance: the exact box distance
    $\phi = -\big(\lVert\max(q, 0)\rVert + \min(\max_i q_i, 0)\big)$, $q = |x - c| - h$.

    Args:
        lower, upper: the corners, `(d,)`, `lower < upper`.
        name: the label of its boundary (default `"box"`).

    Example:
        >>> cavity = geo.Box((0.0, 0.0), (1.0, 1.0))
        >>> lid, nrm = cavity.sample_boundary(128, key=key, part="box.ymax")
    """

    lower: Array
    upper: Array
    name: str = eqx.field(static=True)

    def __init__(self, lower: ArrayLike, upper: ArrayLike, *, name: str = "box"):
        self.name = _check_name("Box", name)
        if _is_concrete(lower, upper):
            lo, hi = np.asarray(lower, np.float64), np.asarray(upper, np.float64)
            if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
                raise ValueError(
                    f"geometry.Box: lower and upper must be vectors of one shape "
                    f"(d,); got shapes {lo.shape} and {hi.shape}."
                )
            if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
                raise ValueError(f"geometry.Box: need finite lower < upper; got {lo} and {hi}.")
            self.lower, self.upper = jnp.asarray(lo), jnp.asarray(hi)
        else:
            lo, hi = jnp.asarray(lower, float), jnp.asarray(upper, float)
            self.lower = eqx.error_if(lo, ~jnp.all(lo < hi), "geometry.Box: need lower < upper.")
            self.upper = hi

    @property
    def dim(self) -> int:
        return self.lower.shape[0]

    def _bbox(self):
        return self.lower, self.upper

    def _sdf(self, x):
        lo, hi = self.lower.astype(x.dtype), self.upper.astype(x.dtype)
        q = jnp.abs(x - (lo + hi) / 2) - (hi - lo) / 2
        outside = _safe_norm(jnp.maximum(q, 0))
        return -(outside + jnp.minimum(jnp.max(q, axis=-1), 0))

    def _smooth(self, x):
        lo, hi = self.lower.astype(x.dtype), self.upper.astype(x.dtype)
        h = jnp.concatenate([x - lo, hi - x], axis=-1)
        phi = h[:, 0]
        for j in range(1, h.shape[1]):
            phi = _r_and(phi, h[:, j])
        return phi

    def _interior_rate(self):
        return 1.0

    def _labels(self):
        return tuple(f"{self.name}.{f}" for f in _face_names(self.dim))

    def _pieces(self):
        w = self.upper - self.lower
        d = self.dim
        area = [jnp.prod(jnp.delete(w, i)) if d > 1 else jnp.ones((), w.dtype) for i in range(d)]
        return jnp.stack([a for a in area for _ in (0, 1)])

    def _on_piece(self, piece, v):
        lo, hi = self.lower.astype(v.dtype), self.upper.astype(v.dtype)
        axis, upper = piece // 2, (piece % 2).astype(bool)
        onax = jnp.arange(self.dim) == axis[:, None]
        x = jnp.where(onax, jnp.where(upper[:, None], hi, lo), lo + (hi - lo) * v[:, : self.dim])
        nrm = jnp.where(onax, jnp.where(upper[:, None], 1.0, -1.0), 0.0).astype(v.dtype)
        return x, nrm


def _box(where, lower, upper, d, name) -> Box:
    for arg, value in (("lower", lower), ("upper", upper)):
        if _is_concrete(value) and np.shape(value) != (d,):
            raise ValueError(
                f"geometry.{where}: {arg} must have shape ({d},); got {np.shape(value)}."
            )
    return Box(lower, upper, name=name)


def Interval(a: float, b: float, *, name: str = "interval") -> Box:
    r"""The interval $[a, b]$ as a 1-D `Box`: points `(n, 1)`, end points labelled
    `name.xmin`, `name.xmax` (each of measure 1 for boundary sampling).

    Example:
        >>> x = geo.Interval(-1.0, 1.0).sample_interior(100, key=key)   # (100, 1)
    """
    for arg, value in (("a", a), ("b", b)):
        if _is_concrete(value) and np.shape(value) != ():
            raise ValueError(f"geometry.Interval: {arg} must be a scalar; got {value!r}.")
    return Box(
        jnp.reshape(jnp.asarray(a, float), (1,)),
        jnp.reshape(jnp.asarray(b, float), (1,)),
        name=name,
    )


def Rectangle(lower: ArrayLike, upper: ArrayLike, *, name: str = "rectangle") -> Box:
    r"""The rectangle $[l_0, u_0] \times [l_1, u_1]$ as a 2-D `Box`; sides `name.xmin`,
    `name.xmax`, `name.ymin`, `name.ymax` (the lid of a cavity on $[0,1]^2$ is `ymax`).

    Example:
        >>> dom = geo.Rectangle((-1, -1), (1, 1))
        >>> lid, _ = dom.sample_boundary(64, key=key, part="rectangle.ymax")
    """
    return _box("Rectangle", lower, upper, 2, name)


class Ball(AbstractPrimitive):
    r"""The ball $\lVert x - c\rVert \le r$ in $d \ge 2$ dimensions; $\phi = r - \lVert x-c\rVert$.

    Boundary points are uniform on the sphere (angle in 2-D, Archimedes' z-cylinder map in
    3-D, normalised Gaussians beyond), normals $(x - c)/r$.

    Args:
        center: `(d,)`. radius: `r > 0`. name: the boundary label (default `"ball"`).

    Example:
        >>> geo.Ball((0.0, 0.0, 0.0, 0.0), 1.0).sample_interior(100, key=key)
    """

    center: Array
    radius: Array
    name: str = eqx.field(static=True)

    def __init__(self, center: ArrayLike, radius: ArrayLike, *, name: str = "ball"):
        self.name = _check_name("Ball", name)
        if _is_concrete(center, radius):
            c, r = np.asarray(center, np.float64), np.asarray(radius, np.float64)
            if c.ndim != 1 or c.size < 2 or not np.all(np.isfinite(c)):
                raise ValueError(
                    f"geometry.Ball: center must be a finite vector of shape (d,) "
                    f"with d >= 2 (an Interval in 1-D); got {c!r}."
                )
            if r.shape != () or not (np.isfinite(r) and r > 0):
                raise ValueError(
                    f"geometry.Ball: radius must be a finite positive scalar; got {radius!r}."
                )
            self.center, self.radius = jnp.asarray(c), jnp.asarray(r)
        else:
            r = jnp.asarray(radius, float)
            self.radius = eqx.error_if(r, ~(r > 0), "geometry.Ball: radius must be > 0.")
            self.center = jnp.asarray(center, float)

    @property
    def dim(self) -> int:
        return self.center.shape[0]

    def _bbox(self):
        return self.center - self.radius, self.center + self.radius

    def _sdf(self, x):
        c = self.center.astype(x.dtype)
        return self.radius.astype(x.dtype) - _safe_norm(x - c)

    def _smooth(self, x):
        c, r = self.center.astype(x.dtype), self.radius.astype(x.dtype)
        return (r**2 - jnp.sum((x - c) ** 2, axis=-1)) / (2 * r)

    def _unit_volume(self) -> float:
        d = self.dim
        return math.pi ** (d / 2) / math.gamma(d / 2 + 1)

    def _interior_rate(self):
        return self._unit_volume() / 2**self.dim

    def _labels(self):
        return (self.name,)

    def _pieces(self):
        d = self.dim
        return (d * self._unit_volume() * self.radius ** (d - 1))[None]

    def _on_piece(self, piece, v):
        d = self.dim
        if d == 2:
            th = 2 * jnp.pi * v[:, 0]
            nrm = jnp.stack([jnp.cos(th), jnp.sin(th)], axis=1)
        elif d == 3:
            z, ph = 1 - 2 * v[:, 0], 2 * jnp.pi * v[:, 1]
            s = jnp.sqrt(jnp.maximum(1 - z**2, 0))
            nrm = jnp.stack([s * jnp.cos(ph), s * jnp.sin(ph), z], axis=1)
        else:  # v has d columns: one Gaussian per axis
            eps = jnp.finfo(v.dtype).eps
            g = ndtri(jnp.clip(v[:, :d], eps, 1 - eps))
            nrm = g / jnp.linalg.norm(g, axis=1, keepdims=True)
        return self.center.astype(v.dtype) + self.radius.astype(v.dtype) * nrm, nrm


def _ball(where, center, radius, d, name) -> Ball:
    if _is_concrete(center) and np.shape(center) != (d,):
        raise ValueError(
            f"geometry.{where}: center must have shape ({d},); got {np.shape(center)}."
        )
    return Ball(center, radius, name=name)


def Disk(center: ArrayLike, radius: float, *, name: str = "disk") -> Ball:
    r"""The disk $\lVert x - c\rVert \le r$ in 2-D (a 2-D `Ball`); boundary label `name`.

    Example:
        >>> dom = geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0.5, 0.5), 0.2)
        >>> xc, nc = dom.sample_boundary(100, key=key, part="disk")   # normals into the hole
    """
    return _ball("Disk", center, radius, 2, name)


def Sphere(center: ArrayLike, radius: float, *, name: str = "sphere") -> Ball:
    r"""The solid sphere (3-D ball) $\lVert x - c\rVert \le r$; its surface is the boundary.

    Example:
        >>> cube = geo.Box((0, 0, 0), (1, 1, 1)) - geo.Sphere((0.5, 0.5, 0.5), 0.3)
    """
    return _ball("Sphere", center, radius, 3, name)


def _segments_cross(p, q, r, s) -> bool:
    """Whether closed segments pq and rs intersect (orientation test with collinear cases)."""

    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return 0 if abs(v) < 1e-14 else (1 if v > 0 else -1)

    def on(a, b, c):
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(
            a[1], b[1]
        )

    o1, o2, o3, o4 = orient(p, q, r), orient(p, q, s), orient(r, s, p), orient(r, s, q)
    if o1 != o2 and o3 != o4:
        return True
    return any(
        o == 0 and on(a, b, c)
        for o, a, b, c in ((o1, p, q, r), (o2, p, q, s), (o3, r, s, p), (o4, r, s, q))
    )


class Polygon(AbstractPrimitive):
    r"""A simple polygon in 2-D from its vertices (either orientation; stored counter-clockwise).

    Membership by the even-odd crossing rule, $\phi$ = ± the distance to the nearest edge
    (exact), boundary pieces the edges `name.edge0`, `name.edge1`, … (edge $i$ joins vertex
    $i$ to $i + 1$ of the counter-clockwise order), normals $(\Delta y, -\Delta x)/\ell$.

    Args:
        vertices: `(k, 2)`, `k >= 3`, no self-intersection, no repeated vertex.
        name: the boundary label (default `"polygon"`).

    Example:
        >>> L = geo.Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
        >>> x = L.sample_interior(500, key=key)
    """

    vertices: Array
    name: str = eqx.field(static=True)
    area: float | None = eqx.field(static=True)
    rate: float | None = eqx.field(static=True)

    def __init__(self, vertices: ArrayLike, *, name: str = "polygon"):
        self.name = _check_name("Polygon", name)
        if not _is_concrete(vertices):
            self.vertices, self.area, self.rate = vertices, None, None
            return
        v = np.asarray(vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] < 3 or not np.all(np.isfinite(v)):
            raise ValueError(
                f"geometry.Polygon: vertices must be finite, shape (k, 2), k >= 3; "
                f"got shape {v.shape}."
            )
        w = np.roll(v, -1, axis=0)
        if np.any(np.all(np.isclose(v, w, rtol=0, atol=1e-14), axis=1)):
            raise ValueError("geometry.Polygon: vertices has a repeated consecutive vertex.")
        signed = 0.5 * np.sum(v[:, 0] * w[:, 1] - w[:, 0] * v[:, 1])
        k = v.shape[0]
        for i in range(k):
            for j in range(i + 2, k):
                if i == 0 and j == k - 1:
                    continue  # adjacent through the wrap-around
                if _segments_cross(v[i], w[i], v[j], w[j]):
                    raise ValueError(
                        f"geometry.Polygon: edges {i} and {j} intersect; the polygon "
                        "must be simple."
                    )
        if abs(signed) < 1e-14:
            raise ValueError("geometry.Polygon: the polygon has zero area.")
        self.vertices = jnp.asarray(v if signed > 0 else v[::-1].copy())
        self.area = float(abs(signed))
        self.rate = self.area / float(np.prod(v.max(axis=0) - v.min(axis=0)))

    @property
    def dim(self) -> int:
        return 2

    def _bbox(self):
        return jnp.min(self.vertices, axis=0), jnp.max(self.vertices, axis=0)

    def _edges(self, dtype):
        v = self.vertices.astype(dtype)
        return v, jnp.roll(v, -1, axis=0) - v

    def _sdf(self, x):
        v, e = self._edges(x.dtype)
        rel = x[:, None, :] - v[None]  # (m, k, 2)
        t = jnp.clip(jnp.sum(rel * e, -1) / jnp.sum(e * e, -1), 0.0, 1.0)
        dist = jnp.min(_safe_norm(rel - t[..., None] * e), axis=1)
        return jnp.where(self._inside(x, v, e), dist, -dist)

    def _inside(self, x, v, e):
        """The even-odd crossing rule."""
        y0, y1 = v[:, 1], v[:, 1] + e[:, 1]
        straddle = (y0 > x[:, 1:2]) != (y1 > x[:, 1:2])
        dy = jnp.where(e[:, 1] == 0, 1.0, e[:, 1])
        xcross = v[:, 0] + (x[:, 1:2] - y0) * e[:, 0] / dy
        return jnp.sum(straddle & (x[:, 0:1] < xcross), axis=1) % 2 == 1

    def _smooth(self, x):
        v, e = self._edges(x.dtype)
        length = jnp.linalg.norm(e, axis=1)
        rel = x[:, None, :] - v[None]  # (m, k, 2)
        f = (rel[..., 0] * e[:, 1] - rel[..., 1] * e[:, 0]) / length  # to the edge's line
        t = ((length / 2) ** 2 - jnp.sum((rel - e / 2) ** 2, axis=-1)) / length  # trimming
        vphi = _safe_norm(jnp.stack([t, f**2], axis=-1))
        q = (vphi - t) / 2
        sign = jnp.where(self._inside(x, v, e), 1.0, -1.0)[:, None]
        # each trimmed segment distance, signed like the domain. Within rounding of edge i the
        # crossing test may call a point of the edge outside: there the form -f + ... (equal
        # up to 2|f|) keeps the derivative -grad f = -n (f grows outward, positive outside)
        hyp = _safe_norm(jnp.stack([f, q], axis=-1))
        near = (jnp.abs(f) <= 1e-8 * length) & (t > 0)
        phi = jnp.where(near, -f + sign * (hyp - _safe_norm(f[..., None])), sign * hyp)
        # m = 1 equivalence 1 / sum(1 / phi_i), as prod(phi) / sum_j prod_{i != j} phi_i
        ones = jnp.ones_like(phi[:, :1])
        before = jnp.cumprod(jnp.concatenate([ones, phi[:, :-1]], axis=1), axis=1)
        after = jnp.cumprod(jnp.concatenate([ones, phi[:, :0:-1]], axis=1), axis=1)[:, ::-1]
        den = jnp.sum(before * after, axis=1)
        return jnp.prod(phi, axis=1) / jnp.where(den != 0, den, 1.0)

    def _interior_rate(self):
        return self.rate

    def _labels(self):
        return tuple(f"{self.name}.edge{i}" for i in range(self.vertices.shape[0]))

    def _pieces(self):
        _, e = self._edges(self.vertices.dtype)
        return jnp.linalg.norm(e, axis=1)

    def _on_piece(self, piece, v):
        p, e = self._edges(v.dtype)
        p, e = p[piece], e[piece]
        x = p + v[:, :1] * e
        nrm = jnp.stack([e[:, 1], -e[:, 0]], axis=1)
        return x, nrm / jnp.linalg.norm(nrm, axis=1, keepdims=True)


# ----------------------------------------------------------------------- set operations


class CSG(AbstractGeometry):
    r"""A set operation on two domains: `a | b` (union), `a & b` (intersection), `a - b`
    (difference). Built by the operators; see the module doc for distances and sampling.

    The acceptance rates of its interior and boundary candidates are estimated when it is
    built (2^16 and 2^14 Sobol points) and size the sampling batches; under tracing they are
    unknown and a batch takes twice `n` candidates.
    """

    op: str = eqx.field(static=True)
    a: AbstractGeometry
    b: AbstractGeometry
    rates: tuple[float, float] | None = eqx.field(static=True, default=None)

    @property
    def dim(self) -> int:
        return self.a.dim

    def _leaves(self):
        return self.a._leaves() + self.b._leaves()

    def _sdf(self, x):
        pa, pb = self.a._sdf(x), self.b._sdf(x)
        if self.op == "union":
            return jnp.maximum(pa, pb)
        if self.op == "intersection":
            return jnp.minimum(pa, pb)
        return jnp.minimum(pa, -pb)

    def _smooth(self, x):
        pa, pb = self.a._smooth(x), self.b._smooth(x)
        if self.op == "union":
            return _r_or(pa, pb)
        if self.op == "intersection":
            return _r_and(pa, pb)
        return _r_and(pa, -pb)

    def _bbox(self):
        (la, ha), (lb, hb) = self.a._bbox(), self.b._bbox()
        if self.op == "union":
            return jnp.minimum(la, lb), jnp.maximum(ha, hb)
        if self.op == "intersection":
            return jnp.maximum(la, lb), jnp.minimum(ha, hb)
        return la, ha

    def _keep(self, x, leaf):
        na = len(self.a._leaves())
        in_a = leaf < na
        ka, sa = self.a._keep(x, leaf)
        kb, sb = self.b._keep(x, leaf - na)
        pa, pb = self.a._sdf(x), self.b._sdf(x)
        if self.op == "union":
            ka, kb = ka & (pb < 0), kb & (pa < 0)
        elif self.op == "intersection":
            ka, kb = ka & (pb > 0), kb & (pa > 0)
        else:
            ka, kb, sb = ka & (pb < 0), kb & (pa > 0), -sb
        return jnp.where(in_a, ka, kb), jnp.where(in_a, sa, sb)

    def _interior_rate(self):
        return None if self.rates is None else self.rates[0]

    def _boundary_rate(self):
        return None if self.rates is None else self.rates[1]


def _estimate_rates(node: CSG) -> tuple[float, float] | None:
    arrays = [leaf for leaf in jax.tree_util.tree_leaves(node) if eqx.is_array(leaf)]
    if not _is_concrete(*arrays):
        return None
    lo, hi = (np.asarray(b) for b in node._bbox())
    if np.any(hi <= lo):
        raise ValueError("geometry: the intersection is empty (bounding boxes do not overlap).")
    d = node.dim
    rate_in, rate_bd = _rates_jit(
        node, _qmc_table("sobol", d, 1 << 16), _qmc_table("sobol", 1 + d, 1 << 14)
    )
    rate_in, rate_bd = float(rate_in), float(rate_bd)
    if rate_in == 0:
        raise ValueError(
            f"geometry: the {node.op} is empty (no point of 65536 in its bounding box kept)."
        )
    return rate_in, rate_bd


def _csg(op: str, a, b) -> CSG:
    if not isinstance(b, AbstractGeometry) or isinstance(a, SpaceTime) or isinstance(b, SpaceTime):
        raise TypeError(
            f"geometry: {op} needs two geometries; got {type(a).__name__} and {type(b).__name__}."
        )
    if a.dim != b.dim:
        raise ValueError(f"geometry: {op} of a {a.dim}-D and a {b.dim}-D domain.")
    node = CSG(op, a, b)
    return dataclasses.replace(node, rates=_estimate_rates(node))


# ---------------------------------------------------------------------------------- time


class Boundary(eqx.Module):
    r"""The boundary of a domain, or named parts of it, as a domain to draw points from:
    `domain.boundary(part)`. `sample_interior(n, key=)` returns `n` points spread by length /
    area on it (`domain.sample_boundary(n, key=, part=)`'s points), so `pl.Residual(fn,
    boundary, n=)` can redraw a boundary condition's points between compiled chunks;
    `normal(x)` gives the outward unit normal at points on it (for Neumann and Robin
    conditions inside a residual), $-\nabla\phi(x)$ of the domain's signed distance.

    Example:
        >>> dom = geo.Rectangle((-1, -1), (1, 1)) - geo.Disk((0.0, 0.0), 0.5)
        >>> edge = dom.boundary("disk")
        >>> flux = lambda m, x: jnp.dot(jax.grad(m)(x), edge.normal(x))   # du/dn = 0
        >>> term = pl.Residual(flux, edge, n=256)
    """

    geometry: AbstractGeometry
    part: str | tuple[str, ...] | None = eqx.field(static=True, default=None)

    @property
    def dim(self) -> int:
        return self.geometry.dim

    def sample_interior(self, n: int, key=None, *, method: str = "uniform", dtype=None) -> Array:
        """`n` points on the boundary part, shape `(n, d)` (see `sample_boundary`)."""
        return self.geometry.sample_boundary(n, key, part=self.part, method=method,
                                             dtype=dtype)[0]  # fmt: skip

    def sample_boundary(self, n: int, key=None, *, method: str = "uniform", dtype=None):
        """`n` points on the boundary part and their outward unit normals, each `(n, d)`."""
        return self.geometry.sample_boundary(n, key, part=self.part, method=method, dtype=dtype)

    def normal(self, x: ArrayLike) -> Array:
        r"""The outward unit normal $-\nabla\phi(x)$ at points on the boundary, one point
        `(d,)` or a batch `(..., d)` (at corners, one adjoining face's normal)."""
        pts, shape = _points("normal", x, self.dim)
        phi = lambda p: self.geometry._sdf(p[None])[0]
        g = -jax.vmap(jax.grad(phi))(pts.reshape(-1, self.dim))
        g = g / jnp.maximum(jnp.linalg.norm(g, axis=-1, keepdims=True), 1e-300)
        return g.reshape(shape + (self.dim,))


class TimeDomain(eqx.Module):
    r"""A time interval $[t_0, t_1]$; `space * TimeDomain(t0, t1)` (or `space * (t0, t1)`)
    is the space-time domain with points $z = (t, x)$.

    Example:
        >>> dom = geo.Interval(-1.0, 1.0) * geo.TimeDomain(0.0, 1.0)
    """

    t0: Array
    t1: Array

    def __init__(self, t0: ArrayLike, t1: ArrayLike):
        if _is_concrete(t0, t1):
            a, b = np.asarray(t0, np.float64), np.asarray(t1, np.float64)
            if a.shape != () or b.shape != () or not (np.isfinite(a) and np.isfinite(b) and a < b):
                raise ValueError(
                    f"geometry.TimeDomain: need finite scalars t0 < t1; got {t0!r}, {t1!r}."
                )
            t0, t1 = jnp.asarray(a), jnp.asarray(b)
        self.t0, self.t1 = t0, t1

    def __rmul__(self, space):
        return _space_time(space, self)

    __mul__ = __rmul__


def _space_time(space, time) -> SpaceTime:
    if isinstance(space, TimeDomain):
        space, time = time, space
    if not isinstance(space, AbstractGeometry) or isinstance(space, SpaceTime):
        raise TypeError(
            f"geometry: a space-time domain is a geometry times a time interval; "
            f"got {type(space).__name__}."
        )
    if not isinstance(time, TimeDomain):
        if not (isinstance(time, tuple) and len(time) == 2):
            raise TypeError(
                f"geometry: multiply a geometry by TimeDomain(t0, t1) or a (t0, t1) "
                f"pair; got {time!r}."
            )
        time = TimeDomain(*time)
    return SpaceTime(space, time)


class SpaceTime(AbstractGeometry):
    r"""A space-time domain $[t_0, t_1] \times \Omega$, points $z = (t, x)$ (time on axis 0,
    as `pl.pde.time_box`).

    `sample_interior` draws $(t, x)$ jointly (uniform or quasi-random in $1 + d$ dimensions),
    `sample_initial` gives $(t_0, x)$ with $x$ inside $\Omega$, `sample_boundary` the lateral
    boundary $(t, x)$, $x \in \partial\Omega$, with the *spatial* outward normals `(n, d)`
    (as `pl.pde.TimeBox.boundary_normals`); `part=` selects pieces of $\partial\Omega$.
    `distance(z)` and `contains(z)` use $\min(\phi_\Omega(x), t - t_0, t_1 - t)$.

    Example:
        >>> dom = geo.Interval(-1.0, 1.0) * (0.0, 1.0)
        >>> z = dom.sample_interior(1000, key=key)           # (1000, 2): (t, x)
        >>> z0 = dom.sample_initial(100, key=key)            # z0[:, 0] == 0
        >>> zb, nb = dom.sample_boundary(100, key=key)       # nb is (100, 1)
    """

    space: AbstractGeometry
    time: TimeDomain

    @property
    def dim(self) -> int:
        return 1 + self.space.dim

    def _leaves(self):
        return self.space._leaves()

    def _sdf(self, z):
        t0, t1 = self.time.t0.astype(z.dtype), self.time.t1.astype(z.dtype)
        t = z[:, 0]
        return jnp.minimum(self.space._sdf(z[:, 1:]), jnp.minimum(t - t0, t1 - t))

    def _smooth(self, z):
        t0, t1 = self.time.t0.astype(z.dtype), self.time.t1.astype(z.dtype)
        t = z[:, 0]
        return _r_and(self.space._smooth(z[:, 1:]), _r_and(t - t0, t1 - t))

    def _bbox(self):
        lo, hi = self.space._bbox()
        return (
            jnp.concatenate([self.time.t0[None], lo]),
            jnp.concatenate([self.time.t1[None], hi]),
        )

    def _interior_rate(self):
        return self.space._interior_rate()

    def _boundary_rate(self):
        return self.space._boundary_rate()

    def _interior_draw(self, u):
        t0, t1 = self.time.t0.astype(u.dtype), self.time.t1.astype(u.dtype)
        x, keep = self.space._interior_draw(u[:, 1:])
        return jnp.concatenate([t0 + (t1 - t0) * u[:, :1], x], axis=1), keep

    def _boundary_draw(self, u, part_mask):
        t0, t1 = self.time.t0.astype(u.dtype), self.time.t1.astype(u.dtype)
        (x, nrm), keep = self.space._boundary_draw(u[:, :-1], part_mask)
        return (jnp.concatenate([t0 + (t1 - t0) * u[:, -1:], x], axis=1), nrm), keep

    def sample_boundary(self, n, key=None, *, part=None, method="uniform", dtype=None):
        n = _check_n("sample_boundary", n)
        method = _check_method("sample_boundary", method)
        if method == "grid":
            raise ValueError("geometry.SpaceTime.sample_boundary: method='grid' is not offered.")
        if key is None:
            raise ValueError(f"geometry.sample_boundary: method={method!r} needs key=.")
        mask = self._part_mask("sample_boundary", part)
        return _sample_jit(self, key, n, method, tuple(bool(b) for b in mask), _dtype(dtype))

    sample_boundary.__doc__ = AbstractGeometry.sample_boundary.__doc__

    def sample_initial(self, n: int, key=None, *, method: str = "uniform", dtype=None) -> Array:
        r"""`n` points $(t_0, x)$ with $x$ uniform inside $\Omega$; shape `(n, 1 + d)`.

        Example:
            >>> z0 = (geo.Interval(-1.0, 1.0) * (0.0, 1.0)).sample_initial(64, key=key)
        """
        x = self.space.sample_interior(n, key, method=method, dtype=dtype)
        t = jnp.full((x.shape[0], 1), self.time.t0, x.dtype)
        return jnp.concatenate([t, x], axis=1)

    def _grid_interior(self, n, dt):
        raise ValueError(
            "geometry.SpaceTime.sample_interior: method='grid' is not offered; "
            "use 'sobol' or 'halton'."
        )

    @property
    def boundary_measure(self) -> float:
        return self.space.boundary_measure * float(self.time.t1 - self.time.t0)
