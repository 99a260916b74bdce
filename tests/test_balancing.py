"""pinnloss.balancing: each weight update against its paper's formula on a hand-computed case,
under jit and vmap, with bad input refused; and alternating fits with reweighting."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import trace_count, tree_allclose
from jax.flatten_util import ravel_pytree

import pinnloss as pl
import pinnloss.balancing as bal


class Line(eqx.Module):
    """u(x) = a + b x: gradients of every term below are computable by hand."""

    c: jax.Array

    def __call__(self, x):
        return self.c[0] + self.c[1] * x


def slope_residual(model, x):
    return jax.grad(model)(x) - 2.0  # r = b - 2 at every point


LINE = Line(jnp.array([1.0, 0.5]))
RES = pl.Residual(slope_residual, jnp.array([0.0, 1.0, 2.0]))  # L_r = (b - 2)^2
DATA = pl.DataMSE(jnp.array([0.0, 1.0]), jnp.zeros(2))  # L_d = (a^2 + (a + b)^2) / 2
OBJ = RES + 4.0 * DATA
# by hand at a = 1, b = 0.5: grad L_r = (0, 2(b - 2)) = (0, -3); grad L_d = (2a + b, a + b)
G_RES = np.array([0.0, -3.0])
G_DATA = np.array([2.5, 1.5])


def mlp(key=None, width=8):
    key = jax.random.key(0) if key is None else key
    return eqx.nn.MLP("scalar", "scalar", width, 2, activation=jnp.tanh, key=key)


def test_hand_gradients_are_the_terms_gradients():
    assert np.allclose(jax.grad(lambda c: RES(Line(c)))(LINE.c), G_RES)
    assert np.allclose(jax.grad(lambda c: DATA(Line(c)))(LINE.c), G_DATA)


# ----------------------------------------------------------------------------- reweight


def test_reweight_replaces_weights_and_refuses_bad_ones():
    obj = bal.reweight(OBJ, jnp.array([2.0, 3.0]))
    assert obj.names == OBJ.names
    assert np.allclose(obj(LINE), 2.0 * RES(LINE) + 3.0 * DATA(LINE))
    with pytest.raises(ValueError, match=r"reweight: weights has shape \(3,\)"):
        bal.reweight(OBJ, jnp.ones(3))
    with pytest.raises(ValueError, match="reweight: weights must be finite and non-negative"):
        bal.reweight(OBJ, np.array([1.0, -1.0]))
    with pytest.raises(Exception, match="reweight: weights must be finite"):
        jax.jit(lambda w: bal.reweight(OBJ, w).weights)(jnp.array([1.0, jnp.nan]))


# ----------------------------------------------------------------------------- annealing


def test_annealing_weights_match_paper_by_hand():
    # max|grad L_r| = 3, mean|grad L_d| = 2, lambda_d = 4
    w = bal.annealing_weights(OBJ, LINE, reference="residual", alpha=0.5)
    hat = 3.0 / (4.0 * 2.0)
    assert np.allclose(w, [1.0, 0.5 * 4.0 + 0.5 * hat], rtol=1e-12)
    w = bal.annealing_weights(OBJ, LINE, reference="residual", alpha=0.5, weighted=False)
    assert np.allclose(w, [1.0, 0.5 * 4.0 + 0.5 * 3.0 / 2.0], rtol=1e-12)
    # data as the reference: max|grad (4 L_d)| = 10, mean|grad L_r| = 1.5; L_d keeps 4
    w = bal.annealing_weights(OBJ, LINE, reference="data_mse", alpha=1.0)
    assert np.allclose(w, [4.0 * 2.5 / (1.0 * 1.5), 4.0], rtol=1e-12)


def test_annealing_weights_vmap_over_alpha_and_jit():
    alphas = jnp.array([0.0, 0.3, 0.9, 1.0])
    ws = jax.vmap(lambda a: bal.annealing_weights(OBJ, LINE, alpha=a))(alphas)
    for a, w in zip(alphas, ws):
        assert np.allclose(w, bal.annealing_weights(OBJ, LINE, alpha=float(a)), rtol=1e-12)
    assert np.allclose(ws[0], OBJ.weights)  # alpha = 0 keeps the weights
    jitted = eqx.filter_jit(bal.annealing_weights)(OBJ, LINE, alpha=jnp.asarray(0.9))
    assert tree_allclose(jitted, bal.annealing_weights(OBJ, LINE, alpha=0.9))


def test_annealing_weights_refuse_bad_input():
    with pytest.raises(ValueError, match=r"annealing_weights: no term named 'pde'.*'residual'"):
        bal.annealing_weights(OBJ, LINE, reference="pde")
    with pytest.raises(ValueError, match=r"annealing_weights: alpha must lie in \[0, 1\]"):
        bal.annealing_weights(OBJ, LINE, alpha=1.5)
    with pytest.raises(Exception, match=r"annealing_weights: alpha must lie in \[0, 1\]"):
        jax.jit(lambda a: bal.annealing_weights(OBJ, LINE, alpha=a))(-0.1)
    # a term that does not depend on the model: its gradient is zero, weight would be inf
    flat = pl.DataMSE(jnp.array([0.0]), jnp.zeros(1), name="flat")
    const = pl.Residual(lambda m, x: x - 1.0, jnp.array([0.0, 2.0]), name="const")
    with pytest.raises(Exception, match="annealing_weights: non-finite weights"):
        bal.annealing_weights(flat + const, LINE, reference="flat")


# ----------------------------------------------------------------------------- grad norm


def test_grad_norm_weights_match_guide_by_hand():
    n_r, n_d = 3.0, math.sqrt(2.5**2 + 1.5**2)
    hat = np.array([(n_r + n_d) / n_r, (n_r + n_d) / n_d])
    assert np.allclose(bal.grad_norm_weights(OBJ, LINE, alpha=1.0), hat, rtol=1e-12)
    w = bal.grad_norm_weights(OBJ, LINE, alpha=0.25)
    assert np.allclose(w, 0.75 * np.array([1.0, 4.0]) + 0.25 * hat, rtol=1e-12)
    # balanced: every weighted gradient has the same norm
    assert np.allclose(hat * [n_r, n_d], n_r + n_d)


def test_grad_norm_weights_vmap_and_jit():
    alphas = jnp.array([0.1, 0.5])
    ws = jax.vmap(lambda a: bal.grad_norm_weights(OBJ, LINE, alpha=a))(alphas)
    assert np.allclose(ws[1], bal.grad_norm_weights(OBJ, LINE, alpha=0.5), rtol=1e-12)
    jitted = eqx.filter_jit(bal.grad_norm_weights)(OBJ, LINE)
    assert tree_allclose(jitted, bal.grad_norm_weights(OBJ, LINE))
    with pytest.raises(ValueError, match=r"grad_norm_weights: alpha must lie in \[0, 1\]"):
        bal.grad_norm_weights(OBJ, LINE, alpha=-0.5)


# ----------------------------------------------------------------------------- NTK


def test_ntk_weights_by_hand():
    # residual points: grad r_i = (0, 1), |.|^2 = 1, three points: Tr K_rr / N = 1
    # data points x = 0, 1: grad r_i = (1, x_i), |.|^2 = 1, 2: Tr K_uu / N = 3 / 2
    tr = np.array([1.0, 1.5])
    assert np.allclose(bal.ntk_weights(OBJ, LINE), tr.sum() / tr, rtol=1e-12)
    w = bal.ntk_weights(OBJ, LINE, alpha=0.5)
    assert np.allclose(w, 0.5 * np.array([1.0, 4.0]) + 0.5 * tr.sum() / tr, rtol=1e-12)


def poisson_residual(model, x):
    return jax.grad(jax.grad(model))(x) + jnp.pi**2 * jnp.sin(jnp.pi * x)


def test_ntk_weights_match_explicit_jacobian():
    model = mlp(jax.random.key(3), width=4)
    res = pl.Residual(poisson_residual, jnp.linspace(0.0, 1.0, 7))
    data = pl.DataMSE(jnp.array([0.0, 0.5, 1.0]), jnp.array([0.0, 1.0, 0.0]))
    slope = pl.Derivative(0.25, 1, 1.0, name="slope")  # no per-point form: the jacrev path
    obj = res + 10.0 * data + slope
    flat, unravel = ravel_pytree(eqx.filter(model, eqx.is_inexact_array))
    static = eqx.filter(model, eqx.is_inexact_array, inverse=True)

    @jax.jit
    def traces(flat):
        def trace(raw_residuals):
            J = jax.jacrev(lambda p: jnp.ravel(raw_residuals(eqx.combine(unravel(p), static))))(
                flat
            )
            return jnp.sum(J**2) / J.shape[0]  # (1/N) sum_i |grad r_i|^2

        return jnp.stack([trace(t.residuals) for t in (res, data, slope)])

    tr = np.asarray(traces(flat))
    ntk = eqx.filter_jit(bal.ntk_weights)
    assert np.allclose(ntk(obj, model), tr.sum() / tr, rtol=1e-10)
    ws = eqx.filter_jit(
        lambda obj, model, a: jax.vmap(lambda a: bal.ntk_weights(obj, model, alpha=a))(a)
    )(obj, model, jnp.array([0.0, 1.0]))
    assert np.allclose(ws[0], obj.weights) and np.allclose(ws[1], tr.sum() / tr, rtol=1e-10)


def test_ntk_weights_refuse_non_square_terms():
    obj = RES + pl.DataLoss(jnp.array([0.0, 1.0]), jnp.zeros(2), loss=pl.losses.mae)
    with pytest.raises(ValueError, match="ntk_weights: term 'data_mae'"):
        bal.ntk_weights(obj, LINE)
    with pytest.raises(ValueError, match=r"ntk_weights: alpha must lie in \[0, 1\]"):
        bal.ntk_weights(OBJ, LINE, alpha=2.0)


# ----------------------------------------------------------------------------- ReLoBRaLo

L0 = np.array([1.0, 2.0])
LPREV = np.array([0.5, 4.0])
LNOW = np.array([0.25, 3.0])
WPREV = np.array([1.2, 0.8])
STATE = bal.ReLoBRaLoState(jnp.asarray(L0), jnp.asarray(LPREV), jnp.asarray(WPREV))


def softmax_by_hand(ratios, T):
    e = [math.exp(r / T) for r in ratios]
    return np.array([len(e) * v / sum(e) for v in e])


@pytest.mark.parametrize("rho", [1.0, 0.0])
def test_relobralo_each_branch_by_hand(rho):
    T, alpha = 0.5, 0.9
    to_prev = softmax_by_hand(LNOW / LPREV, T)  # lambda^bal(t, t-1)
    to_init = softmax_by_hand(LNOW / L0, T)  # lambda^bal(t, 0)
    hist = WPREV if rho == 1.0 else to_init
    want = alpha * hist + (1 - alpha) * to_prev
    w, state = bal.relobralo(
        LNOW, STATE, jax.random.key(7), alpha=alpha, expected_rho=rho, temperature=T
    )
    assert np.allclose(w, want, rtol=1e-12)
    assert np.allclose(state.weights, want)
    assert np.allclose(state.previous_losses, LNOW) and np.allclose(state.initial_losses, L0)


def test_relobralo_draws_rho_from_the_key():
    keys = jax.random.split(jax.random.key(0), 64)
    ws, _ = jax.vmap(
        lambda k: bal.relobralo(LNOW, STATE, k, alpha=0.9, expected_rho=0.5, temperature=0.5)
    )(keys)
    one = bal.relobralo(LNOW, STATE, keys[0], alpha=0.9, expected_rho=1.0, temperature=0.5)[0]
    zero = bal.relobralo(LNOW, STATE, keys[0], alpha=0.9, expected_rho=0.0, temperature=0.5)[0]
    is_one = np.all(np.isclose(ws, one), axis=1)
    is_zero = np.all(np.isclose(ws, zero), axis=1)
    assert np.all(is_one | is_zero) and is_one.any() and is_zero.any()


def test_relobralo_init_jit_and_vmap_over_temperature():
    state = bal.relobralo_init(jnp.array([1.0, 10.0, 0.1]))
    assert np.allclose(state.weights, 1.0)
    step = jax.jit(
        lambda L, s, k, T: bal.relobralo(L, s, k, alpha=0.99, expected_rho=0.9, temperature=T)
    )
    losses = jnp.array([0.5, 9.0, 0.1])
    w, s2 = step(losses, state, jax.random.key(1), 0.1)
    assert np.isclose(float(jnp.sum(w)), 3.0)  # the weights of m terms sum to m
    w_eager, _ = bal.relobralo(
        losses, state, jax.random.key(1), alpha=0.99, expected_rho=0.9, temperature=0.1
    )
    assert np.allclose(w, w_eager, rtol=1e-12)
    Ts = jnp.array([0.1, 1.0, 10.0])
    ws, _ = jax.vmap(lambda T: step(losses, state, jax.random.key(1), T))(Ts)
    for T, wT in zip(Ts, ws):
        assert np.allclose(wT, step(losses, state, jax.random.key(1), float(T))[0], rtol=1e-12)
    assert not np.allclose(ws[0], ws[2])


def test_relobralo_refuses_bad_input():
    kw = dict(alpha=0.9, expected_rho=0.9, temperature=0.1)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="relobralo: temperature must be positive"):
        bal.relobralo(LNOW, STATE, key, **{**kw, "temperature": 0.0})
    with pytest.raises(ValueError, match=r"relobralo: alpha must lie in \[0, 1\]"):
        bal.relobralo(LNOW, STATE, key, **{**kw, "alpha": 1.1})
    with pytest.raises(ValueError, match=r"relobralo: expected_rho must lie in \[0, 1\]"):
        bal.relobralo(LNOW, STATE, key, **{**kw, "expected_rho": -0.1})
    with pytest.raises(ValueError, match=r"relobralo: losses must have shape \(2,\)"):
        bal.relobralo(jnp.ones(3), STATE, key, **kw)
    with pytest.raises(Exception, match="relobralo: temperature must be positive"):
        jax.jit(lambda T: bal.relobralo(LNOW, STATE, key, **{**kw, "temperature": T})[0])(-1.0)


# ----------------------------------------------------------------------------- causal


def test_causal_weights_formula():
    L = jnp.array([0.5, 1.0, 2.0, 0.0, 3.0])
    w = bal.causal_weights(L, 2.0)
    assert np.allclose(w, np.exp(-2.0 * np.array([0.0, 0.5, 1.5, 3.5, 3.5])), rtol=1e-12)
    L = jax.random.uniform(jax.random.key(4), (20,))
    w = bal.causal_weights(L, jnp.asarray(0.7))
    assert w[0] == 1.0 and np.all(np.diff(w) <= 0) and np.all(w > 0)
    assert np.allclose(bal.causal_weights(L, 0.0), 1.0)
    g = jax.grad(lambda L: jnp.sum(bal.causal_weights(L, 1.0)))(L)
    assert np.all(g == 0.0)  # stop_gradient


def test_causal_weights_vmap_over_epsilon_jit_and_errors():
    L = jnp.array([0.2, 0.4, 0.1])
    eps = jnp.array([0.0, 1.0, 5.0])
    ws = jax.vmap(bal.causal_weights, in_axes=(None, 0))(L, eps)
    for e, w in zip(eps, ws):
        assert np.allclose(w, np.exp(-float(e) * np.array([0.0, 0.2, 0.6])), rtol=1e-12)
    assert np.allclose(jax.jit(bal.causal_weights)(L, 1.0), ws[1])
    with pytest.raises(ValueError, match="causal_weights: epsilon must be non-negative"):
        bal.causal_weights(L, -1.0)
    with pytest.raises(Exception, match="causal_weights: epsilon must be non-negative"):
        jax.jit(bal.causal_weights)(L, -1.0)
    with pytest.raises(ValueError, match="causal_weights: slab_losses must have shape"):
        bal.causal_weights(jnp.ones((2, 2)), 1.0)


class Plane(eqx.Module):
    def __call__(self, p):
        return p[0] + p[1]


def test_slab_losses_on_a_time_grid():
    ts = np.array([0.0, 0.25, 0.5, 0.75])
    xs = np.linspace(-1.0, 1.0, 5)
    pts = np.array([[t, x] for x in xs for t in ts])  # times interleaved on purpose
    term = pl.Residual(lambda m, p: m(p), pts)
    L = bal.slab_losses(term, Plane(), 4)
    want = [np.mean((t + xs) ** 2) for t in ts]
    assert np.allclose(L, want, rtol=1e-12)
    # time as the second coordinate
    swapped = pl.Residual(lambda m, p: m(p), pts[:, ::-1])
    assert np.allclose(bal.slab_losses(swapped, Plane(), 4, time_axis=1), want, rtol=1e-12)
    with pytest.raises(ValueError, match="slab_losses: time_axis 2 is out of range"):
        bal.slab_losses(term, Plane(), 4, time_axis=2)
    with pytest.raises(ValueError, match="slab_losses: num_slabs must be a positive integer"):
        bal.slab_losses(term, Plane(), 0)
    with pytest.raises(ValueError, match="slab_losses: term must be a pl.Residual"):
        bal.slab_losses(pl.DataMSE(pts, pts[:, 0]), Plane(), 4)


def test_slab_losses_count_weighted_mean_is_the_term_value():
    pts = jax.random.uniform(jax.random.key(5), (40, 2))
    term = pl.Residual(lambda m, p: m(p) - 0.3, pts)
    L = bal.slab_losses(term, Plane(), 6)
    edges = np.linspace(float(pts[:, 0].min()), float(pts[:, 0].max()), 7)
    idx = np.clip(np.digitize(np.asarray(pts[:, 0]), edges) - 1, 0, 5)
    counts = np.bincount(idx, minlength=6)
    assert np.allclose(np.sum(counts * np.asarray(L)) / 40, term(Plane()), rtol=1e-12)


def test_causal_residual_value_and_gradient_hold_weights_constant():
    pts = np.array([[t, x] for t in np.linspace(0.0, 1.0, 4) for x in np.linspace(0, 1, 3)])
    model = eqx.nn.MLP(2, "scalar", 8, 1, activation=jnp.tanh, key=jax.random.key(6))
    res = pl.Residual(lambda m, p: m(p) - jnp.sin(p[0]), pts)
    term = bal.CausalResidual(res, 4, 3.0)
    L = bal.slab_losses(res, model, 4)
    w = bal.causal_weights(L, 3.0)
    assert np.allclose(term(model), jnp.mean(w * L), rtol=1e-12)
    g = eqx.filter_grad(lambda m: term(m))(model)
    g_fixed = eqx.filter_grad(lambda m: jnp.mean(w * bal.slab_losses(res, m, 4)))(model)
    assert tree_allclose(g, g_fixed)
    with pytest.raises(ValueError, match="CausalResidual: epsilon must be non-negative"):
        bal.CausalResidual(res, 4, -1.0)


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("method", ["ntk", "grad_norm"])
def test_alternating_fit_and_reweighting_on_poisson(method):
    model = mlp(jax.random.key(1), width=6)  # 61 parameters, 66 residuals
    res = pl.Residual(poisson_residual, jnp.linspace(0.0, 1.0, 64))
    bc = pl.DataMSE(jnp.array([0.0, 1.0]), jnp.zeros(2), name="boundary")
    obj = res + bc
    opt = optax.adam(1e-3)
    update = eqx.filter_jit({"ntk": bal.ntk_weights, "grad_norm": bal.grad_norm_weights}[method])
    losses, traces = [], []
    for _ in range(3):
        sol = pl.fit(model, obj, opt, steps=50, progress=False)
        traces.append(trace_count())
        model = sol.model
        losses.append(float(sol.loss))
        obj = bal.reweight(obj, update(obj, model))
        assert np.all(np.isfinite(obj.weights)) and np.all(obj.weights > 0)
    assert obj.names == ("residual", "boundary")
    assert np.all(np.isfinite(losses))
    assert traces[1] == traces[0] == traces[2]  # new weights never recompile the fit
