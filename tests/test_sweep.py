"""pl.sweep: vmapped, sharded batches of fits agree with one fit at a time."""

import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import tree_allclose

import pinnloss as pl

X = jnp.linspace(-1.0, 1.0, 7)
Y = jnp.sin(2.0 * X)


def make_model(key):
    return eqx.nn.MLP("scalar", "scalar", 4, 1, activation=jnp.tanh, key=key)


def objective(w=1.0):
    return pl.DataMSE(X, Y) + w * pl.Derivative(0.0, 1, 2.0, name="slope")


OPT = optax.adam(1e-2)


def fit_one(key, w):
    return pl.fit(make_model(key), objective(w), OPT, steps=10, progress=False)


def test_sweep_matches_python_loop_and_keeps_static_leaves():
    keys = jax.random.split(jax.random.key(1), 5)
    models = eqx.filter_vmap(make_model)(keys)
    xs = jnp.linspace(0.0, 1.0, 5)
    out = pl.sweep(
        lambda m, x, s: {"y": m(x) * s, "m": m}, models, xs, jnp.asarray(3.0), in_axes=(0, 0, None)
    )
    for i in range(5):
        assert np.allclose(out["y"][i], make_model(keys[i])(xs[i]) * 3.0, rtol=1e-12)
    # the activation (a function, not an array) survives; the models are batched
    assert out["m"].activation is jnp.tanh
    assert out["m"].layers[0].weight.shape == (5, 4, 1)


KEYS = jax.random.split(jax.random.key(2), 3)
WS = jnp.asarray([0.1, 1.0, 10.0])


@pytest.fixture(scope="module")
def swept():
    return pl.sweep(fit_one, KEYS, WS)


