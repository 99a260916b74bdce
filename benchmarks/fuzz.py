"""Fuzz of pinnloss.losses and the terms with hostile inputs: how does each case end?

Hypothesis draws a loss or a term and its inputs — random shapes (empty and mismatched
ones included), dtypes (ints, bools, complex), extreme values (1e300, 1e-300, subnormals),
NaN and inf, labels outside [0, 1], term and sample weights (negative, zero, huge, tiny,
NumPy arrays), covariances (well and ill conditioned, singular, not symmetric) — and runs
it eagerly and under `jax.jit`, in three precisions: float64 data with x64 on (`x64`),
float32 data with x64 on (`x64-f32`) and float32 with x64 off (`x32`). Each case is
classified against an independent NumPy reference in long double:

  correct       the value matches the reference (inf where the exact value overflows the
                dtype, 0 where it underflows); or NaN/inf in, NaN/inf out for a pure loss
                (`pl.losses` does not scan its inputs: it runs inside training loops)
  refused       a `ValueError` (at build or trace time) for input the reference refuses
  refused-run   under jit, a refusal of ours at run time (`eqx.error_if`): the message,
                inside a longer `JaxRuntimeError`/`EquinoxRuntimeError`
  over-refused  a refusal of input the reference accepts
  silent        a value for input the reference refuses, or a wrong value (NaN included)
  traceback     any other exception (TypeError, a JAX error, ...)

The reference refuses what the library documents as refused: empty or mismatched arrays,
complex data, NaN/inf in term data, labels outside [0, 1], negative or all-zero weights,
term weights that are not 0 or a normal number of their dtype (and products of weights
that leave that range), covariances that are not symmetric positive definite or whose
condition number exceeds 1e-3 / eps (see `pinnloss._validate.cholesky`).

Run (a few minutes on 2 cores; hypothesis is in the `bench` extra):

    python benchmarks/fuzz.py                 # 150 cases per precision and mode
    python benchmarks/fuzz.py --examples 400 --show 5
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import re
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st

import pinnloss as pl
from pinnloss import losses as L

LD = np.longdouble
PRECISIONS = {"x64": (True, np.float64), "x64-f32": (True, np.float32), "x32": (False, np.float32)}
SCALES = [1.0, 1.0, 1.0, 1.0, 1e-3, 1e3, 1e20, 1e150, 1e300, 1e-40, 1e-300, 1e-310, 1e38]
WEIGHTS = [1.0, 2.5, 0.0, -1.0, 1e-3, 1e150, 1e300, 1e308, 1e-40, 1e-300, 1e-310, 1e38, 3e38]
WEIGHTS += [math.inf, math.nan, 1e-20, 1e20]
CATEGORIES = ["correct", "refused", "refused-run", "over-refused", "silent", "traceback"]


@dataclasses.dataclass
class Ref:
    """What the reference says: `valid` True/False, or None when either is acceptable."""

    valid: bool | None
    value: Any = None  # long double, when valid
    scale: Any = None  # the magnitude the tolerance is relative to (default |value|)
    rtol: float = 0.0
    nonfinite_ok: bool = False  # a pure loss given NaN/inf may return NaN/inf
    why: str = ""


@dataclasses.dataclass
class Case:
    kind: str
    build: Callable[..., Any]  # build(*args) -> scalar
    args: tuple
    ref: Ref
    desc: str


# ---- inputs -------------------------------------------------------------------------


def _rng(data) -> np.random.Generator:
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def _values(data, rng, shape, fdtype, *, positive=False, special=True, dtypes=True) -> np.ndarray:
    """An array of `shape`: scaled normal numbers, sometimes NaN/inf, ints, bools, complex."""
    kind = "float"
    if dtypes:
        kind = data.draw(st.sampled_from(["float"] * 12 + ["int", "bool", "complex"]), label="k")
    if kind == "int":
        return rng.integers(-50 if not positive else 0, 50, shape).astype(np.int32)
    if kind == "bool":
        return rng.random(shape) < 0.5
    scale = data.draw(st.sampled_from(SCALES), label="scale")
    with np.errstate(all="ignore"):
        a = rng.standard_normal(shape) * scale
        if positive:
            a = np.abs(a)
        if special and a.size and data.draw(st.integers(0, 7), label="special") == 0:
            a.flat[rng.integers(a.size)] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        if kind == "complex":
            return (a + 1j * a).astype(np.complex128 if fdtype == np.float64 else np.complex64)
        return a.astype(fdtype)


def _shapes(data, allow_mismatch=True) -> tuple[tuple, tuple]:
    n = data.draw(st.sampled_from([0, 1, 2, 3, 5, 8]), label="n")
    d = data.draw(st.sampled_from([None, None, 1, 2, 3]), label="d")
    a = (n,) if d is None else (n, d)
    b = a
    if allow_mismatch and data.draw(st.integers(0, 7), label="mismatch") == 0:
        b = data.draw(st.sampled_from([(n, 1), (n + 1,), a[::-1] + (1,), (n, 2)]), label="b")
    return a, b


def _ld(a) -> np.ndarray:
    return np.asarray(a).astype(LD)


def _bad_dtype(*arrays) -> bool:
    return any(np.iscomplexobj(a) for a in arrays)


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(np.asarray(a, np.float64))) for a in arrays)


def _pair_problem(p, t) -> str | None:
    """Why the reference refuses a (predictions, targets) pair, else None."""
    if np.shape(p) != np.shape(t):
        return "shapes differ"
    if np.size(p) == 0:
        return "empty"
    if _bad_dtype(p, t):
        return "complex"
    return None


def _spd(data, rng, n, fdtype) -> tuple[np.ndarray, str]:
    """A covariance-like matrix of size n and what it is."""
    kind = data.draw(
        st.sampled_from(["spd"] * 6 + ["singular", "nonsym", "negdef", "nan", "wrongsize"]),
        label="cov",
    )
    q = np.linalg.qr(rng.standard_normal((max(n, 1), max(n, 1))))[0]
    decades = data.draw(st.sampled_from([0, 1, 3, 6, 9, 11, 12, 13, 14, 16, 18]), label="dec")
    lam = np.logspace(0, -decades, max(n, 1)) * data.draw(
        st.sampled_from([1.0, 1.0, 1e-300, 1e300, 1e-20, 1e20]), label="cscale"
    )
    if kind == "singular" and n > 1:
        lam[-1] = 0.0
    if kind == "negdef":
        lam[-1] = -lam[0]
    with np.errstate(all="ignore"):
        c = (q * lam) @ q.T
        c = (c + c.T) / 2
        if kind == "nonsym" and n > 1:
            c[0, -1] += 0.5 * abs(c[0, 0]) + 1.0
        if kind == "nan":
            c[0, 0] = np.nan
        if kind == "wrongsize":
            c = np.eye(max(n, 1) + 1)
        return c.astype(fdtype), f"{kind} 1e-{decades}"


def _symmetric(m: np.ndarray) -> bool:
    return np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * max(np.abs(m).max(), 1e-300))


def _cov_verdict(c: np.ndarray, eps: float) -> tuple[bool | None, str, float]:
    """(valid, why, cond) for a covariance whitened with a factor of precision eps."""
    c = np.asarray(c, np.float64)
    if not _finite(c):
        return False, "cov not finite", np.inf
    if not _symmetric(c):
        return False, "cov not symmetric", np.inf
    lam = np.linalg.eigvalsh(c)
    if lam[0] <= 0:
        return (None if lam[0] > -1e-12 * abs(lam[-1]) else False), "cov not PD", np.inf
    cond = lam[-1] / lam[0]
    bound = 1e-3 / eps
    if cond > 10 * bound:
        return False, "cov ill-conditioned", cond
    if cond > bound / 10:
        return None, "cov near the conditioning bound", cond
    return True, "", cond


def _solve_ld(c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """c^{-1} r in long double by iterative refinement of a float64 solve."""
    c64 = np.asarray(c, np.float64)
    cl, rl = _ld(c64), _ld(r)
    x = _ld(np.linalg.solve(c64, np.asarray(r, np.float64)))
    for _ in range(20):
        x = x + _ld(np.linalg.solve(c64, np.asarray(rl - cl @ x, np.float64)))
    return x


# ---- cases --------------------------------------------------------------------------


def _loss_case(data, fdtype, jit) -> Case:
    rng = _rng(data)
    name = data.draw(
        st.sampled_from(["mse", "mae", "huber", "bce", "weighted_mse", "gls", "quadratic"]),
        label="loss",
    )
    sp, st_ = _shapes(data)
    p = _values(data, rng, sp, fdtype)
    t = _values(data, rng, st_, fdtype)
    bad = _pair_problem(p, t)
    nonfinite = not _finite(p, t) if not _bad_dtype(p, t) else False
    eps = float(np.finfo(fdtype).eps)
    base = 1e3 * eps
    desc = f"{name} p{p.shape}{p.dtype} t{t.shape}{t.dtype}"

    def ok(value, scale=None, rtol=base):
        return Ref(True, value, scale, rtol, nonfinite_ok=nonfinite)

    def no(why):
        return Ref(False, why=why, nonfinite_ok=nonfinite)

    if name in ("mse", "mae"):
        fn = L.mse if name == "mse" else L.mae
        if bad:
            return Case(name, fn, (p, t), no(bad), desc)
        r = _ld(p) - _ld(t)
        v = np.mean(r**2) if name == "mse" else np.mean(np.abs(r))
        return Case(name, fn, (p, t), ok(v), desc)
    if name == "huber":
        delta = data.draw(st.sampled_from([1.0, 0.5, 3.0, 0.0, -1.0, math.nan, 1e-300, 1e300]))
        desc += f" delta={delta}"
        args = (p, t, np.asarray(delta, fdtype)) if jit else (p, t, delta)
        dcast = float(np.asarray(delta, fdtype)) if jit else delta
        if bad:
            return Case(name, L.huber, args, no(bad), desc)
        if not (np.isfinite(dcast) and dcast > 0):
            return Case(name, L.huber, args, no("delta"), desc)
        r = np.abs(_ld(p) - _ld(t))
        d = LD(dcast)
        q = np.minimum(r, d)
        return Case(name, L.huber, args, ok(np.mean(0.5 * q**2 + d * (r - q))), desc)
    if name == "bce":
        kind = data.draw(st.sampled_from(["prob", "binary", "out", "nan"]), label="labels")
        y = rng.random(st_) if kind == "prob" else (rng.random(st_) < 0.5).astype(float)
        if kind == "out" and y.size:
            y.flat[rng.integers(y.size)] = data.draw(st.sampled_from([5.0, -0.1, 1.0001, 2.0]))
        if kind == "nan" and y.size:
            y.flat[0] = np.nan
        y = y.astype(fdtype)
        desc = f"bce z{p.shape}{p.dtype} labels {kind}{y.shape}"
        bad = _pair_problem(p, y)
        fn = L.sigmoid_binary_cross_entropy
        if bad:
            return Case(name, fn, (p, y), no(bad), desc)
        if kind in ("out", "nan"):
            return Case(name, fn, (p, y), no("labels outside [0, 1]"), desc)
        z, yl = _ld(p), _ld(y)
        sp_ = np.logaddexp(LD(0), z)
        v = np.mean(sp_ - z * yl)
        return Case(name, fn, (p, y), ok(v, scale=np.mean(sp_ + np.abs(z * yl))), desc)
    if name == "weighted_mse":
        wk = data.draw(st.sampled_from(["row", "full", "wrong"]), label="wshape")
        wshape = {"row": sp[:1], "full": sp, "wrong": (sp[0] + 1,)}[wk]
        wdtype = np.float64 if not jit else fdtype  # eagerly, float64 NumPy weights
        w = _values(data, rng, wshape, wdtype, positive=True, dtypes=False)
        wkind = data.draw(st.sampled_from(["ok"] * 4 + ["zero", "neg", "allzero"]), label="wk")
        if wkind == "zero" and w.size:
            w.flat[0] = 0.0
        if wkind == "neg" and w.size:
            w.flat[0] = -1.0
        if wkind == "allzero":
            w[...] = 0.0
        desc += f" w{w.shape} {wkind} max {np.max(np.abs(w), initial=0):.3g}"
        if bad:
            return Case(name, L.weighted_mse, (p, t, w), no(bad), desc)
        if wk == "wrong" or w.shape != sp and w.shape != sp[:1]:
            return Case(name, L.weighted_mse, (p, t, w), no("weights shape"), desc)
        if not _finite(w) or np.any(w < 0) or not np.any(w > 0):
            return Case(name, L.weighted_mse, (p, t, w), no("weights values"), desc)
        r2 = (_ld(p) - _ld(t)) ** 2
        wl = _ld(w).reshape(w.shape + (1,) * (len(sp) - w.ndim))
        wl = np.broadcast_to(wl, sp)
        return Case(name, L.weighted_mse, (p, t, w), ok(np.sum(wl * r2) / np.sum(wl)), desc)
    if name == "gls":
        m = sp[0] if len(sp) == 1 else sp[-1]
        c, ck = _spd(data, rng, m, fdtype)
        desc += f" cov {ck}"
        if bad:
            return Case(name, L.gls, (p, t, c), no(bad), desc)
        if c.shape != (m, m):
            return Case(name, L.gls, (p, t, c), no("cov shape"), desc)
        ceps = float(np.finfo(np.float64 if not jit else c.dtype).eps)
        valid, why, cond = _cov_verdict(c, ceps)
        if valid is False:
            return Case(name, L.gls, (p, t, c), no(why), desc)
        r = np.asarray(_ld(p) - _ld(t))
        rows = r.reshape(-1, 1) if r.ndim == 1 else r.reshape(-1, m).T
        if r.ndim == 1:
            v = np.sum(rows[:, 0] * _solve_ld(c, rows[:, 0])) / r.size
        else:
            v = sum(np.sum(rows[:, j] * _solve_ld(c, rows[:, j])) for j in range(rows.shape[1]))
            v = v / r.size
        ref = ok(v, rtol=base + 3 * cond * ceps + (3e-4 if fdtype == np.float32 else 0))
        ref.valid = valid
        return Case(name, L.gls, (p, t, c), ref, desc)
    # quadratic
    dd = sp[-1] if sp else 1
    kind = data.draw(st.sampled_from(["psd", "psd", "singular", "neg", "nonsym", "nan"]))
    a = rng.standard_normal((dd, dd))
    rmat = a @ a.T
    if kind == "singular" and dd > 1:
        lam, u = np.linalg.eigh(rmat)
        lam[0] = 0.0
        rmat = (u * lam) @ u.T
    if kind == "neg":
        rmat = rmat - 2 * np.eye(dd) * np.linalg.eigvalsh(rmat)[-1]
    if kind == "nonsym" and dd > 1:
        rmat[0, -1] += 1.0
    if kind == "nan":
        rmat[0, 0] = np.nan
    rmat = ((rmat + rmat.T) / 2 if kind not in ("nonsym",) else rmat).astype(fdtype)
    desc += f" R {kind}"
    if bad:
        return Case(name, L.quadratic, (p, t, rmat), no(bad), desc)
    if not _finite(rmat) or not _symmetric(np.asarray(rmat, np.float64)):
        return Case(name, L.quadratic, (p, t, rmat), no("R"), desc)
    lam = np.linalg.eigvalsh(np.asarray(rmat, np.float64))
    if lam[0] < -1e-10 * np.abs(rmat).max():
        return Case(name, L.quadratic, (p, t, rmat), no("R not PSD"), desc)
    r = np.asarray(_ld(p) - _ld(t)).reshape(-1, dd)
    rl = _ld(rmat)
    v = np.einsum("ni,ij,nj->", r, rl, r) / r.shape[0]
    scale = np.abs(lam).max() * np.sum(r**2) / r.shape[0]
    return Case(name, L.quadratic, (p, t, rmat), ok(v, scale=scale), desc)


def _identity(v):
    return v


class _Cubic:
    """f(x) = 0.5 + 2x - 0.75x^2 + 0.25x^3 (a plain callable: derivatives are known)."""

    c = (0.5, 2.0, -0.75, 0.25)

    def __call__(self, x):
        return 0.5 + 2.0 * x - 0.75 * x**2 + 0.25 * x**3

    def deriv(self, x: LD, k: int) -> LD:
        c = [LD(v) for v in self.c]
        if k == 1:
            return c[1] + 2 * c[2] * x + 3 * c[3] * x**2
        if k == 2:
            return 2 * c[2] + 6 * c[3] * x
        if k == 3:
            return 6 * c[3]
        return LD(0)


def _data_problem(*arrays) -> str | None:
    if _bad_dtype(*arrays):
        return "complex"
    if any(np.size(a) == 0 for a in arrays):
        return "empty"
    if not _finite(*arrays):
        return "NaN/inf in term data"
    return None


def _term_case(data, fdtype, jit, wdtype) -> Case:
    rng = _rng(data)
    kind = data.draw(
        st.sampled_from(["data_mse", "weighted", "cov", "data_loss", "quadratic", "unit_norm"])
        | st.sampled_from(["derivative", "weight", "weight", "weight"]),
        label="term",
    )
    eps = float(np.finfo(fdtype).eps)
    base = 1e3 * eps
    if kind == "derivative":
        at = _values(data, rng, (), fdtype, dtypes=False)
        order = data.draw(st.sampled_from([1, 2, 3, 0, -1, 1.5]), label="order")
        target = _values(data, rng, (), fdtype, dtypes=False)
        f = _Cubic()
        desc = f"Derivative(at={float(at):.3g}, order={order}, target={float(target):.3g})"

        def build(a, t):
            return pl.Derivative(a, order, t)(f)

        if not (isinstance(order, int) and order >= 1):
            return Case(kind, build, (at, target), Ref(False, why="order"), desc)
        if not _finite(at, target):
            return Case(kind, build, (at, target), Ref(False, why="NaN/inf"), desc)
        dv = f.deriv(LD(float(at)), order)
        v = (dv - LD(float(target))) ** 2
        scale = (abs(dv) + abs(LD(float(target))) + 25 * (1 + LD(float(at)) ** 2)) ** 2
        return Case(kind, build, (at, target), Ref(True, v, scale, 1e2 * base), desc)
    sx, sy = _shapes(data)
    x = _values(data, rng, sx, fdtype)
    y = _values(data, rng, sy, fdtype)
    desc = f"{kind} x{x.shape}{x.dtype} y{y.shape}{y.dtype}"
    problem = _data_problem(x, y)
    if problem is None and x.shape != y.shape:
        problem = "prediction shape != y shape"

    def refuse(build, args, why):
        return Case(kind, build, args, Ref(False, why=why), desc)

    xl, yl = _ld(x), _ld(y)
    if kind == "data_mse":

        def build(a, b):
            return pl.DataMSE(a, b)(_identity)

        if problem:
            return refuse(build, (x, y), problem)
        return Case(kind, build, (x, y), Ref(True, np.mean((xl - yl) ** 2), rtol=base), desc)
    if kind == "weighted":
        w = _values(data, rng, sy[:1], wdtype, positive=True, dtypes=False)
        if data.draw(st.integers(0, 4)) == 0 and w.size:
            w.flat[0] = data.draw(st.sampled_from([-1.0, 0.0]))
        desc += f" w max {np.max(np.abs(w), initial=0):.3g}"

        def build(a, b, c):
            return pl.DataMSE(a, b, weights=c)(_identity)

        if problem:
            return refuse(build, (x, y, w), problem)
        if not _finite(w) or np.any(w < 0) or not np.any(w > 0):
            return refuse(build, (x, y, w), "weights")
        wl = np.broadcast_to(_ld(w).reshape(w.shape + (1,) * (y.ndim - 1)), y.shape)
        v = np.sum(wl * (xl - yl) ** 2) / np.sum(wl)
        return Case(kind, build, (x, y, w), Ref(True, v, rtol=base), desc)
    if kind == "cov":
        m = sy[0] if len(sy) == 1 else sy[-1]
        c, ck = _spd(data, rng, m, fdtype)
        desc += f" cov {ck}"

        def build(a, b, cc):
            return pl.DataMSE(a, b, cov=cc)(_identity)

        if problem:
            return refuse(build, (x, y, c), problem)
        if c.shape != (m, m):
            return refuse(build, (x, y, c), "cov shape")
        ceps = float(np.finfo(np.float64 if not jit else c.dtype).eps)
        valid, why, cond = _cov_verdict(c, ceps)
        if valid is False:
            return refuse(build, (x, y, c), why)
        r = xl - yl
        if r.ndim == 1:
            v = np.sum(r * _solve_ld(c, r)) / r.size
        else:
            flat = r.reshape(-1, m)
            v = sum(np.sum(row * _solve_ld(c, row)) for row in flat) / r.size
        rtol = base + 3 * cond * ceps + (3e-4 if fdtype == np.float32 else 0)
        return Case(kind, build, (x, y, c), Ref(valid, v, rtol=rtol, why=why), desc)
    if kind == "data_loss":
        lname = data.draw(st.sampled_from(["mae", "huber", "bce"]), label="dl")
        desc += f" loss={lname}"
        if lname == "bce":
            yb = rng.random(sy)
            if data.draw(st.integers(0, 2)) == 0 and yb.size:
                yb.flat[0] = 5.0
            y = yb.astype(fdtype)
            yl = _ld(y)
            problem = _data_problem(x, y) or (
                "prediction shape != y shape" if x.shape != y.shape else None
            )
        loss = {
            "mae": L.mae,
            "huber": L.huber,
            "bce": L.sigmoid_binary_cross_entropy,
        }[lname]

        def build(a, b):
            return pl.DataLoss(a, b, loss=loss)(_identity)

        if problem:
            return refuse(build, (x, y), problem)
        r = np.abs(xl - yl)
        if lname == "mae":
            return Case(kind, build, (x, y), Ref(True, np.mean(r), rtol=base), desc)
        if lname == "huber":
            q = np.minimum(r, 1)
            return Case(
                kind, build, (x, y), Ref(True, np.mean(0.5 * q**2 + r - q), rtol=base), desc
            )
        if np.any((y < 0) | (y > 1)):
            return refuse(build, (x, y), "labels")
        spl = np.logaddexp(LD(0), xl)
        v = np.mean(spl - xl * yl)
        return Case(kind, build, (x, y), Ref(True, v, np.mean(spl + abs(xl * yl)), base), desc)
    if kind == "quadratic":
        dd = sy[-1] if len(sy) > 1 else 1
        a = rng.standard_normal((dd, dd))
        rmat = (a @ a.T).astype(fdtype)

        def build(a_, b_, r_):
            return pl.QuadraticMSE(a_, b_, r_)(_identity)

        if problem:
            return refuse(build, (x, y, rmat), problem)
        if y.ndim < 2:
            return refuse(build, (x, y, rmat), "y needs (N, d)")
        r = (xl - yl).reshape(-1, dd)
        v = np.einsum("ni,ij,nj->", r, _ld(rmat), r) / r.shape[0]
        lam = np.linalg.eigvalsh(np.asarray(rmat, np.float64))
        scale = abs(lam).max() * np.sum(r**2) / r.shape[0]
        return Case(kind, build, (x, y, rmat), Ref(True, v, scale, base), desc)
    if kind == "unit_norm":
        radius = data.draw(st.sampled_from([1.0, 2.0, 0.0, -1.0, math.nan, 1e-300, 1e200]))
        desc = f"unit_norm x{x.shape}{x.dtype} radius={radius}"
        rad = np.asarray(radius, fdtype) if jit else radius

        def build(a, rr):
            return pl.UnitNorm(a, rr)(_identity)

        problem = _data_problem(x)
        if problem:
            return refuse(build, (x, rad), problem)
        rr = LD(float(np.asarray(rad, np.float64)))
        if not (np.isfinite(rr) and rr > 0):
            return refuse(build, (x, rad), "radius")
        sq = np.sum(xl.reshape(xl.shape[0], -1) ** 2, axis=-1)
        v = np.mean((sq - rr**2) ** 2)
        scale = np.mean((sq + rr**2) ** 2)
        return Case(kind, build, (x, rad), Ref(True, v, scale, base), desc)
    return _weight_case(data, rng, fdtype, jit, wdtype, base)


def _weight_case(data, rng, fdtype, jit, wdtype, base) -> Case:
    """Term weights: w * term, w1 * (w2 * term), term / w, NumPy arrays of weights."""
    n = data.draw(st.sampled_from([1, 3, 6]))
    big = 1e150 if fdtype == np.float64 else 1e15
    x = (rng.standard_normal(n) * data.draw(st.sampled_from([1.0, 1 / big, big]))).astype(fdtype)
    y = np.zeros(n, fdtype)
    form = data.draw(st.sampled_from(["mul", "mul2", "div", "array", "sum"]), label="form")
    w1 = data.draw(st.sampled_from(WEIGHTS), label="w1")
    w2 = data.draw(st.sampled_from(WEIGHTS), label="w2")
    k = data.draw(st.sampled_from([1, 1, 2]), label="k")
    desc = f"weight {form} w1={w1:g} w2={w2:g} k={k} x~{np.abs(x).max():.3g}{x.dtype}"
    info = np.finfo(wdtype)

    def cast(w):  # what the weight is once it reaches the library
        return float(np.asarray(w, np.float64).astype(wdtype)) if jit else w

    def in_range(w) -> bool:
        w = LD(w)
        return w == 0 or (np.isfinite(w) and LD(float(info.tiny)) <= abs(w) <= LD(float(info.max)))

    def nonneg(w) -> bool:
        return not math.isnan(w) and w >= 0

    v = np.mean(_ld(x) ** 2)
    if form == "mul":

        def build(a, b, w):
            return (w * pl.DataMSE(a, b))(_identity)

        args, ws, total = (x, y, np.asarray(w1, wdtype) if jit else w1), [w1], LD(cast(w1))
    elif form == "mul2":

        def build(a, b, wa, wb):
            return (wa * (wb * pl.DataMSE(a, b)))(_identity)

        wa, wb = (np.asarray(w1, wdtype), np.asarray(w2, wdtype)) if jit else (w1, w2)
        args, ws, total = (x, y, wa, wb), [w1, w2], LD(cast(w1)) * LD(cast(w2))
    elif form == "div":

        def build(a, b, w):
            return (pl.DataMSE(a, b) / w)(_identity)

        w = np.asarray(w1, wdtype) if jit else w1
        args, ws = (x, y, w), [w1]
        c1 = cast(w1)
        total = LD(1) / LD(c1) if c1 != 0 and math.isfinite(c1) else LD(np.nan)
    elif form == "array":

        def build(a, b, w):
            return (w * pl.DataMSE(a, b))(_identity)

        arr = np.full(k, w1, np.float64 if not jit else wdtype)
        args, ws, total = (x, y, arr), [w1], LD(cast(w1))
    else:

        def build(a, b, wa, wb):
            return (wa * pl.DataMSE(a, b) + wb * pl.DataMSE(b, a))(_identity)

        wa, wb = (np.asarray(w1, wdtype), np.asarray(w2, wdtype)) if jit else (w1, w2)
        args, ws, total = (x, y, wa, wb), [w1, w2], (LD(cast(w1)) + LD(cast(w2)))
    casts = [cast(w) for w in ws]
    if form == "array" and k != 1:
        return Case("weight", build, args, Ref(False, why="array of 2 weights"), desc)
    if not all(nonneg(w) and math.isfinite(w) for w in casts):
        return Case("weight", build, args, Ref(False, why="weight sign/finite"), desc)
    if form == "div" and casts[0] == 0:
        return Case("weight", build, args, Ref(False, why="divide by 0"), desc)
    if not all(in_range(w) for w in casts):
        return Case("weight", build, args, Ref(False, why="weight not normal"), desc)
    if form == "div" and not in_range(1 / LD(casts[0])):
        return Case("weight", build, args, Ref(False, why="1/w not normal"), desc)
    if form == "mul2" and not in_range(LD(casts[0]) * LD(casts[1])):
        return Case("weight", build, args, Ref(False, why="weight product not normal"), desc)
    return Case("weight", build, args, Ref(True, total * v, rtol=base), desc)


# ---- running and classifying ----------------------------------------------------------


def _run(case: Case, jit: bool):
    if jit:
        return jax.block_until_ready(jax.jit(case.build)(*case.args))
    return case.build(*case.args)


_RUNTIME = re.compile(r"EquinoxRuntimeError: (.+?)(?:\n|$)")


def _runtime_refusal(err: BaseException) -> bool:
    """A run-time check of ours (eqx.error_if inside pinnloss) — the message, but wrapped."""
    return bool(_RUNTIME.search(str(err)))


def classify(case: Case, jit: bool) -> tuple[str, str]:
    ref = case.ref
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _run(case, jit)
    except ValueError as e:
        return ("refused" if ref.valid is not True else "over-refused"), str(e).split("\n")[0]
    except Exception as e:  # noqa: BLE001 - classifying is the point
        if jit and _runtime_refusal(e):
            cat = "refused-run" if ref.valid is not True else "over-refused"
            return cat, _RUNTIME.search(str(e)).group(1)
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        return "traceback", f"{type(e).__name__}: {tb[:300]}"
    got = np.asarray(out)
    if got.shape != ():
        return "silent", f"not a scalar: shape {got.shape}"
    g = LD(float(got))
    if ref.valid is False:
        if ref.nonfinite_ok and not np.isfinite(g):
            return "correct", "non-finite in, non-finite out"
        return "silent", f"a value {float(g):.6g} for refused input ({ref.why})"
    if ref.nonfinite_ok and not np.isfinite(g):
        return "correct", "non-finite in, non-finite out"
    if ref.valid is None and ref.value is None:
        return "correct", "either"
    v = ref.value
    info = np.finfo(got.dtype)
    if not np.isfinite(v) and not np.isfinite(g):
        return "correct", "non-finite reference"
    if abs(v) > LD(float(info.max)) * (1 - 1e-3):
        return ("correct", "overflow -> inf") if np.isinf(g) else ("silent", f"{float(g):.6g}")
    scale = abs(v) if ref.scale is None else abs(LD(ref.scale))
    tol = LD(ref.rtol) * scale + LD(float(info.tiny)) * 4
    if np.isfinite(g) and abs(g - v) <= tol:
        return "correct", ""
    return "silent", f"got {float(g):.8g}, reference {float(v):.8g} (tol {float(tol):.2g})"


def fuzz(precision: str, jit: bool, examples: int, seed: int) -> tuple[Counter, list]:
    x64, fdtype = PRECISIONS[precision]
    counts: Counter = Counter()
    bad: list = []

    @fixed_seed(seed * 1000 + list(PRECISIONS).index(precision) * 10 + int(jit))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data):
        with jax.enable_x64(x64):
            wdtype = np.dtype(jnp.result_type(float))
            which = data.draw(st.sampled_from(["loss", "term"]), label="which")
            case = (_loss_case if which == "loss" else _term_case)(
                data, fdtype, jit, *(() if which == "loss" else (wdtype,))
            )
            cat, note = classify(case, jit)
        counts[cat] += 1
        if cat in ("silent", "traceback", "over-refused"):
            bad.append((cat, case.desc, case.ref.why, note))

    one()
    return counts, bad


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=150, help="cases per precision and mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=3, help="examples of each bad class to print")
    ap.add_argument("--precisions", default="x64,x64-f32,x32")
    ap.add_argument("--modes", default="eager,jit")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    # a run-time refusal under jax.jit also logs its traceback; the table is the output
    logging.getLogger("jax._src.callback").setLevel(logging.CRITICAL)
    t0 = time.perf_counter()
    header = f"{'precision':10s} {'mode':6s} " + " ".join(f"{c:>12s}" for c in CATEGORIES)
    print(header)
    total: Counter = Counter()
    shown: list = []
    for precision in args.precisions.split(","):
        for mode in args.modes.split(","):
            counts, bad = fuzz(precision, mode == "jit", args.examples, args.seed)
            total += counts
            print(f"{precision:10s} {mode:6s} " + " ".join(f"{counts[c]:12d}" for c in CATEGORIES))
            for cat in ("silent", "traceback", "over-refused"):
                shown += [(precision, mode, *b) for b in bad if b[0] == cat][: args.show]
    print(f"{'all':10s} {'':6s} " + " ".join(f"{total[c]:12d}" for c in CATEGORIES))
    print(f"{sum(total.values())} cases in {time.perf_counter() - t0:.0f} s")
    for precision, mode, cat, desc, why, note in shown:
        print(f"- [{precision} {mode}] {cat}: {desc}" + (f" ({why})" if why else ""))
        print(f"    {note}")


if __name__ == "__main__":
    main()
