"""Terms: values against hand formulas, derivatives against finite differences,
behaviour under jit / vmap / grad, composition, recompilation and bad input."""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import Poly, Vec

import pinnloss as pl
from pinnloss import losses as L


@pytest.fixture
def poly():
    return Poly(jnp.array([0.3, -1.2, 0.7, 0.5]))


@pytest.fixture
def vec():
    k1, k2 = jax.random.split(jax.random.key(2))
    return Vec(jax.random.normal(k1, (4, 2)), jax.random.normal(k2, (3, 4)))


X = jnp.linspace(-1.0, 2.0, 11)
Y = jnp.cos(X)


def _f(poly, x):
    return np.asarray(jax.vmap(poly)(x))


def all_terms():
    xv = jax.random.normal(jax.random.key(3), (7, 2))
    return {
        "data_mse": (pl.DataMSE(X, Y), "poly"),
        "weighted": (pl.DataMSE(X, Y, weights=jnp.linspace(0.0, 1.0, 11)), "poly"),
        "gls": (pl.DataMSE(X, Y, cov=0.1 * jnp.eye(11) + 0.05), "poly"),
        "data_loss": (pl.DataLoss(X, Y, loss=L.huber), "poly"),
        "residual": (pl.Residual(lambda m, x: jax.grad(m)(x) - x, X), "poly"),
        "derivative": (pl.Derivative(0.4, 2, 1.0), "poly"),
        "unit_norm": (pl.UnitNorm(xv), "vec"),
        "quadratic": (
            pl.QuadraticMSE(xv, jnp.ones((7, 3)), jnp.diag(jnp.array([1.0, 2.0, 0.0]))),
            "vec",
        ),
    }


@pytest.mark.parametrize("name", list(all_terms()))
def test_term_eager_jit_vmap_grad(name, poly, vec):
    term, which = all_terms()[name]
    model = poly if which == "poly" else vec
    v = term(model)
    assert v.shape == () and np.isfinite(v)
    np.testing.assert_allclose(eqx.filter_jit(lambda t, m: t(m))(term, model), v, rtol=1e-13)
    # vmap over a batch of models (stacked parameters)
    models = jax.tree_util.tree_map(lambda a: jnp.stack([a, 1.1 * a, 0.9 * a]), model)
    vs = eqx.filter_vmap(lambda m: term(m))(models)
    np.testing.assert_allclose(vs[0], v, rtol=1e-13)
    scaled = jax.tree_util.tree_map(lambda a: 1.1 * a, model)
    np.testing.assert_allclose(vs[1], term(scaled), rtol=1e-13)
    # gradient against central finite differences along a random direction
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    fn = lambda p: term(eqx.combine(unravel(p), static))
    g = jax.grad(fn)(flat)
    d = jax.random.normal(jax.random.key(4), flat.shape)
    h = 1e-6
    fd = (fn(flat + h * d) - fn(flat - h * d)) / (2 * h)
    np.testing.assert_allclose(g @ d, fd, rtol=1e-6, atol=1e-9)
    # square terms: value is the sum of squares of the scaled residuals
    if term.is_square:
        np.testing.assert_allclose(jnp.sum(term.scaled_residuals(model) ** 2), v, rtol=1e-13)


def test_data_mse_values(poly):
    f = _f(poly, X)
    r = f - np.asarray(Y)
    np.testing.assert_allclose(pl.DataMSE(X, Y)(poly), np.mean(r**2), rtol=1e-13)
    mask = (np.arange(11) % 2).astype(float)
    np.testing.assert_allclose(
        pl.DataMSE(X, Y, weights=mask)(poly), np.mean(r[mask == 1] ** 2), rtol=1e-13
    )
    cov = np.asarray(0.1 * np.eye(11) + 0.05)
    white = np.linalg.solve(np.linalg.cholesky(cov), r)
    np.testing.assert_allclose(pl.DataMSE(X, Y, cov=cov)(poly), np.mean(white**2), rtol=1e-12)
    np.testing.assert_allclose(pl.DataMSE(X, Y, cov=cov)(poly), L.gls(f, Y, cov), rtol=1e-12)