def test_fit_inside_sweep_equals_separate_fits(swept):
    assert swept.loss.shape == (3,)
    assert swept.history["total"].shape == (3, 10)
    for i in range(3):
        one = fit_one(KEYS[i], WS[i])
        for a, b in zip(
            jax.tree_util.tree_leaves(eqx.filter(swept.model, eqx.is_array)),
            jax.tree_util.tree_leaves(eqx.filter(one.model, eqx.is_array)),
        ):
            np.testing.assert_allclose(a[i], b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(swept.history["total"][i], one.history["total"], rtol=1e-10)
        assert one.loss < one.history["total"][0]


def test_least_squares_inside_sweep_equals_separate_solves():
    keys = jax.random.split(jax.random.key(3), 2)
    obj = objective()
    solve = lambda k: pl.least_squares(make_model(k), obj, max_steps=10)
    res = pl.sweep(solve, keys)
    for i in range(2):
        one = solve(keys[i])
        np.testing.assert_allclose(res.loss[i], one.loss, rtol=1e-8, atol=1e-14)
        assert int(res.steps[i]) == int(one.steps)
        assert res.loss[i] < 1e-3 * res.initial_loss[i]


def test_chunked_sweep_with_padding_equals_plain_vmap(swept):
    chunked = pl.sweep(fit_one, KEYS, WS, chunk_size=2)  # 3 fits -> 2 chunks of 2, 1 padded
    assert chunked.loss.shape == (3,)
    assert tree_allclose(eqx.filter(swept, eqx.is_array), eqx.filter(chunked, eqx.is_array))


def test_bad_input_is_refused():
    x5, x4 = jnp.ones(5), jnp.ones(4)
    f = lambda a, b: a + b
    with pytest.raises(ValueError, match=r"sweep: batched arguments disagree.*5.*4"):
        pl.sweep(f, x5, x4)
    with pytest.raises(ValueError, match=r"sweep: args\[1\] is a scalar"):
        pl.sweep(f, x5, jnp.asarray(1.0))
    with pytest.raises(ValueError, match="no argument has a batch axis"):
        pl.sweep(f, x5, x4, in_axes=None)
    with pytest.raises(ValueError, match="in_axes"):
        pl.sweep(f, x5, x5, in_axes=(0, 1))
    with pytest.raises(ValueError, match="chunk_size"):
        pl.sweep(f, x5, x5, chunk_size=0)
    with pytest.raises(ValueError, match="empty"):
        pl.sweep(f, jnp.ones((0, 2)), jnp.ones((0, 2)))


SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, equinox as eqx, numpy as np, optax
    jax.config.update("jax_enable_x64", True)
    import pinnloss as pl
    assert jax.device_count() == 4, jax.devices()
    X = jnp.linspace(-1.0, 1.0, 7); Y = jnp.sin(2.0 * X)
    OPT = optax.adam(1e-2)
    def fit_one(key, w):
        model = eqx.nn.MLP("scalar", "scalar", 4, 1, activation=jnp.tanh, key=key)
        obj = pl.DataMSE(X, Y) + w * pl.Derivative(0.0, 1, 2.0)
        return pl.fit(model, obj, OPT, steps=10, progress=False)
    keys = jax.random.split(jax.random.key(5), 6)   # 6 fits on 4 devices: padded to 8
    ws = jnp.linspace(0.5, 2.0, 6)
    sharded = pl.sweep(fit_one, keys, ws)
    ref = eqx.filter_vmap(fit_one)(keys, ws)  # unsharded, on one device
    assert len(ref.loss.sharding.device_set) == 1
    for other in (ref,):
        for a, b in zip(jax.tree_util.tree_leaves(eqx.filter(sharded, eqx.is_array)),
                        jax.tree_util.tree_leaves(eqx.filter(other, eqx.is_array))):
            assert a.shape == b.shape, (a.shape, b.shape)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    print("OK", sharded.loss.shape)
    """
)


def test_sharded_over_four_host_devices_equals_unsharded():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK (6,)" in proc.stdout


class Blow(eqx.Module):
    a: jax.Array

    def __call__(self, x):
        return jnp.log(self.a) * x  # non-finite once a crosses 0


def test_a_failing_fit_inside_sweep_is_named_by_index_step_and_term():
    x = jnp.linspace(-1.0, 1.0, 9)
    obj = pl.DataMSE(x, -10.0 * x, name="fit_me")
    sgd = optax.sgd(0.003)
    starts = jnp.array([0.5, 2.0, 0.4, 3.0])

    def one(a):  # the sweep reads each fit's Solution: no raise inside the compiled call
        return pl.fit(Blow(a), obj, sgd, steps=12, progress=False, throw=False)

    with pytest.raises(pl.SolveError) as e:
        pl.sweep(one, starts)
    msg = str(e.value)
    assert len(msg.splitlines()) <= 4, msg
    alone = [pl.fit(Blow(a), obj, sgd, steps=12, progress=False, throw=False) for a in starts]
    failed = [i for i, r in enumerate(alone) if int(r.failed_step) >= 0]
    assert list(e.value.failed) == failed == [0, 2]
    for i in failed:
        step = int(alone[i].failed_step)
        assert f"fit {i}: the loss became non-finite" in msg
        assert f"at step {step}, term 'fit_me' is non-finite" in msg
    # the whole output comes with the error, each fit's own failure in it
    np.testing.assert_array_equal(e.value.result.failed_step, [r.failed_step for r in alone])
    # with throw=False the sweep returns every result, as the fits do one by one
    res = pl.sweep(one, starts, throw=False)
    np.testing.assert_array_equal(res.failed_step, [int(r.failed_step) for r in alone])
    np.testing.assert_allclose(res.loss, [r.loss for r in alone], rtol=1e-12)


def test_a_fit_that_raises_inside_a_sweep_gives_a_short_solve_error():
    # throw=True inside fn: the check runs in the compiled sweep and stops it; the error is
    # one line with the solver's reason (which fit is unknown there), not a JAX traceback
    x = jnp.linspace(-1.0, 1.0, 9)
    obj = pl.DataMSE(x, -10.0 * x, name="fit_me")
    sgd = optax.sgd(0.003)
    with pytest.raises(pl.SolveError) as e:
        pl.sweep(
            lambda a: pl.fit(Blow(a), obj, sgd, steps=12, progress=False).loss,
            jnp.array([2.0, 0.4]),
        )
    msg = str(e.value)
    assert msg.startswith("sweep: a fit failed: fit: the loss became non-finite during the fit")
    assert len(msg.splitlines()) == 1 and "Traceback" not in msg and "equinox" not in msg, msg
    assert e.value.__cause__ is None and e.value.__suppress_context__


class Slope(eqx.Module):
    a: jax.Array

    def __call__(self, x):
        return self.a * x


def test_a_refused_traced_input_inside_a_sweep_is_a_one_line_value_error():
    # issue 17: a negative weight checked at run time (the weight is traced) reads as the
    # refusal's message, not a 22-line JaxRuntimeError
    x = jnp.linspace(-1.0, 1.0, 9)
    obj = pl.DataMSE(x, 2.0 * x)
    opt = optax.sgd(0.1)
    good = pl.sweep(
        lambda w: pl.fit(Slope(jnp.zeros(())), w * obj, opt, steps=3, progress=False),
        jnp.array([1.0, 2.0]),
    )
    assert np.all(np.isfinite(good.loss))
    with pytest.raises(ValueError) as e:
        pl.sweep(
            lambda w: pl.fit(Slope(jnp.zeros(())), w * obj, opt, steps=3, progress=False),
            jnp.array([1.0, -1.0]),
        )
    msg = str(e.value)
    assert "weight" in msg and "negative" in msg, msg
    assert len(msg.splitlines()) == 1 and "JaxRuntimeError" not in msg, msg


def test_least_squares_max_steps_inside_sweep_is_not_a_failure():
    # a step budget that runs out is an ordinary end (issue 17): each fit reports it
    keys = jax.random.split(jax.random.key(3), 2)
    obj = objective()
    res = pl.sweep(lambda k: pl.least_squares(make_model(k), obj, max_steps=3), keys)
    assert np.all(np.asarray(res.code) == int(pl.RESULTS.max_steps_reached._value))


def test_a_failure_in_a_checkpoint_block_names_the_fit_the_user_passed(tmp_path):
    # blocks of 2 fits: fit 2 is block 1's first fit; the error says "fit 2", not "fit 0"
    x = jnp.linspace(-1.0, 1.0, 9)
    obj = pl.DataMSE(x, -10.0 * x, name="fit_me")
    sgd = optax.sgd(0.003)
    starts = jnp.array([2.0, 3.0, 0.4, 2.5])

    def one(a):
        return pl.fit(Blow(a), obj, sgd, steps=12, progress=False, throw=False)

    path = tmp_path / "sweep.ckpt"
    with pytest.raises(pl.SolveError) as e:
        pl.sweep(one, starts, checkpoint=path, checkpoint_every=2)
    assert e.value.failed == (2,)
    assert "fit 2: the loss became non-finite" in str(e.value)
    assert "1 of 2 fits from fit 2 failed" in str(e.value)


def test_a_failing_fit_under_vmap_raises_a_one_line_solve_error():
    # traced (no host between steps): the driver's check names the reason, and the 20-40
    # line runtime error of JAX/Equinox is shortened to it
    x = jnp.linspace(-1.0, 1.0, 9)
    obj = pl.DataMSE(x, -10.0 * x, name="fit_me")
    sgd = optax.sgd(0.003)
    fits = jax.vmap(lambda a: pl.fit(Blow(a), obj, sgd, steps=12, progress=False).loss)
    with pytest.raises(pl.SolveError) as e:
        fits(jnp.array([2.0, 0.4]))
    msg = str(e.value)
    assert msg.startswith("fit: the loss became non-finite during the fit (inside jax.jit"), msg
    assert len(msg.splitlines()) == 1
    assert np.all(np.isfinite(fits(jnp.array([2.0, 3.0]))))  # no failure: no error
