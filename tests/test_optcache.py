"""A fresh but identical Optax optimizer reuses pl.fit's compiled loop; a different one does not."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import pinnloss as pl
from pinnloss._optcache import canonical, fingerprint

X = jnp.linspace(-1.0, 1.0, 7)
TRACES = []


class CountingMSE(pl.AbstractSquareTerm):
    """sin fit that records every time it is traced."""

    x: jax.Array

    def residuals(self, model):
        TRACES.append(1)
        return jax.vmap(model)(self.x) - jnp.sin(self.x)


def make_model():
    return eqx.nn.MLP("scalar", "scalar", 4, 1, activation=jnp.tanh, key=jax.random.key(0))


def test_fresh_identical_optimizer_does_not_retrace():
    obj = CountingMSE(X)
    first = pl.fit(make_model(), obj, optax.adam(1e-3), steps=20, progress=False)
    n = len(TRACES)
    again = pl.fit(make_model(), obj, optax.adam(1e-3), steps=20, progress=False)
    assert len(TRACES) == n  # no new trace, hence no new compilation
    np.testing.assert_array_equal(again.loss, first.loss)
    # a different learning rate is a different program, and gives the optax result
    other = pl.fit(make_model(), obj, optax.adam(3e-2), steps=20, progress=False)
    assert len(TRACES) > n
    opt = optax.adam(3e-2)
    params, static = eqx.partition(make_model(), eqx.is_inexact_array)
    state = opt.init(params)
    loss = lambda p: obj(eqx.combine(p, static))
    for _ in range(20):
        g = jax.grad(loss)(params)
        u, state = opt.update(g, state, params)
        params = optax.apply_updates(params, u)
    np.testing.assert_allclose(other.loss, loss(params), rtol=1e-12)
    assert float(other.loss) < float(first.loss)


def test_fingerprints():
    assert fingerprint(optax.adam(1e-3)) == fingerprint(optax.adam(1e-3))
    assert fingerprint(optax.adam(1e-3)) != fingerprint(optax.adam(2e-3))
    assert fingerprint(optax.sgd(1e-2, momentum=0.9)) != fingerprint(optax.sgd(1e-2))
    # 1 and 1.0 and True must not collide
    assert fingerprint(optax.sgd(1)) != fingerprint(optax.sgd(1.0))
    # an optimizer that captures an array has no fingerprint and is used as given
    arr = optax.adam(jnp.asarray(1e-3))
    assert fingerprint(arr) is None
    assert canonical(arr) is arr
    a, b = optax.lbfgs(), optax.lbfgs()
    assert canonical(b) is canonical(a)