def test_derivative_against_finite_differences(poly, vec):
    a, b, c, d = np.asarray(poly.c)
    x0 = 0.4
    exact = {1: b + 2 * c * x0 + d * np.cos(x0), 2: 2 * c - d * np.sin(x0), 3: -d * np.cos(x0)}
    f = lambda x: float(poly(x))
    h = 1e-3
    fd = {
        1: (f(x0 + h) - f(x0 - h)) / (2 * h),
        2: (f(x0 + h) - 2 * f(x0) + f(x0 - h)) / h**2,
        3: (f(x0 + 2 * h) - 2 * f(x0 + h) + 2 * f(x0 - h) - f(x0 - 2 * h)) / (2 * h**3),
    }
    for k in (1, 2, 3):
        term = pl.Derivative(x0, k, 0.0)
        np.testing.assert_allclose(term.derivative(poly), exact[k], rtol=1e-12)
        np.testing.assert_allclose(term.derivative(poly), fd[k], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(term(poly), exact[k] ** 2, rtol=1e-12)
    # vector input: Jacobian (3, 2) and second derivative (3, 2, 2) against finite differences
    x = jnp.array([0.3, -0.2])
    J = pl.Derivative(x, 1, jnp.zeros((3, 2))).derivative(vec)
    H = pl.Derivative(x, 2, 0.0).derivative(vec)
    assert J.shape == (3, 2) and H.shape == (3, 2, 2)
    eye = np.eye(2)
    for j in range(2):
        e = 1e-5 * eye[j]
        np.testing.assert_allclose(J[:, j], (vec(x + e) - vec(x - e)) / 2e-5, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(
            H[:, :, j],
            (jax.jacrev(vec)(x + e) - jax.jacrev(vec)(x - e)) / 2e-5,
            rtol=1e-6,
            atol=1e-8,
        )


def test_unit_norm_and_residual_values(vec, poly):
    xv = jax.random.normal(jax.random.key(3), (7, 2))
    n2 = np.sum(np.asarray(jax.vmap(vec)(xv)) ** 2, axis=1)
    np.testing.assert_allclose(pl.UnitNorm(xv)(vec), np.mean((n2 - 1) ** 2), rtol=1e-13)
    np.testing.assert_allclose(pl.UnitNorm(xv, radius=2.0)(vec), np.mean((n2 - 4) ** 2), rtol=1e-13)
    a, b, c, d = np.asarray(poly.c)
    x = np.asarray(X)
    slope = b + 2 * c * x + d * np.cos(x)
    np.testing.assert_allclose(
        pl.Residual(lambda m, x: jax.grad(m)(x) - x, X)(poly), np.mean((slope - x) ** 2), rtol=1e-12
    )


def test_weighted_sums_equal_hand_formula(poly):
    t1, t2, t3 = pl.DataMSE(X, Y), pl.Derivative(0.0, 1, 1.0), pl.Derivative(0.5, 2, 0.0)
    obj = t1 + 3.0 * t2 + t3 * 0.25
    expect = t1(poly) + 3.0 * t2(poly) + 0.25 * t3(poly)
    np.testing.assert_allclose(obj(poly), expect, rtol=1e-14)
    assert obj.names == ("data_mse", "derivative", "derivative_2")
    bd = obj.breakdown(poly)
    np.testing.assert_allclose(bd["derivative"], t2(poly), rtol=1e-14)
    np.testing.assert_allclose(bd["derivative_2"], t3(poly), rtol=1e-14)
    # flat: weighting a sum scales every weight, sums of sums stay one level
    obj2 = 2.0 * (obj + t1)
    assert len(obj2.terms) == 4
    np.testing.assert_allclose(obj2(poly), 2 * (expect + t1(poly)), rtol=1e-14)
    np.testing.assert_allclose(jnp.sum(obj.scaled_residuals(poly) ** 2), expect, rtol=1e-13)
    np.testing.assert_allclose(sum([t1, t2])(poly), t1(poly) + t2(poly), rtol=1e-14)


def test_new_weights_never_recompile(poly):
    @eqx.debug.assert_max_traces(max_traces=1)
    def value(obj, model):
        return obj(model)

    jitted = eqx.filter_jit(value)
    t1, t2 = pl.DataMSE(X, Y), pl.Derivative(0.0, 1, 1.0)
    results = [jitted(w1 * t1 + w2 * t2, poly) for w1, w2 in [(1.0, 2.0), (3.0, 0.5), (0.1, 1e3)]]
    np.testing.assert_allclose(results[1], 3 * t1(poly) + 0.5 * t2(poly), rtol=1e-14)
    # vmapping over weights: one call
    ws = jnp.array([0.0, 1.0, 10.0])
    vals = jax.vmap(lambda w: (t1 + w * t2)(poly))(ws)
    np.testing.assert_allclose(vals, t1(poly) + ws * t2(poly), rtol=1e-14)


def test_nonsquare_objective_has_no_residuals(poly):
    obj = pl.DataMSE(X, Y) + pl.DataLoss(X, Y, loss=L.mae)
    assert not obj.is_square
    with pytest.raises(ValueError, match="data_mae"):
        obj.scaled_residuals(poly)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: pl.DataMSE(jnp.zeros(5), jnp.zeros(4)), r"DataMSE.*5 points.*4"),
        (lambda: pl.DataMSE(jnp.zeros(3), jnp.array([1.0, jnp.nan, 2.0])), r"y contains 1 NaN"),
        (lambda: pl.DataMSE(jnp.array([1.0, jnp.inf]), jnp.zeros(2)), r"x contains 1 NaN or inf"),
        (
            lambda: pl.DataMSE(jnp.zeros(3), jnp.zeros(3), weights=jnp.zeros(3)),
            "all weights are zero",
        ),
        (
            lambda: pl.DataMSE(jnp.zeros(3), jnp.zeros(3), weights=jnp.array([1.0, -1, 1])),
            "non-negative",
        ),
        (
            lambda: pl.DataMSE(jnp.zeros(2), jnp.zeros(2), cov=jnp.array([[1.0, 2], [2, 1]])),
            "positive definite",
        ),
        (
            lambda: pl.DataMSE(jnp.zeros(2), jnp.zeros(2), cov=jnp.array([[1.0, 0.1], [0, 1]])),
            "not symmetric",
        ),
        (lambda: pl.DataMSE(jnp.zeros(3), jnp.zeros(3), cov=jnp.eye(2)), r"cov has shape \(2, 2\)"),
        (lambda: pl.DataMSE(jnp.zeros(0), jnp.zeros(0)), "empty"),
        (lambda: pl.Residual(lambda m, x: m(x), jnp.zeros((0, 2))), r"Residual.*points is empty"),
        (lambda: pl.Derivative(0.0, 0, 0.0), "order must be an integer >= 1"),
        (lambda: pl.Derivative(jnp.nan, 1, 0.0), "at contains"),
        (lambda: pl.UnitNorm(jnp.zeros((3, 2)), radius=-1.0), "radius must be positive"),
        (
            lambda: pl.QuadraticMSE(jnp.zeros((3, 2)), jnp.zeros((3, 2)), -jnp.eye(2)),
            "semi-definite",
        ),
        (lambda: -1.0 * pl.DataMSE(jnp.zeros(3), jnp.zeros(3)), "weight must be non-negative"),
        (lambda: jnp.ones(2) * pl.DataMSE(jnp.zeros(3), jnp.zeros(3)), "weight must be a scalar"),
    ],
)
def test_bad_input_at_build_time(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_column_vector_targets_are_refused(poly):
    term = pl.DataMSE(X, Y[:, None])
    with pytest.raises(ValueError, match=r"DataMSE\('data_mse'\).*\(11,\).*\(11, 1\).*\(N, N\)"):
        term(poly)
    with pytest.raises(ValueError, match=r"Derivative.*shape \(\).*target has shape \(2,\)"):
        pl.Derivative(0.0, 1, jnp.zeros(2))(poly)


# --- defects: each test failed before the fix -------------------------------------------


@pytest.mark.parametrize("scale", [1e308, 5e-324, 1e-310])
def test_data_mse_weights_at_the_ends_of_the_float_range(poly, scale):
    r = _f(poly, X) - np.asarray(Y)
    mask = (np.arange(11) % 2).astype(float)
    term = pl.DataMSE(X, Y, weights=mask * scale)  # was 0.0 (1e308) or NaN (subnormal)
    want = np.mean(r[mask == 1] ** 2)
    np.testing.assert_allclose(term(poly), want, rtol=1e-13)
    np.testing.assert_allclose(jnp.sum(term.scaled_residuals(poly) ** 2), want, rtol=1e-13)
    np.testing.assert_allclose(eqx.filter_jit(lambda t, m: t(m))(term, poly), want, rtol=1e-13)


def test_data_mse_gradient_with_respect_to_weights_with_a_zero_weight(poly):
    r2 = (_f(poly, X) - np.asarray(Y)) ** 2
    w = jnp.linspace(0.0, 1.0, 11)
    g = jax.grad(lambda w: pl.DataMSE(X, Y, weights=w)(poly))(w)
    s = float(jnp.sum(w))
    np.testing.assert_allclose(g, (r2 - np.sum(w * r2) / s) / s, rtol=1e-12, atol=1e-14)


def test_int_and_bool_data_are_promoted(poly):
    xi = np.arange(5)
    yi = np.array([1, 0, 2, 1, 3], np.int32)
    want = np.mean((_f(poly, xi.astype(float)) - yi) ** 2)
    term = pl.DataMSE(xi, yi, weights=np.ones(5, bool))
    assert term.x.dtype == term.y.dtype == term.weights.dtype == jnp.float64
    np.testing.assert_allclose(term(poly), want, rtol=1e-13)
    np.testing.assert_allclose(pl.Derivative(1, 1, 0)(poly), pl.Derivative(1.0, 1, 0.0)(poly))


@pytest.mark.parametrize(
    "build, arg",
    [
        (lambda c: pl.DataMSE(X, Y + c), "y"),
        (lambda c: pl.DataMSE(X + c, Y), "x"),
        (lambda c: pl.DataMSE(X, Y, weights=jnp.ones(11) + c), "weights"),
        (lambda c: pl.DataMSE(X, Y, cov=jnp.eye(11) + c), "cov"),
        (lambda c: pl.DataLoss(X, Y + c, loss=L.mae), "y"),
        (lambda c: pl.Residual(lambda m, x: m(x), X + c), "points"),
        (lambda c: pl.Derivative(0.5 + c, 1, 0.0), "at"),
        (lambda c: pl.Derivative(0.5, 1, c), "target"),
        (lambda c: pl.UnitNorm(jnp.ones((3, 2)), radius=1.0 + c), "radius"),
        (lambda c: c * pl.DataMSE(X, Y), "term weight"),
    ],
)
def test_complex_data_are_refused(build, arg):
    # complex data gave complex "losses"
    with pytest.raises(ValueError, match=rf"{arg} must be real; got complex"):
        build(1j)

    def traced(c):
        build(c)
        return 0.0

    with pytest.raises(ValueError, match=rf"{arg} must be real"):
        jax.jit(traced)(jnp.asarray(1j))


def test_derivative_at_an_empty_point_is_refused(poly):
    # it returned 0
    with pytest.raises(
        ValueError, match=r"Derivative\('derivative'\): at is empty \(shape \(0,\)\)"
    ):
        pl.Derivative(jnp.zeros((0,)), 1, 0.0)
    with pytest.raises(ValueError, match="at is empty"):
        jax.jit(lambda a: pl.Derivative(a, 1, 0.0).at)(jnp.zeros((0,)))


def test_float32_covariance_that_a_float32_cholesky_turns_into_nan(poly):
    from test_validate import ILL_COV32

    x3, y3 = X[:3], Y[:3].astype(jnp.float32)
    term = pl.DataMSE(x3, y3, cov=ILL_COV32)  # passed the float64 check, then gave NaN
    assert term.chol.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(term.chol)))
    r = _f(poly, x3) - np.asarray(y3, np.float64)
    want = np.mean(np.linalg.solve(np.linalg.cholesky(ILL_COV32.astype(np.float64)), r) ** 2)
    np.testing.assert_allclose(term(poly), want, rtol=1e-3)


