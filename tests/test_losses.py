"""pinnloss.losses against optax.losses, hand formulas and each other."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pinnloss as pl
from pinnloss import losses as L


@pytest.fixture
def data():
    k1, k2 = jax.random.split(jax.random.key(1))
    return jax.random.normal(k1, (20, 3)), jax.random.normal(k2, (20, 3))


def test_mse_matches_optax(data):
    p, t = data
    np.testing.assert_allclose(L.mse(p, t), jnp.mean(optax.losses.squared_error(p, t)), rtol=1e-14)


def test_mae_matches_hand_formula(data):
    p, t = data
    np.testing.assert_allclose(
        L.mae(p, t), np.mean(np.abs(np.asarray(p) - np.asarray(t))), rtol=1e-14
    )


@pytest.mark.parametrize("delta", [0.1, 1.0, 3.0])
def test_huber_matches_optax(data, delta):
    p, t = data
    ref = jnp.mean(optax.losses.huber_loss(p, t, delta=delta))
    np.testing.assert_allclose(L.huber(p, t, delta), ref, rtol=1e-14)


def test_bce_matches_optax_and_is_stable():
    z = jnp.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 40.0, 1000.0])
    y = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    ref = jnp.mean(optax.losses.sigmoid_binary_cross_entropy(z, y))
    np.testing.assert_allclose(L.sigmoid_binary_cross_entropy(z, y), ref, rtol=1e-12)
    g = jax.grad(L.sigmoid_binary_cross_entropy)(z, y)
    assert np.all(np.isfinite(g))
    # confidently wrong logits keep a gradient of size 1/N
    np.testing.assert_allclose(abs(g[0]), 1 / len(z), rtol=1e-12)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_bce_gradient_is_sigmoid_minus_label_everywhere(y):
    z = jnp.array([0.0, 1e-3, -1e-3, 30.0, -30.0, 700.0, -700.0])
    labels = jnp.full_like(z, y)
    g = jax.grad(L.sigmoid_binary_cross_entropy)(z, labels) * len(z)
    np.testing.assert_allclose(g, jax.nn.sigmoid(z) - y, rtol=1e-12, atol=1e-14)
    g_optax = jax.grad(lambda z: jnp.mean(optax.losses.sigmoid_binary_cross_entropy(z, labels)))(z)
    np.testing.assert_allclose(g / len(z), g_optax, rtol=1e-12, atol=1e-14)


def test_masked_mse_equals_mse_of_kept_subset(data):
    p, t = data
    mask = (jnp.arange(20) % 3 != 0).astype(float)
    keep = np.asarray(mask, bool)
    np.testing.assert_allclose(L.weighted_mse(p, t, mask), L.mse(p[keep], t[keep]), rtol=1e-14)
    # per-element mask
    emask = jax.random.bernoulli(jax.random.key(3), 0.6, p.shape).astype(float)
    ek = np.asarray(emask, bool)
    ref = np.mean((np.asarray(p) - np.asarray(t))[ek] ** 2)
    np.testing.assert_allclose(L.weighted_mse(p, t, emask), ref, rtol=1e-14)


def test_weighted_mse_hand_formula(data):
    p, t = data
    w = jnp.linspace(0.1, 2.0, 20)
    r2 = np.sum((np.asarray(p) - np.asarray(t)) ** 2, axis=1)
    ref = np.sum(np.asarray(w) * r2) / (3 * np.sum(np.asarray(w)))
    np.testing.assert_allclose(L.weighted_mse(p, t, w), ref, rtol=1e-13)


def test_gls_equals_mse_of_whitened_residuals():
    key = jax.random.key(5)
    a = jax.random.normal(key, (6, 6))
    cov = a @ a.T + 0.5 * jnp.eye(6)
    p, t = jax.random.normal(jax.random.key(6), (2, 6))
    chol = np.linalg.cholesky(np.asarray(cov))
    white = np.linalg.solve(chol, np.asarray(p - t))
    np.testing.assert_allclose(L.gls(p, t, cov), np.mean(white**2), rtol=1e-12)
    # the Mahalanobis form, for the record
    r = np.asarray(p - t)
    np.testing.assert_allclose(L.gls(p, t, cov), r @ np.linalg.solve(cov, r) / 6, rtol=1e-12)
    # identity covariance: plain MSE
    np.testing.assert_allclose(L.gls(p, t, jnp.eye(6)), L.mse(p, t), rtol=1e-14)


def test_gls_across_outputs(data):
    p, t = data
    cov = jnp.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.5]])
    r = np.asarray(p - t)
    ref = np.mean(np.einsum("ni,ij,nj->n", r, np.linalg.inv(np.asarray(cov)), r)) / 3
    np.testing.assert_allclose(L.gls(p, t, cov), ref, rtol=1e-12)


def test_quadratic_form(data):
    p, t = data
    a = jax.random.normal(jax.random.key(8), (3, 2))
    R = a @ a.T  # rank 2: positive semi-definite, singular
    r = np.asarray(p - t)
    ref = np.mean(np.einsum("ni,ij,nj->n", r, np.asarray(R), r))
    np.testing.assert_allclose(L.quadratic(p, t, R), ref, rtol=1e-12)
    np.testing.assert_allclose(L.quadratic(p, t, jnp.eye(3)), 3 * L.mse(p, t), rtol=1e-13)


def test_losses_under_jit_vmap_grad(data):
    p, t = data
    for fn in (L.mse, L.mae, L.huber, L.sigmoid_binary_cross_entropy):
        if fn is L.sigmoid_binary_cross_entropy:
            t = jax.nn.sigmoid(t)  # labels are probabilities
        np.testing.assert_allclose(jax.jit(fn)(p, t), fn(p, t), rtol=1e-14)
        per_row = jax.vmap(fn)(p, t)
        np.testing.assert_allclose(jnp.mean(per_row), fn(p, t), rtol=1e-13)
    # gradient of mse against the hand formula 2 r / N
    g = jax.grad(L.mse)(p, t)
    np.testing.assert_allclose(g, 2 * (p - t) / p.size, rtol=1e-13)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: L.mse(jnp.zeros(5), jnp.zeros((5, 1))), r"mse: .*\(5,\).*\(5, 1\).*\(N, N\)"),
        (lambda: L.weighted_mse(jnp.zeros(3), jnp.ones(3), -jnp.ones(3)), "non-negative"),
        (lambda: L.weighted_mse(jnp.zeros(3), jnp.ones(3), jnp.zeros(3)), "all weights are zero"),
        (lambda: L.weighted_mse(jnp.zeros(3), jnp.ones(3), jnp.ones(4)), "weights of shape"),
        (
            lambda: L.gls(jnp.zeros(2), jnp.ones(2), jnp.array([[1.0, 2.0], [0.0, 1.0]])),
            "not symmetric",
        ),
        (
            lambda: L.gls(jnp.zeros(2), jnp.ones(2), jnp.array([[1.0, 2.0], [2.0, 1.0]])),
            "not positive definite",
        ),
        (lambda: L.gls(jnp.zeros(3), jnp.ones(3), jnp.eye(2)), "cov of shape"),
        (lambda: L.quadratic(jnp.zeros((2, 2)), jnp.ones((2, 2)), -jnp.eye(2)), "semi-definite"),
        (lambda: L.huber(jnp.zeros(2), jnp.ones(2), -1.0), "delta"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_public_namespace():
    assert pl.losses is L


# --- defects: each test failed before the fix -------------------------------------------


def test_integer_inputs_are_promoted_not_overflowed():
    p, t = jnp.array([100_000], jnp.int32), jnp.array([0], jnp.int32)
    assert L.mse(p, t).dtype == jnp.float64
    np.testing.assert_allclose(L.mse(p, t), 1e10, rtol=1e-14)  # int32 squares gave 1.41e9
    np.testing.assert_allclose(L.weighted_mse(p, t, jnp.ones(1)), 1e10, rtol=1e-14)
    np.testing.assert_allclose(L.gls(p, t, jnp.eye(1)), 1e10, rtol=1e-14)
    np.testing.assert_allclose(L.quadratic(p[None], t[None], jnp.eye(1)), 1e10, rtol=1e-14)
    np.testing.assert_allclose(L.mae(p, t), 1e5, rtol=1e-14)
    np.testing.assert_allclose(L.huber(p, t, 2), 2 * (1e5 - 1.0), rtol=1e-14)


def test_bce_with_integer_logits_keeps_float_labels():
    z, y = jnp.array([1, -1]), jnp.array([0.7, 0.2])
    want = np.mean(np.logaddexp(0, [1.0, -1.0]) - np.array([1.0, -1.0]) * [0.7, 0.2])
    # labels used to be cast to the logits' int dtype (0.813 here)
    np.testing.assert_allclose(L.sigmoid_binary_cross_entropy(z, y), want, rtol=1e-14)
    ref = optax.losses.sigmoid_binary_cross_entropy(jnp.array([1.0, -1.0]), y).mean()
    np.testing.assert_allclose(L.sigmoid_binary_cross_entropy(z, y), ref, rtol=1e-12)


def test_bool_inputs_are_promoted():
    p, t = jnp.array([True, False, True]), jnp.array([False, False, True])
    np.testing.assert_allclose(L.mse(p, t), 1 / 3, rtol=1e-14)
    np.testing.assert_allclose(L.mae(p, t), 1 / 3, rtol=1e-14)
    np.testing.assert_allclose(
        L.weighted_mse(p, t, jnp.array([True, True, False])), 0.5, rtol=1e-14
    )
    np.testing.assert_allclose(
        L.sigmoid_binary_cross_entropy(jnp.zeros(3), t), np.log(2.0), rtol=1e-14
    )


@pytest.mark.parametrize(
    "call, arg",
    [
        (lambda c: L.mse(c, jnp.zeros(2)), "predictions"),
        (lambda c: L.mae(jnp.zeros(2), c), "targets"),
        (lambda c: L.huber(c, jnp.zeros(2)), "predictions"),
        (lambda c: L.weighted_mse(jnp.zeros(2), c, jnp.ones(2)), "targets"),
        (lambda c: L.weighted_mse(jnp.zeros(2), jnp.zeros(2), c), "weights"),
        (lambda c: L.gls(c, jnp.zeros(2), jnp.eye(2)), "predictions"),
        (lambda c: L.gls(jnp.zeros(2), jnp.zeros(2), jnp.eye(2) * c[0]), "cov"),
        (lambda c: L.quadratic(jnp.zeros(2), jnp.zeros(2), jnp.eye(2) * c[0]), "R"),
        (lambda c: L.sigmoid_binary_cross_entropy(c, jnp.zeros(2)), "logits"),
        (lambda c: L.whiten(c, jnp.eye(2)), "residuals"),
    ],
)
def test_complex_inputs_are_refused(call, arg):
    c = jnp.array([1.0 + 1.0j, 2.0])
    with pytest.raises(ValueError, match=rf"{arg} must be real; got complex"):
        call(c)
    with pytest.raises(ValueError, match=rf"{arg} must be real"):
        jax.jit(call)(c)


@pytest.mark.parametrize("delta", [np.float32(-1.0), np.float64(0.0), jnp.asarray(-2.0), -1])
def test_huber_refuses_any_nonpositive_delta(delta):
    with pytest.raises(ValueError, match="huber: delta must be positive"):
        L.huber(jnp.zeros(2), jnp.ones(2), delta)


def test_huber_traced_delta_is_checked_at_run_time():
    f = jax.jit(lambda d: L.huber(jnp.zeros(2), jnp.ones(2), d))
    np.testing.assert_allclose(f(0.5), 0.5 * (1 - 0.25), rtol=1e-14)
    with pytest.raises(Exception, match="huber: delta must be positive"):
        jax.block_until_ready(f(-1.0))


@pytest.mark.parametrize("scale", [1e308, 5e-324, 1e-310])
def test_weights_at_the_ends_of_the_float_range(scale):
    p, t = jnp.array([1.0, 2.0, 3.0]), jnp.zeros(3)
    w = np.array([1.0, 0.0, 1.0]) * scale  # was 0.0 (sum overflows) or NaN (subnormals)
    np.testing.assert_allclose(L.weighted_mse(p, t, w), 5.0, rtol=1e-14)
    np.testing.assert_allclose(jax.jit(L.weighted_mse)(p, t, w), 5.0, rtol=1e-14)


def test_weighted_mse_gradient_with_respect_to_weights():
    p, t = jnp.array([1.0, 2.0, 3.0]), jnp.zeros(3)
    for w in (jnp.array([0.5, 1.0, 2.0]), jnp.array([0.0, 1.0, 2.0])):
        g = jax.grad(L.weighted_mse, argnums=2)(p, t, w)
        s = np.sum(w)
        np.testing.assert_allclose(g, (p**2 - np.sum(w * p**2) / s) / s, rtol=1e-13)


def test_gls_with_an_ill_conditioned_float32_covariance():
    from test_validate import ILL_COV32

    r = np.array([0.1, 0.2, 0.3], np.float32)
    want = np.mean(np.linalg.solve(np.linalg.cholesky(ILL_COV32.astype(np.float64)), r) ** 2)
    got = L.gls(r, np.zeros(3, np.float32), ILL_COV32)  # was NaN
    assert np.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=1e-2)


EMPTY_CALLS = {
    "mse": lambda e: L.mse(e, e),
    "mae": lambda e: L.mae(e, e),
    "huber": lambda e: L.huber(e, e),
    "sigmoid_binary_cross_entropy": lambda e: L.sigmoid_binary_cross_entropy(e, e),
    "weighted_mse": lambda e: L.weighted_mse(e, e, e),
    "gls": lambda e: L.gls(e, e, jnp.eye(1)),
    "quadratic": lambda e: L.quadratic(e.reshape(0, 2), e.reshape(0, 2), jnp.eye(2)),
    "whiten": lambda e: L.whiten(e, jnp.eye(1)),
}


@pytest.mark.parametrize("name", list(EMPTY_CALLS))
def test_empty_arrays_are_refused_not_nan(name):
    # the mean over no elements was 0/0 = NaN; the shape is static, so jit refuses too
    call = EMPTY_CALLS[name]
    with pytest.raises(ValueError, match=rf"{name}: .*empty"):
        call(jnp.zeros(0))
    with pytest.raises(ValueError, match=rf"{name}: .*empty"):
        jax.jit(call)(jnp.zeros(0))


def test_bce_labels_outside_the_unit_interval_are_refused():
    z = jnp.array([0.3, -2.0, 5.0])
    fn = L.sigmoid_binary_cross_entropy
    for bad in ([0.0, 1.0, 5.0], [0.0, -0.1, 1.0], [0.0, np.nan, 1.0]):
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]; got .* at index"):
            fn(z, np.array(bad))
        with pytest.raises(Exception, match=r"sigmoid_binary_cross_entropy: labels must lie"):
            jax.block_until_ready(jax.jit(fn)(z, jnp.array(bad)))  # traced: error_if
    # a DataLoss refuses such labels when built, not inside a compiled fit
    with pytest.raises(ValueError, match="labels must lie"):
        pl.DataLoss(jnp.arange(3.0), jnp.array([0.0, 1.0, 5.0]), loss=fn)
    # valid labels, soft ones and the ends included, agree with optax eagerly and traced
    for y in (jnp.array([0.0, 0.25, 1.0]), jnp.array([1.0, 1.0, 0.0])):
        want = jnp.mean(optax.losses.sigmoid_binary_cross_entropy(z, y))
        np.testing.assert_allclose(fn(z, y), want, rtol=1e-13)
        np.testing.assert_allclose(jax.jit(fn)(z, y), want, rtol=1e-13)


def _cov_with(eigs, seed=0):
    q = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigs), len(eigs))))[0]
    c = (q * np.asarray(eigs)) @ q.T
    return (c + c.T) / 2


def test_gls_refuses_a_nearly_singular_covariance():
    # eigenvalues 1, 1e-9, 4e-18: cond 2.5e17, the float64 Cholesky succeeds and gls was off 2x
    cov = _cov_with([1.0, 1e-9, 4e-18])
    p, t = jnp.array([1.0, 2.0, 3.0]), jnp.zeros(3)
    match = r"cov is too ill-conditioned .*eigenvalues .*1e-09, 1, condition number"
    with pytest.raises(ValueError, match=match):
        L.gls(p, t, cov)
    with pytest.raises(ValueError, match=match):
        pl.DataMSE(jnp.arange(3.0), t, cov=cov)
    with pytest.raises(Exception, match="cov is too ill-conditioned to whiten accurately"):
        jax.block_until_ready(jax.jit(L.gls)(p, t, jnp.asarray(cov)))
    # the bound: cond * eps64 > 1e-3, i.e. cond > 4.5e12
    L.gls(p, t, _cov_with([1.0, 1e-3, 1e-12]))
    with pytest.raises(ValueError, match="ill-conditioned"):
        L.gls(p, t, _cov_with([1.0, 1e-3, 1e-13]))


@pytest.mark.parametrize("eigs", [[2.0, 1.0, 0.5, 0.1], [1.0, 1e-2, 1e-4, 1e-6]])
def test_gls_matches_scipy_for_well_conditioned_covariances(eigs):
    import scipy.linalg

    cov = _cov_with(eigs, seed=3)
    rng = np.random.default_rng(4)
    p, t = rng.normal(size=4), rng.normal(size=4)
    r = p - t
    want = r @ scipy.linalg.cho_solve(scipy.linalg.cho_factor(cov), r) / 4
    np.testing.assert_allclose(L.gls(p, t, cov), want, rtol=1e-9)
    np.testing.assert_allclose(jax.jit(L.gls)(p, t, jnp.asarray(cov)), want, rtol=1e-9)


def test_a_zero_weight_masks_a_residual_whose_square_overflows():
    # float32: 1e20**2 overflows to inf, and 0 * inf was NaN; the masked entry is excluded
    p = np.array([1.0, 2.0, 1e20], np.float32)
    t = np.zeros(3, np.float32)
    w = np.array([1.0, 1.0, 0.0], np.float32)
    np.testing.assert_allclose(L.weighted_mse(p, t, w), 2.5, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(L.weighted_mse)(p, t, w), 2.5, rtol=1e-6)
    term = pl.DataMSE(p, t, weights=w)
    np.testing.assert_allclose(term(lambda v: v), 2.5, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda s: L.weighted_mse(s * p, t, w))(1.0), 5.0, 1e-6)


def test_means_near_the_top_of_the_float32_range_do_not_overflow():
    # the exact means are representable; p - t (3e38 - -1e38) or the sum overflowed to inf
    p = np.array([3e38, 1e38, 0.0, 0.0], np.float32)
    t = np.array([-1e38, 0.0, 0.0, 0.0], np.float32)
    r = p.astype(np.float64) - t.astype(np.float64)
    np.testing.assert_allclose(L.mae(p, t), np.mean(np.abs(r)), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(L.mae)(p, t), np.mean(np.abs(r)), rtol=1e-6)
    want = np.mean(np.where(np.abs(r) <= 2.0, 0.5 * r**2, 2.0 * (np.abs(r) - 1.0)))
    np.testing.assert_allclose(L.huber(p, t, 2.0), want, rtol=1e-6)
    q = np.array([1.5e19, 1.2e19, 0.0, 0.0], np.float32)  # squares overflow float32
    np.testing.assert_allclose(L.mse(q, 0 * q), np.mean(q.astype(np.float64) ** 2), rtol=1e-6)
    z = np.array([3e38, 3e38, 0.0], np.float32)
    want = np.mean([3e38, 3e38, np.log(2.0)])
    np.testing.assert_allclose(L.sigmoid_binary_cross_entropy(z, 0 * z), want, rtol=1e-6)
    # and a mean that is not representable is inf, as IEEE says
    assert np.isinf(L.mse(np.full(3, 1e20, np.float32), np.zeros(3, np.float32)))


def test_huber_delta_beyond_the_float_range_is_quadratic_everywhere():
    p, t = np.array([1.0, 2.0], np.float32), np.zeros(2, np.float32)
    with jax.enable_x64(False):
        # 1e300 does not fit float32, but no |r| can exceed float32's largest: 0.5 * mean(r^2)
        np.testing.assert_allclose(L.huber(p, t, 1e300), 1.25, rtol=1e-7)
        with pytest.raises(ValueError, match="delta must be positive; got -1e"):
            L.huber(p, t, -1e300)
        with pytest.raises(ValueError, match="delta is below the smallest normal number"):
            L.huber(p, t, 1e-40)
    with pytest.raises(ValueError, match="delta is below the smallest normal number"):
        L.huber(p.astype(np.float64), t.astype(np.float64), 1e-310)
    # traced: a subnormal delta is flushed to zero by XLA (the loss would be 0)
    f = jax.jit(L.huber)
    with pytest.raises(Exception, match="huber: delta is below the smallest normal number"):
        jax.block_until_ready(f(p.astype(np.float64), t.astype(np.float64), 1e-310))
    np.testing.assert_allclose(f(p, t, 1.0), 1.0, rtol=1e-7)
