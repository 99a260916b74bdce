"""Multi-scale inputs for PINNs: input normalisation, random Fourier features (one scale,
several scales, space and time apart) and output scaling, as Equinox modules of one point.

The random matrices are fixed, never trained: they are held as constants by value (no array
leaves), so `eqx.is_inexact_array` — the default `filter_spec` of `pl.fit` and
`pl.least_squares` — does not see them, and a second-order solve puts no Jacobian column on
them. A module built under `jit`/`vmap` (a traced key) keeps them as array leaves with their
gradients stopped instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._operators import _freeze, _thaw

__all__ = ["Normalize", "OutputScale", "FourierFeatures", "FourierMLP"]


def _size(where: str, name: str, n, *, scalar: bool = False) -> int | Literal["scalar"]:
    if scalar and n == "scalar":
        return "scalar"
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        extra = ' or "scalar"' if scalar else ""
        raise ValueError(f"pde.{where}: {name} must be a positive integer{extra}; got {n!r}.")
    return int(n)


def _concrete(where: str, name: str, v) -> np.ndarray:
    """`v` as a float64 NumPy array; a `ValueError` when traced or not finite."""
    if isinstance(v, jax.core.Tracer):
        raise ValueError(
            f"pde.{where}: {name} must be a concrete number, not a traced value (build the "
            "module outside jit, or pass Python numbers)."
        )
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"pde.{where}: {name} must be numbers; got {v!r}.") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"pde.{where}: {name} must be finite; got {v!r}.")
    return a


def _as_point(where: str, x, in_size) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    want = () if in_size == "scalar" else (in_size,)
    if x.shape != want:
        raise ValueError(
            f"pde.{where}: expects one point of shape {want}; got shape {x.shape}. Models act "
            "on one point — vmap them over a batch."
        )
    return x


def _bounds_of(where: str, domain) -> tuple[Any, Any]:
    """(lower, upper) of a box-like domain: `.bbox` (DeepXDE's habit; a pair or a method
    returning one), `.lower`/`.upper`, or `.domain.lower`/`.upper` (`pde.TimeBox`)."""
    for obj in (domain, getattr(domain, "domain", None)):
        if obj is None:
            continue
        bbox = getattr(obj, "bbox", None)
        if bbox is not None:
            bbox = bbox() if callable(bbox) else bbox
            return bbox[0], bbox[1]
        if hasattr(obj, "lower") and hasattr(obj, "upper"):
            return obj.lower, obj.upper
    raise ValueError(
        f"pde.{where}: cannot read bounds from {type(domain).__name__}: give lower and upper, "
        "or a domain with .bbox or .lower/.upper."
    )


class Normalize(eqx.Module):
    r"""Affine map of a box to $[-1, 1]^d$: $\hat x = 2 (x - l) / (u - l) - 1$.

    The bounds are fixed constants (not parameters). Put it first in a network whose inputs
    are far from unit scale (a time axis on $[0, 5]$, lengths in metres): tanh networks and
    Fourier features then see the range they are built for.

    Args:
        lower, upper: the bounds, scalars or shape `(d,)`, `lower < upper`; or give `domain`.
        domain: an object with `.bbox` (a pair, or a method returning one) or
            `.lower`/`.upper`, e.g. `pde.box(...)`, `pde.time_box(...)` or a `pl.geometry`
            domain.

    Example:
        >>> norm = pde.Normalize(domain=pde.time_box(0.0, 5.0, [0.0, 0.0], [1.0, 1.0]))
        >>> norm(jnp.array([5.0, 0.5, 0.0]))        # [1., 0., -1.]
    """

    lower: Any
    upper: Any

    def __init__(self, lower: ArrayLike | None = None, upper: ArrayLike | None = None, *,
                 domain: Any = None):  # fmt: skip
        if domain is not None:
            if lower is not None or upper is not None:
                raise ValueError("pde.Normalize: give lower and upper, or domain, not both.")
            lower, upper = _bounds_of("Normalize", domain)
        if lower is None or upper is None:
            raise ValueError("pde.Normalize: needs lower and upper (or domain=).")
        lo = _concrete("Normalize", "lower", lower)
        hi = _concrete("Normalize", "upper", upper)
        if lo.ndim > 1 or lo.shape != hi.shape or not np.all(hi > lo):
            raise ValueError(
                f"pde.Normalize: lower and upper must be scalars or vectors of one shape with "
                f"lower < upper; got {lo} and {hi}."
            )
        self.lower, self.upper = _freeze(lo), _freeze(hi)

    def __call__(self, x) -> Array:
        lo, hi = _thaw(self.lower), _thaw(self.upper)
        x = jnp.asarray(x)
        if x.shape != lo.shape:
            raise ValueError(
                f"pde.Normalize: the bounds have shape {lo.shape} but the point has shape "
                f"{x.shape}."
            )
        dtype = jnp.result_type(x, float)
        lo, hi = lo.astype(dtype), hi.astype(dtype)
        return 2 * (x - lo) / (hi - lo) - 1


class OutputScale(eqx.Module):
    r"""Fixed output scaling $y = s\,\hat y + c$: a network of unit-scale outputs for a
    solution of size $s$ around $c$ (per component for shape `(k,)`).

    Args:
        scale: $s$, a nonzero scalar or shape `(k,)`.
        shift: $c$, a scalar or shape `(k,)` (default 0).

    Example:
        >>> pde.OutputScale(100.0, 300.0)(jnp.array(0.5))    # 350.0
    """

    scale: Any
    shift: Any

    def __init__(self, scale: ArrayLike = 1.0, shift: ArrayLike = 0.0):
        s = _concrete("OutputScale", "scale", scale)
        c = _concrete("OutputScale", "shift", shift)
        if np.any(s == 0) or s.ndim > 1 or c.ndim > 1:
            raise ValueError(
                f"pde.OutputScale: scale must be nonzero and scale, shift scalars or vectors "
                f"(k,); got {scale!r} and {shift!r}."
            )
        self.scale, self.shift = _freeze(s), _freeze(c)

    def __call__(self, y) -> Array:
        y = jnp.asarray(y)
        s, c = _thaw(self.scale), _thaw(self.shift)
        dtype = jnp.result_type(y, float)
        out = s.astype(dtype) * y + c.astype(dtype)
        if out.shape != y.shape:
            raise ValueError(
                f"pde.OutputScale: scale {s.shape} and shift {c.shape} must broadcast to the "
                f"output's shape {y.shape}."
            )
        return out


def _sigmas(where: str, sigma) -> tuple[float, ...]:
    s = _concrete(where, "sigma", sigma)
    if s.ndim > 1 or s.size == 0 or np.any(s <= 0):
        raise ValueError(
            f"pde.{where}: sigma must be a positive number or a non-empty sequence of them; "
            f"got {sigma!r}."
        )
    return tuple(float(v) for v in np.atleast_1d(s))


class FourierFeatures(eqx.Module):
    r"""Random Fourier features $\gamma(x) = [\cos(2\pi B x), \sin(2\pi B x)]$, $B$ fixed.

    $B$ has `num_features` rows per scale, drawn $B_{ij} \sim N(0, \sigma^2)$: $\sigma$ is a
    typical frequency in cycles per unit of input (after `pde.Normalize`, per half-width).
    Several scales (`sigma=(1, 10)`) stack their rows: the features of all scales,
    concatenated. `axes` embeds only some input axes (space apart from time). $B$ is not
    trained (see the module notes).

    Args:
        in_size: the input dimension $d$, or `"scalar"` for a scalar point.
        num_features: $m$, rows of $B$ per scale; the output has $2 m \times$ `len(sigma)`
            entries.
        sigma: the scale $\sigma > 0$, or a sequence of scales.
        axes: the input axes embedded (default: all).
        key: a JAX PRNG key.

    Example:
        >>> ff = pde.FourierFeatures(2, 64, sigma=(1.0, 10.0), key=jax.random.key(0))
        >>> ff(jnp.array([0.1, 0.2])).shape              # (256,)

    References: Tancik et al., "Fourier features let networks learn high frequency functions
    in low dimensional domains", NeurIPS 2020; S. Wang, H. Wang, P. Perdikaris, "On the
    eigenvector bias of Fourier feature networks", Comput. Methods Appl. Mech. Engrg. 384
    (2021) 113938.
    """

    B: Any
    in_size: int | Literal["scalar"] = eqx.field(static=True)
    axes: tuple[int, ...] = eqx.field(static=True)
    sigma: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, in_size, num_features: int, sigma=1.0, *, axes: Sequence[int] | None = None,
                 key):  # fmt: skip
        where = "FourierFeatures"
        self.in_size = _size(where, "in_size", in_size, scalar=True)
        m = _size(where, "num_features", num_features)
        self.sigma = _sigmas(where, sigma)
        d = 1 if self.in_size == "scalar" else self.in_size
        if axes is None:
            axes = tuple(range(d))
        axes = tuple(axes)
        ok = all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) and -d <= a < d
            for a in axes
        )
        if not axes or not ok or len({int(a) % d for a in axes}) != len(axes):
            raise ValueError(
                f"pde.{where}: axes must be distinct axes of the {d}-d input; got {axes!r}."
            )
        self.axes = tuple(int(a) % d for a in axes)
        keys = jax.random.split(key, len(self.sigma))
        blocks = [s * jax.random.normal(k, (m, len(self.axes))) for s, k in zip(self.sigma, keys)]
        self.B = _freeze(jnp.concatenate(blocks))

    @property
    def out_size(self) -> int:
        """The number of features, $2 m \\times$ `len(sigma)`."""
        return 2 * int(_thaw(self.B).shape[0])

    @property
    def matrix(self) -> Array:
        """$B$, shape `(m * len(sigma), len(axes))`."""
        return _thaw(self.B)

    def __call__(self, x) -> Array:
        x = jnp.atleast_1d(_as_point("FourierFeatures", x, self.in_size))
        x = x[np.asarray(self.axes)]
        B = _thaw(self.B).astype(x.dtype)
        z = 2 * jnp.pi * (B @ x)
        return jnp.concatenate([jnp.cos(z), jnp.sin(z)])


class FourierMLP(eqx.Module):
    r"""A multi-scale Fourier feature network of one point (Wang, Wang & Perdikaris 2021).

    $\hat x$ = `Normalize`$(x)$ (when bounds are given); for each scale $\sigma_i$ the same
    MLP body $H$ (`depth` tanh layers of `width`) maps the features $\gamma_i(\hat x)$ to
    $H_i$, and one linear layer maps $[H_1, \dots, H_M]$ to the output, scaled by
    `OutputScale`. With `time_axis` set (space-time input), space and time get their own
    features (scales `sigma` and `sigma_t`) through the same body, combined per pair as
    $H_{x,i} \odot H_{t,j}$ (the paper's spatio-temporal network). With one scale and no
    time axis it is the plain Fourier feature network.

    Args:
        in_size: the input dimension, or `"scalar"`.
        out_size: the output dimension, or `"scalar"` (shape `()`).
        width: the body's width.
        depth: the body's number of hidden layers (>= 1).
        sigma: the spatial scale(s) $\sigma_i$ (cycles per unit of normalised input).
        sigma_t: the temporal scale(s), with `time_axis`.
        time_axis: the input axis holding time (ST-FF), or None.
        num_features: rows of $B$ per scale (default `width // 2`, so features are `width`).
        lower, upper, domain: input bounds for `pde.Normalize` (default: no normalisation).
        output_scale, output_shift: `pde.OutputScale` of the output (default 1, 0).
        activation: the body's activation (default `jnp.tanh`).
        key: a JAX PRNG key.

    Example:
        >>> net = pde.FourierMLP(3, "scalar", 64, 3, sigma=(1.0, 10.0), sigma_t=1.0,
        ...                      time_axis=0, domain=dom, key=jax.random.key(0))
        >>> net(jnp.array([0.5, 0.1, 0.2])).shape         # ()

    Reference: S. Wang, H. Wang, P. Perdikaris, "On the eigenvector bias of Fourier feature
    networks: from regression to solving multi-scale PDEs with physics-informed neural
    networks", Comput. Methods Appl. Mech. Engrg. 384 (2021) 113938.
    """

    features: tuple[FourierFeatures, ...]
    time_features: tuple[FourierFeatures, ...]
    body: eqx.nn.MLP
    head: eqx.nn.Linear
    normalize: Normalize | None
    output: OutputScale
    in_size: int | Literal["scalar"] = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)

    def __init__(self, in_size, out_size, width: int, depth: int, *, sigma=1.0, sigma_t=None,
                 time_axis: int | None = None, num_features: int | None = None,
                 lower=None, upper=None, domain=None, output_scale=1.0, output_shift=0.0,
                 activation: Callable = jnp.tanh, key):  # fmt: skip
        where = "FourierMLP"
        self.in_size = _size(where, "in_size", in_size, scalar=True)
        self.out_size = _size(where, "out_size", out_size, scalar=True)
        width = _size(where, "width", width)
        depth = _size(where, "depth", depth)
        m = max(width // 2, 1) if num_features is None else num_features
        m = _size(where, "num_features", m)
        d = 1 if self.in_size == "scalar" else self.in_size
        kf, kt, kb, kh = jax.random.split(key, 4)
        if time_axis is None:
            if sigma_t is not None:
                raise ValueError(f"pde.{where}: sigma_t needs time_axis.")
            space_axes, time_feats = tuple(range(d)), ()
        else:
            if (
                self.in_size == "scalar"
                or isinstance(time_axis, bool)
                or not isinstance(time_axis, (int, np.integer))
                or not -d <= time_axis < d
                or d < 2
            ):
                raise ValueError(
                    f"pde.{where}: time_axis={time_axis!r} must be an axis of a vector input "
                    f"with space axes too (in_size={in_size!r})."
                )
            t = int(time_axis) % d
            space_axes = tuple(a for a in range(d) if a != t)
            st = 1.0 if sigma_t is None else sigma_t
            time_feats = tuple(
                FourierFeatures(d, m, s, axes=(t,), key=k)
                for s, k in zip(_sigmas(where, st), jax.random.split(kt, len(_sigmas(where, st))))
            )
        sig = _sigmas(where, sigma)
        self.features = tuple(
            FourierFeatures(self.in_size, m, s, axes=space_axes, key=k)
            for s, k in zip(sig, jax.random.split(kf, len(sig)))
        )
        self.time_features = time_feats
        self.body = eqx.nn.MLP(2 * m, width, width, depth - 1, activation=activation,
                               final_activation=activation, key=kb)  # fmt: skip
        blocks = len(self.features) * max(1, len(self.time_features))
        k_out = 1 if self.out_size == "scalar" else self.out_size
        self.head = eqx.nn.Linear(blocks * width, k_out, key=kh)
        if domain is not None or lower is not None or upper is not None:
            self.normalize = Normalize(lower, upper, domain=domain)
            shape = () if self.in_size == "scalar" else (d,)
            lo = _thaw(self.normalize.lower)
            if lo.shape != shape and not (lo.shape == (1,) and shape == ()):
                raise ValueError(
                    f"pde.{where}: the bounds have shape {lo.shape}; the input has shape {shape}."
                )
        else:
            self.normalize = None
        self.output = OutputScale(output_scale, output_shift)

    def __call__(self, x) -> Array:
        x = _as_point("FourierMLP", x, self.in_size)
        if self.normalize is not None:
            x = jnp.reshape(self.normalize(jnp.reshape(x, _thaw(self.normalize.lower).shape)),
                            x.shape)  # fmt: skip
        hs = [self.body(f(x)) for f in self.features]
        if self.time_features:
            ht = [self.body(f(x)) for f in self.time_features]
            hs = [h * g for h in hs for g in ht]
        y = self.head(jnp.concatenate(hs))
        if self.out_size == "scalar":
            y = y[0]
        return self.output(y)