def test_weight_products_that_overflow_or_underflow_are_refused(poly):
    term = pl.DataMSE(X, Y)
    with pytest.raises(
        ValueError, match=r"1e\+308 times the weight 1e\+308 .*'data_mse' overflows"
    ):
        1e308 * (1e308 * term)  # was a weight of inf: the value inf, or NaN for a 0 term
    with pytest.raises(ValueError, match=r"'data_mse' underflows float64"):
        1e-200 * (1e-200 * term)  # was a weight flushed to 0: the term silently dropped
    # in range, the product is exact and the value right; 0 still drops a term on purpose
    np.testing.assert_allclose((1e150 * (1e150 * term))(poly), 1e300 * term(poly), rtol=1e-14)
    np.testing.assert_allclose((0.0 * (1e300 * term))(poly), 0.0)
    # traced weights: the same refusal by error_if
    f = jax.jit(lambda a, b: (a * (b * term))(poly))
    with pytest.raises(Exception, match="a product of term weights overflows or underflows"):
        jax.block_until_ready(f(jnp.asarray(1e308), jnp.asarray(1e308)))
    with pytest.raises(Exception, match="a product of term weights overflows or underflows"):
        jax.block_until_ready(f(jnp.asarray(1e-200), jnp.asarray(1e-200)))
    np.testing.assert_allclose(f(jnp.asarray(1e150), jnp.asarray(1e150)), 1e300 * term(poly))


