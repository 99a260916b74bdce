"""The argument checks (pinnloss._validate) and the derivative engine (pinnloss._derivatives)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinnloss import _derivatives as D
from pinnloss import _validate as V

# an SPD float32 covariance (smallest eigenvalue 7e-9 in float64) whose float32 Cholesky is NaN
ILL_COV32 = np.array(
    [
        [0.022750161588191986, -0.13153591752052307, 0.07004101574420929],
        [-0.13153591752052307, 0.7613057494163513, -0.4054836332798004],
        [0.07004101574420929, -0.4054836332798004, 0.21597939729690552],
    ],
    np.float32,
)


def test_one_check_of_each_kind_is_shared():
    import importlib.util

    from pinnloss import _solve, _terms, losses
    from pinnloss.extras import _samples

    assert importlib.util.find_spec("pinnloss._checks") is None  # no second home of checks
    assert _solve.check_int is V.check_int and _samples.check_scalar is V.check_scalar
    assert _terms._concrete is V.is_concrete and _terms.as_data is V.as_data
    assert losses.check_same_shape is V.check_same_shape


def test_check_int():
    assert V.check_int("f", "n", np.int32(3), minimum=1) == 3
    for bad in (0, True, 1.5, "2"):
        with pytest.raises(ValueError, match=r"f: n must be a positive integer; got"):
            V.check_int("f", "n", bad, minimum=1)


def test_is_concrete_and_host_value():
    assert V.is_concrete((1.0, np.ones(2), jnp.ones(2)))
    assert V.host_value("f", "x", [1, 2]).tolist() == [1, 2]

    @jax.jit
    def inside(t):
        # a Python number is concrete inside jit; jnp.asarray of it and the argument are not
        assert V.is_concrete(11.9) and V.host_value("f", "x", 11.9) == 11.9
        assert not V.is_concrete(jnp.asarray(11.9)) and not V.is_concrete([t, 1.0])
        assert V.host_value("f", "x", [t, 1.0]) is None
        return t

    inside(1.0)
    with pytest.raises(ValueError, match="f: x must be an array or a number; got list"):
        V.host_value("f", "x", [[1.0], [1.0, 2.0]])  # ragged


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        (-1.0, dict(positive=True), r"^Z: v0 must be positive; got -1.0\.$"),
        (np.float32(-1.0), dict(positive=True), "v0 must be positive"),
        (0.0, dict(positive=True), "v0 must be positive"),
        (-1e-3, dict(nonnegative=True), "v0 must be non-negative"),
        (np.nan, {}, "v0 must be finite; got nan"),
        ([1.0, 2.0], {}, r"v0 must be a scalar; got shape \(2,\)"),
        (1 + 2j, {}, "v0 must be real; got complex"),
        ("a", {}, "v0 must be numeric"),
    ],
)
def test_check_scalar_concrete(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        V.check_scalar("Z", "v0", x, **kwargs)


def test_check_scalar_values_and_traced():
    out = V.check_scalar("Z", "v0", 3, positive=True)
    assert out.dtype == jnp.float64 and out == 3.0
    assert V.check_scalar("Z", "v0", True).dtype == jnp.float64
    assert V.check_scalar("Z", "v0", np.float32(2.0)).dtype == jnp.float32
    f = jax.jit(lambda v: V.check_scalar("Z", "v0", v, positive=True) * 2)
    assert f(1.5) == 3.0
    assert f(5e-324) == 1e-323  # a positive subnormal is positive, even where XLA flushes it
    with pytest.raises(Exception, match="Z: v0 must be positive"):
        jax.block_until_ready(f(-1.0))
    with pytest.raises(Exception, match="Z: v0 must be finite"):
        jax.block_until_ready(f(jnp.inf))
    with pytest.raises(ValueError, match=r"v0 must be a scalar; got shape \(2,\)"):
        jax.jit(lambda v: V.check_scalar("Z", "v0", v))(jnp.ones(2))
    # the gradient passes through the check
    np.testing.assert_allclose(jax.grad(lambda v: V.check_scalar("Z", "v0", v) ** 2)(3.0), 6.0)


def test_as_data_promotes_and_refuses():
    a = V.as_data("f", "x", np.arange(3, dtype=np.int32))
    assert a.dtype == jnp.float64 and a.tolist() == [0.0, 1.0, 2.0]
    assert V.as_data("f", "m", np.array([True, False])).tolist() == [1.0, 0.0]
    assert V.as_data("f", "x", np.ones(2, np.float32)).dtype == jnp.float32
    assert V.as_data("f", "x", np.arange(2), promote=False).dtype == jnp.int64
    from pinnloss import _terms

    assert _terms._as_data("f", "x", np.arange(2)).dtype == jnp.int64  # for _samples
    with pytest.raises(ValueError, match=r"f: x contains 2 NaN or inf value\(s\), the first at"):
        V.as_data("f", "x", [1.0, np.nan, np.inf])
    with pytest.raises(ValueError, match="f: y must be real; got complex dtype complex128"):
        V.as_data("f", "y", np.ones(2) + 1j)
    with pytest.raises(ValueError, match=r"f: x is empty \(shape \(0, 2\)\)"):
        V.as_data("f", "x", np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"f: at is empty"):
        V.as_data("f", "at", np.zeros((0,)), min_ndim=0)
    with pytest.raises(ValueError, match=r"ndim >= 1"):
        V.as_data("f", "x", 1.0)
    with pytest.raises(ValueError, match="must be numeric"):
        V.as_data("f", "x", np.array(["a", "b"]))
    # traced: dtype and shape at trace time, NaN at run time
    f = jax.jit(lambda x: V.as_data("f", "x", x) + 1)
    assert f(jnp.arange(2)).tolist() == [1.0, 2.0]
    with pytest.raises(Exception, match="f: x contains NaN or inf"):
        jax.block_until_ready(f(jnp.array([1.0, jnp.nan])))
    with pytest.raises(ValueError, match="must be real"):
        f(jnp.ones(2) * 1j)


def test_check_same_shape_and_leading():
    V.check_same_shape("mse", np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"mse: predictions has shape \(3,\).*\(N, N\)"):
        V.check_same_shape("mse", np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"T: x has 3 points .* but y has 2"):
        V.check_leading("T", jnp.zeros(3), jnp.zeros(2))


def test_broadcast_weights():
    w = V.broadcast_weights("f", np.array([1, 0, 2]), (3, 2))
    assert w.shape == (3, 2) and w.dtype == jnp.float64 and w[:, 1].tolist() == [1.0, 0.0, 2.0]
    for bad, match in [
        (-np.ones(3), "f: weights must be non-negative; smallest is -1.0"),
        (np.zeros(3), "f: all weights are zero"),
        (np.array([1.0, np.nan, 1.0]), "f: weights contain NaN or inf"),
        (np.ones(4), r"f: weights of shape \(4,\) do not match residuals of shape \(3, 2\)"),
    ]:
        with pytest.raises(ValueError, match=match):
            V.broadcast_weights("f", bad, (3, 2))
    f = jax.jit(lambda w: V.broadcast_weights("f", w, (3,)))
    for bad, match in [(-jnp.ones(3), "non-negative"), (jnp.zeros(3), "all weights are zero")]:
        with pytest.raises(Exception, match=match):
            jax.block_until_ready(f(bad))
    # subnormal weights are not "all zero", though XLA on CPU compares them equal to 0
    assert np.all(np.asarray(f(jnp.full(3, 5e-324))) == 5e-324)


def test_cholesky_factors_in_float64_and_casts():
    # a float32 factorisation gives NaN: the check must look at the factor actually used
    assert not np.all(np.isfinite(np.asarray(jnp.linalg.cholesky(jnp.asarray(ILL_COV32)))))
    L = V.cholesky("f", ILL_COV32)
    assert L.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(L)))
    np.testing.assert_allclose(
        np.asarray(L, np.float64), np.linalg.cholesky(ILL_COV32.astype(np.float64)), rtol=1e-6
    )
    # a traced covariance is factored in its own dtype and a NaN factor raises at run time
    f = jax.jit(lambda c: V.cholesky("f", c))
    with pytest.raises(Exception, match="f: cov is not positive definite in float32"):
        jax.block_until_ready(f(jnp.asarray(ILL_COV32)))
    with pytest.raises(Exception, match="f: cov is not symmetric"):
        jax.block_until_ready(f(jnp.array([[1.0, 0.5], [0.0, 1.0]])))
    np.testing.assert_allclose(f(4.0 * jnp.eye(2)), 2.0 * np.eye(2))
    for bad, match in [
        (np.array([[1.0, 2.0], [2.0, 1.0]]), r"not positive definite \(smallest eigenvalue -1"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), "not symmetric"),
        (np.ones(3), "must be a square matrix"),
        (np.eye(2) + 1j, "must be real"),
    ]:
        with pytest.raises(ValueError, match=match):
            V.cholesky("f", bad)


def test_psd_sqrt():
    R = np.array([[2.0, 1.0], [1.0, 1.0]])
    S = V.psd_sqrt("q", R)
    np.testing.assert_allclose(S.T @ S, R, rtol=1e-12)
    S = jax.jit(lambda r: V.psd_sqrt("q", r))(jnp.asarray(R))
    np.testing.assert_allclose(S.T @ S, R, rtol=1e-12)
    with pytest.raises(Exception, match="q: R is not positive semi-definite"):
        jax.block_until_ready(jax.jit(lambda r: V.psd_sqrt("q", r))(-jnp.eye(2)))
    with pytest.raises(ValueError, match=r"q: R is not positive semi-definite \(eigenvalue -1"):
        V.psd_sqrt("q", -np.eye(2))


def _poly(x):
    return 0.3 - 1.2 * x + 0.7 * x**2 + 0.5 * jnp.sin(x)


def test_derivative_orders_against_exact():
    x = 0.4
    exact = {
        1: -1.2 + 1.4 * x + 0.5 * np.cos(x),
        2: 1.4 - 0.5 * np.sin(x),
        3: -0.5 * np.cos(x),
        4: 0.5 * np.sin(x),
    }
    for k, want in exact.items():
        np.testing.assert_allclose(D.derivative(_poly, k)(x), want, rtol=1e-12)
        np.testing.assert_allclose(jax.jit(D.derivative(_poly, k))(x), want, rtol=1e-12)
        # and against a central finite difference of the order below
        if k > 1:
            lower = D.derivative(_poly, k - 1)
            fd = (lower(x + 1e-5) - lower(x - 1e-5)) / 2e-5
            np.testing.assert_allclose(D.derivative(_poly, k)(x), fd, rtol=1e-7)
    with pytest.raises(ValueError, match="derivative: order must be an integer >= 1; got 0"):
        D.derivative(_poly, 0)


def test_derivative_vector_input_and_output():
    A = jnp.array([[1.0, 2.0], [0.5, -1.0], [0.3, 0.2]])
    f = lambda x: jnp.tanh(A @ x)
    x = jnp.array([0.2, -0.1])
    J = D.derivative(f, 1, scalar_input=False)(x)
    H = D.derivative(f, 2, scalar_input=False)(x)
    assert J.shape == (3, 2) and H.shape == (3, 2, 2)
    np.testing.assert_allclose(J, jax.jacfwd(f)(x), rtol=1e-12)
    np.testing.assert_allclose(H, jax.hessian(f)(x), rtol=1e-12)
    # scalar input, vector output: one column per order
    g = lambda t: jnp.stack([jnp.sin(t), t**3])
    np.testing.assert_allclose(D.derivative(g, 3)(0.5), [-np.cos(0.5), 6.0], rtol=1e-12)


def test_taylor_mode_falls_back_for_unknown_primitives():
    @jax.custom_jvp
    def cube(x):
        return x**3

    cube.defjvp(lambda p, t: (cube(p[0]), 3 * p[0] ** 2 * t[0]))
    np.testing.assert_allclose(D.derivative(cube, 3)(1.7), 6.0, rtol=1e-12)


def test_scalar_output():
    col = lambda v: jnp.reshape(v**2, (1,))
    np.testing.assert_allclose(D.derivative(D.scalar_output(col), 1)(3.0), 6.0)
    np.testing.assert_allclose(D.derivative(D.scalar_output(col), 3)(3.0), 0.0, atol=1e-12)
    bad = D.scalar_output(lambda v: jnp.stack([v, v]), "eos", "one energy per volume")
    with pytest.raises(
        ValueError,
        match=r"eos: the model must return one energy per volume \(shape \(\) or \(1,\)\); "
        r"got shape \(2,\)",
    ):
        D.derivative(bad, 1)(3.0)


def test_plain_errors_shortens_our_run_time_refusals_to_their_message():
    import equinox as eqx

    import pinnloss as pl

    term = pl.DataMSE(jnp.arange(3.0), jnp.zeros(3))

    def value(w):
        return (w * term)(lambda v: v)

    for jit in (jax.jit, eqx.filter_jit):
        # unwrapped: 20-40 lines of stack and advice around the message
        with pytest.raises(Exception) as info:
            jax.block_until_ready(jit(value)(jnp.asarray(-1.0)))
        assert not isinstance(info.value, ValueError)
        assert str(info.value).count("\n") > 10
        with pytest.raises(ValueError) as info:
            with V.plain_errors():
                jax.block_until_ready(jit(value)(jnp.asarray(-1.0)))
        assert str(info.value) == "Objective: term weight must be non-negative."
        assert info.value.__cause__ is None and info.value.__suppress_context__
    # as a decorator; and an error_if that is not one of ours passes through unchanged
    short = V.plain_errors()(jax.jit(value))
    with pytest.raises(ValueError, match="^Objective: term weight must be finite.$"):
        jax.block_until_ready(short(jnp.asarray(np.inf)))
    other = jax.jit(lambda x: eqx.error_if(x, x < 0, "somebody else's check"))
    with pytest.raises(Exception, match="somebody else's check") as info:
        with V.plain_errors():
            jax.block_until_ready(other(jnp.asarray(-1.0)))
    assert not isinstance(info.value, ValueError)
    np.testing.assert_allclose(short(jnp.asarray(2.0)), 2.0 * 5.0 / 3.0)


def test_check_weight():
    assert V.check_weight("f", "w", np.ones((1, 1))).shape == ()
    for bad, match in [
        (-1.0, "f: w must be non-negative; got -1"),
        (np.nan, "f: w must be finite"),
        (1e-310, "below the smallest normal float64"),
        (np.ones(3), r"must be a scalar \(or an array of one element\); got shape \(3,\)"),
    ]:
        with pytest.raises(ValueError, match=match):
            V.check_weight("f", "w", bad)
    assert V.check_weight("f", "w", 0.0) == 0.0
    np.testing.assert_allclose(V.check_weight("f", "w", 4.0, reciprocal=True), 0.25)
    f = jax.jit(lambda w: V.check_weight("f", "w", w))
    g = jax.jit(lambda w: V.check_weight("f", "w", w, reciprocal=True))
    for fn, w, match in [
        (f, 1e-310, "f: w is below the smallest normal float64"),
        (f, -2.0, "f: w must be non-negative"),
        (g, 0.0, "f: w must be positive"),
        (g, 1e-309, "f: w is below the smallest normal"),
        (g, 1e308, "f: 1 / w is outside the normal range of float64"),
    ]:
        with pytest.raises(Exception, match=match):
            jax.block_until_ready(fn(jnp.asarray(w)))
    np.testing.assert_allclose(g(jnp.asarray(1e307)), 1e-307)
    np.testing.assert_allclose(f(jnp.asarray(3.0)), 3.0)
