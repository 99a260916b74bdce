"""Checkpoints: a fit or sweep interrupted and resumed ends exactly where an unbroken one does."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import tree_allclose

import pinnloss as pl
from pinnloss import _checkpoint

X = jnp.linspace(-1.0, 1.0, 7)
Y = jnp.sin(2.0 * X)
OBJ = pl.DataMSE(X, Y) + 0.5 * pl.Derivative(0.0, 1, 2.0, name="slope")
OPT = optax.adam(1e-2)


def make_model(key=None):
    key = jax.random.key(0) if key is None else key
    return eqx.nn.MLP("scalar", "scalar", 4, 1, activation=jnp.tanh, key=key)


class Interrupted(Exception):
    pass


def stop_after(n_calls, inner):
    """`inner`, but raising after `n_calls` calls: a run killed between checkpoints."""
    calls = []

    def wrapped(*args, **kwargs):
        if len(calls) == n_calls:
            raise Interrupted
        calls.append(1)
        return inner(*args, **kwargs)

    return wrapped


def test_save_load_roundtrip_and_bad_files(tmp_path):
    model = make_model()
    state = OPT.init(eqx.filter(model, eqx.is_inexact_array))
    p = tmp_path / "m.eqx"
    pl.save_checkpoint(p, (model, state))
    like = (make_model(jax.random.key(9)), OPT.init(eqx.filter(model, eqx.is_inexact_array)))
    back = pl.load_checkpoint(p, like)
    assert tree_allclose(
        eqx.filter(back, eqx.is_array), eqx.filter((model, state), eqx.is_array), rtol=0, atol=0
    )
    assert back[0].activation is jnp.tanh
    with pytest.raises(ValueError, match="load_checkpoint: no checkpoint at"):
        pl.load_checkpoint(tmp_path / "missing.eqx", like)
    other = eqx.nn.MLP("scalar", "scalar", 5, 1, key=jax.random.key(0))
    with pytest.raises(ValueError, match="does not match the given structure"):
        pl.load_checkpoint(p, (other, like[1]))
    junk = tmp_path / "junk.eqx"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a pinnloss checkpoint"):
        pl.load_checkpoint(junk, like)


def test_interrupted_fit_resumes_to_the_same_result(tmp_path):
    model = make_model()
    straight = pl.fit(model, OBJ, OPT, steps=40, progress=False)
    p = tmp_path / "fit.eqx"
    # killed after 2 of 4 segments of 10 steps: the file holds step 20
    with pytest.raises(Interrupted):
        _checkpoint.fit_with_checkpoints(
            stop_after(2, pl.fit), model, OBJ, OPT, steps=40, path=p, every=10, progress=False
        )
    resumed = pl.fit(model, OBJ, OPT, steps=40, progress=False, checkpoint=p, checkpoint_every=10)
    assert tree_allclose(
        eqx.filter(resumed.model, eqx.is_array),
        eqx.filter(straight.model, eqx.is_array),
        rtol=1e-12,
        atol=1e-14,
    )
    assert tree_allclose(resumed.opt_state, straight.opt_state, rtol=1e-12, atol=1e-14)
    for k in straight.history:
        np.testing.assert_allclose(resumed.history[k], straight.history[k], rtol=1e-12)
    np.testing.assert_allclose(resumed.loss, straight.loss, rtol=1e-12)
    assert straight.loss < 0.5 * straight.history["total"][0]
    # calling again on a finished checkpoint runs nothing and returns the same fit
    again = pl.fit(model, OBJ, OPT, steps=40, progress=False, checkpoint=p, checkpoint_every=10)
    assert tree_allclose(
        eqx.filter(again, eqx.is_array), eqx.filter(resumed, eqx.is_array), rtol=0, atol=0
    )


def test_fit_checkpoint_refuses_another_problem(tmp_path):
    p = tmp_path / "fit.eqx"
    pl.fit(make_model(), OBJ, OPT, steps=10, progress=False, checkpoint=p, checkpoint_every=10)
    with pytest.raises(ValueError, match=r"fit: checkpoint .* records 2 term\(s\)"):
        pl.fit(make_model(), pl.DataMSE(X, Y), OPT, steps=20, progress=False, checkpoint=p)
    with pytest.raises(ValueError, match="past steps=5"):
        pl.fit(make_model(), OBJ, OPT, steps=5, progress=False, checkpoint=p)
    with pytest.raises(ValueError, match="checkpoint_every"):
        pl.fit(
            make_model(),
            OBJ,
            OPT,
            steps=20,
            progress=False,
            checkpoint=tmp_path / "b",
            checkpoint_every=0,
        )
    wide = eqx.nn.MLP("scalar", "scalar", 6, 1, key=jax.random.key(0))
    with pytest.raises(ValueError, match="does not match the given structure"):
        pl.fit(wide, OBJ, OPT, steps=20, progress=False, checkpoint=p)
    with pytest.raises(ValueError, match="not a pinnloss checkpoint of this kind"):
        pl.load_checkpoint(p, make_model())


def fit_one(key, w):
    obj = pl.DataMSE(X, Y) + w * pl.Derivative(0.0, 1, 2.0)
    return pl.fit(make_model(key), obj, OPT, steps=10, progress=False)


def test_interrupted_sweep_resumes_to_the_same_result(tmp_path):
    keys = jax.random.split(jax.random.key(1), 5)
    ws = jnp.linspace(0.1, 2.0, 5)
    straight = pl.sweep(fit_one, keys, ws)
    p = tmp_path / "sweep.eqx"
    # blocks of 2 fits: [0, 1], [2, 3], [4]; killed after the first block
    with pytest.raises(Interrupted):
        _checkpoint.sweep_with_checkpoints(
            stop_after(1, pl.sweep), fit_one, (keys, ws), path=p, every=2, in_axes=0
        )
    resumed = pl.sweep(fit_one, keys, ws, checkpoint=p, checkpoint_every=2)
    assert resumed.loss.shape == (5,)
    assert tree_allclose(
        eqx.filter(resumed, eqx.is_array),
        eqx.filter(straight, eqx.is_array),
        rtol=1e-12,
        atol=1e-14,
    )
    with pytest.raises(ValueError, match="holds a sweep of 5 fits; this one has 4"):
        pl.sweep(fit_one, keys[:4], ws[:4], checkpoint=p, checkpoint_every=2)