def test_numpy_and_jax_arrays_of_one_element_weight_a_term(poly):
    term = pl.DataMSE(X, Y)
    want = 2.0 * term(poly)
    # NumPy's __mul__ used to win and broadcast over the term: "'ndarray' is not callable"
    for w in (np.full(1, 2.0), np.full((1, 1), 2.0), np.float64(2.0), np.float32(2.0)):
        np.testing.assert_allclose((w * term)(poly), want, rtol=1e-7)
        np.testing.assert_allclose((term * w)(poly), want, rtol=1e-7)
    np.testing.assert_allclose((jnp.full(1, 2.0) * term)(poly), want, rtol=1e-14)
    np.testing.assert_allclose((term / np.full(1, 0.5))(poly), want, rtol=1e-14)
    for w in (np.ones(2), jnp.ones((2, 1)), np.ones(0)):
        with pytest.raises(ValueError, match=r"term weight must be a scalar \(or an array of one"):
            w * term


def test_weights_out_of_the_normal_range_of_the_dtype(poly):
    x32, y32 = X.astype(jnp.float32), Y.astype(jnp.float32)
    term = pl.DataMSE(x32, y32)
    # x64 on: term weights are float64; a float64 subnormal is flushed to 0 by XLA
    with pytest.raises(ValueError, match=r"1e-310 is below the smallest normal float64"):
        1e-310 * term
    with pytest.raises(ValueError, match=r"1 / divisor w = 1e-308 is below"):
        term / 1e308
    # a float32 weight of 1e-40 is a normal float64: computed exactly in float64
    w = np.float32(1e-40)
    np.testing.assert_allclose((w * term)(poly), float(w) * float(term(poly)), rtol=1e-6)
    with jax.enable_x64(False):
        model32 = lambda v: 0.5 * v + 0.25  # noqa: E731
        x, y = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32)
        term = pl.DataMSE(x, y)
        for w, match in [
            (1e-310, "below the smallest normal float32"),
            (1e-40, "below the smallest normal float32"),
            (1e308, r"1e\+308 overflows float32"),
        ]:
            with pytest.raises(ValueError, match=match):
                w * term
        with pytest.raises(ValueError, match=r"1 / divisor w = 1e-38 is below"):
            term / 1e38
        with pytest.raises(ValueError, match="overflows float32"):
            1e20 * (1e20 * term)
        f = jax.jit(lambda w: (w * term)(model32))
        with pytest.raises(Exception, match="term weight is below the smallest normal float32"):
            jax.block_until_ready(f(jnp.asarray(1e-40, jnp.float32)))
        # per-point float64 weights the float32 computation cannot hold: rescaled exactly
        plain = term(model32)
        for s in (1e308, 1e-310):
            got = pl.DataMSE(x, y, weights=np.full(11, s))(model32)
            np.testing.assert_allclose(got, plain, rtol=1e-6)
            np.testing.assert_allclose(L.weighted_mse(x, y, np.full(11, s)), L.mse(x, y), 1e-6)
