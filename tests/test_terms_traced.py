"""Every public term built *inside* traced code: under jit, vmap, lax.map and grad, with
Python-constant arguments and with traced arguments; values against the eager value.

Since JAX 0.10 `jnp.asarray(11.9)` inside traced code is a tracer, so a constructor that
decided concreteness after converting its argument could not be built there. A bad
concrete argument must still raise a `ValueError` at build time inside jit, and a bad
traced argument must raise at run time (`eqx.error_if`) with a message naming it.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import Poly, Vec

import pinnloss as pl
from pinnloss import eos
from pinnloss import losses as L


class Column(eqx.Module):
    """An E(V) model returning shape (1,) per volume, as some nets do."""

    inner: eos.BirchMurnaghan

    def __call__(self, v):
        return jnp.reshape(self.inner(v), (1,))


BM = eos.BirchMurnaghan(e0=-3.7, v0=11.95, b0=0.88, b1=5.05)
MODELS = {
    "poly": Poly(jnp.array([0.3, -1.2, 0.7, 0.5])),
    "vec": Vec(
        jax.random.normal(jax.random.key(1), (4, 2)), jax.random.normal(jax.random.key(2), (3, 4))
    ),
    "bm": BM,
    "column": Column(BM),
}

X = np.linspace(-1.0, 2.0, 7)
Y = np.cos(X)
XV = np.asarray(jax.random.normal(jax.random.key(3), (5, 2)))
COV = 0.1 * np.eye(7) + 0.05
R = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])


def _residual(m, x):
    return jax.grad(m)(x) - x


# name: (build(*args) -> term, constant args, model)
CASES = {
    "data_mse": (lambda x, y: pl.DataMSE(x, y), (X, Y), "poly"),
    "data_mse_weights": (
        lambda x, y, w: pl.DataMSE(x, y, weights=w),
        (X, Y, np.linspace(0.2, 1.0, 7)),
        "poly",
    ),
    "data_mse_cov": (lambda x, y, c: pl.DataMSE(x, y, cov=c), (X, Y, COV), "poly"),
    "quadratic_mse": (
        lambda x, y, r: pl.QuadraticMSE(x, y, r),
        (XV, np.full((5, 3), 0.5), R),
        "vec",
    ),
    "data_loss": (lambda x, y: pl.DataLoss(x, y, loss=L.huber), (X, 2 * Y), "poly"),
    "residual": (lambda p: pl.Residual(_residual, p), (X,), "poly"),
    "derivative": (lambda a, t: pl.Derivative(a, 2, t), (0.4, 1.0), "poly"),
    "derivative_3": (lambda a, t: pl.Derivative(a, 3, t), (0.4, 0.1), "poly"),
    "derivative_vec": (
        lambda a, t: pl.Derivative(a, 1, t),
        (np.array([0.3, -0.2]), np.full((3, 2), 0.1)),
        "vec",
    ),
    "unit_norm": (lambda x, r: pl.UnitNorm(x, radius=r), (XV, 1.5), "vec"),
    "zero_pressure": (lambda v0: eos.ZeroPressure(v0=v0), (11.9,), "bm"),
    "zero_pressure_column": (lambda v0: eos.ZeroPressure(v0=v0), (11.9,), "column"),
    "bulk_modulus": (lambda v0, b0: eos.BulkModulus(v0=v0, b0=b0), (11.9, 0.8), "bm"),
    "bulk_modulus_derivative": (
        lambda v0, b1: eos.BulkModulusDerivative(v0=v0, b1=b1),
        (11.9, 4.5),
        "bm",
    ),
    "pressure_data": (
        lambda v, p: eos.PressureData(v, p),
        (np.array([11.0, 12.0, 13.0]), np.array([0.1, 0.0, -0.05])),
        "column",
    ),
    "weighted": (lambda w, x, y: w * pl.DataMSE(x, y), (2.5, X, Y), "poly"),
    "weighted_right": (lambda w, x, y: pl.DataMSE(x, y) * w, (2.5, X, Y), "poly"),
    "sum": (
        lambda w, a: pl.DataMSE(X, Y) + w * pl.Derivative(a, 1, 0.0),
        (3.0, 0.2),
        "poly",
    ),
    "divide": (lambda w: pl.DataMSE(X, Y) / w, (4.0,), "poly"),
    "sum_eos": (
        lambda v0, b0: 1e2 * eos.ZeroPressure(v0=v0) + eos.BulkModulus(v0=v0, b0=b0),
        (11.9, 0.8),
        "bm",
    ),
}


def _evaluate(name):
    build, args, which = CASES[name]
    model = MODELS[which]
    return (lambda *a: build(*a)(model)), build, args, model


def _close(got, want, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


def _shift(args, s):
    """Every argument moved by `s` (keeps weights, covariances, volumes valid for small s)."""
    return tuple(np.asarray(a, dtype=np.float64) + s for a in args)


@pytest.mark.parametrize("mode", ["constant", "traced"])
@pytest.mark.parametrize("context", ["jit", "vmap", "lax_map", "grad"])
@pytest.mark.parametrize("name", list(CASES))
def test_term_builds_and_evaluates_in_traced_code(name, context, mode):
    f, build, args, model = _evaluate(name)
    eager = f(*args)
    assert eager.shape == () and np.isfinite(eager)
    if context == "jit":
        if mode == "constant":
            got = jax.jit(lambda: f(*args))()
        else:
            got = jax.jit(f)(*(jnp.asarray(a) for a in args))
        _close(got, eager)
    elif context in ("vmap", "lax_map"):
        if mode == "constant":
            body = lambda i: f(*args) * (1.0 + 0.0 * i)
            ins = jnp.arange(2.0)
            want = [eager, eager]
        else:
            other = _shift(args, 0.01)
            ins = tuple(jnp.stack([jnp.asarray(a, jnp.float64), b]) for a, b in zip(args, other))
            body = lambda a: f(*a)
            want = [eager, f(*other)]
        got = jax.vmap(body)(ins) if context == "vmap" else jax.lax.map(body, ins)
        _close(got, want)
    else:
        if mode == "constant":
            # grad of a traced weight on a term built from constants: the term's value
            got = jax.grad(lambda s: (s * build(*args))(model))(2.0)
            _close(got, eager)
        else:
            # grad along a shift of every argument, against a central finite difference
            g = jax.grad(lambda s: f(*(jnp.asarray(a) + s for a in args)))(0.0)
            h = 1e-6
            fd = (f(*_shift(args, h)) - f(*_shift(args, -h))) / (2 * h)
            _close(g, fd, rtol=1e-6, atol=1e-8)


def test_terms_built_under_eqx_filter_jit_and_vmap_of_jit():
    """Nested transformations: vmap over a jitted builder, and eqx.filter_jit with a model."""
    v0s = jnp.array([11.5, 11.9, 12.3])
    got = jax.vmap(jax.jit(lambda v: eos.BulkModulus(v0=v, b0=0.8)(BM)))(v0s)
    want = [eos.BulkModulus(v0=float(v), b0=0.8)(BM) for v in v0s]
    _close(got, want)
    got = eqx.filter_jit(lambda m: (eos.ZeroPressure(v0=11.9) + pl.Derivative(11.9, 2, 0.1))(m))(BM)
    _close(got, eos.ZeroPressure(v0=11.9)(BM) + pl.Derivative(11.9, 2, 0.1)(BM))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: eos.ZeroPressure(v0=-1.0), r"ZeroPressure: v0 must be positive; got -1.0"),
        (
            lambda: eos.BulkModulus(v0=11.0, b0=np.float32(-0.1)),
            r"BulkModulus: b0 must be positive",
        ),
        (lambda: eos.BulkModulusDerivative(v0=11.0, b1=np.inf), r"b1 must be finite"),
        (lambda: eos.PressureData([-11.0, 12.0], [0.1, 0.2]), "volumes must be positive"),
        (lambda: pl.DataMSE(X, np.where(X > 0, np.nan, Y)), r"y contains \d NaN"),
        (lambda: pl.DataMSE(X, Y, weights=-np.ones(7)), "weights must be non-negative"),
        (lambda: pl.DataMSE(X, Y, cov=-np.eye(7)), "not positive definite"),
        (lambda: pl.UnitNorm(XV, radius=0.0), "radius must be positive"),
        (lambda: pl.Derivative(np.zeros((0,)), 1, 0.0), "at is empty"),
        (lambda: -1.0 * pl.DataMSE(X, Y), "term weight must be non-negative"),
        (lambda: pl.DataMSE(X, Y) / 0.0, "divisor w must be positive"),
    ],
)
def test_bad_concrete_argument_raises_at_build_time_inside_jit(build, match):
    def body():
        build()
        return jnp.zeros(())

    with pytest.raises(ValueError, match=match):
        jax.jit(body)()


# (function of one traced argument, bad value, text the error must contain)
TRACED_BAD = {
    "v0": (lambda v: eos.ZeroPressure(v0=v)(BM), -1.0, "ZeroPressure: v0 must be positive"),
    "v0_nan": (lambda v: eos.ZeroPressure(v0=v)(BM), np.nan, "ZeroPressure: v0 must be finite"),
    "b0": (lambda b: eos.BulkModulus(v0=11.9, b0=b)(BM), -0.5, "BulkModulus: b0 must be positive"),
    "b1": (
        lambda b: eos.BulkModulusDerivative(v0=11.9, b1=b)(BM),
        np.inf,
        "BulkModulusDerivative: b1 must be finite",
    ),
    "volume": (
        lambda v: eos.PressureData(jnp.stack([v, 12.0]), [0.1, 0.0])(BM),
        -11.0,
        "PressureData: volumes must be positive",
    ),
    "y": (
        lambda t: pl.DataMSE(X, jnp.asarray(Y).at[0].set(t))(MODELS["poly"]),
        np.nan,
        "y contains NaN or inf",
    ),
    "weights": (
        lambda w: pl.DataMSE(X, Y, weights=jnp.ones(7).at[2].set(w))(MODELS["poly"]),
        -1.0,
        "weights must be non-negative",
    ),
    "cov": (
        lambda s: pl.DataMSE(X, Y, cov=s * jnp.eye(7))(MODELS["poly"]),
        -1.0,
        "cov is not positive definite",
    ),
    "R": (
        lambda s: pl.QuadraticMSE(XV, np.zeros((5, 3)), s * jnp.eye(3))(MODELS["vec"]),
        -1.0,
        "R is not positive semi-definite",
    ),
    "radius": (
        lambda r: pl.UnitNorm(XV, radius=r)(MODELS["vec"]),
        -2.0,
        "radius must be positive",
    ),
    "weight": (
        lambda w: (w * pl.DataMSE(X, Y))(MODELS["poly"]),
        -1.0,
        "term weight must be non-negative",
    ),
    "at": (
        lambda a: pl.Derivative(a, 1, 0.0)(MODELS["poly"]),
        np.inf,
        "at contains NaN or inf",
    ),
    "delta": (lambda d: L.huber(jnp.zeros(3), jnp.ones(3), d), -1.0, "huber: delta"),
}


@pytest.mark.parametrize("name", list(TRACED_BAD))
def test_bad_traced_argument_raises_at_run_time(name):
    fn, bad, text = TRACED_BAD[name]
    with pytest.raises(Exception, match=text):
        jax.block_until_ready(jax.jit(fn)(jnp.asarray(bad, jnp.float64)))
    # the same check under vmap (one bad entry in the batch) and eqx.filter_jit
    good = 11.9 if name.startswith(("v0", "volume")) else 0.5
    with pytest.raises(Exception, match=text):
        jax.block_until_ready(jax.vmap(fn)(jnp.array([good, bad])))
    with pytest.raises(Exception, match=text):
        jax.block_until_ready(eqx.filter_jit(fn)(jnp.asarray(bad, jnp.float64)))
    # a good traced value passes the check
    assert np.isfinite(jax.jit(fn)(jnp.asarray(good)))
