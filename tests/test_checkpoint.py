"""Checkpoints: a fit or sweep interrupted and resumed ends exactly where an unbroken one does;
a damaged file, or one saved for another problem, is refused."""

import ast
import os
import pathlib
import subprocess
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import tree_allclose

import pinnloss as pl
from pinnloss.parallel import _checkpoint, _sweep

X = jnp.linspace(-1.0, 1.0, 7)
Y = jnp.sin(2.0 * X)
OBJ = pl.DataMSE(X, Y) + 0.5 * pl.Derivative(0.0, 1, 2.0, name="slope")
OPT = optax.adam(1e-2)


def make_model(key=None):
    key = jax.random.key(0) if key is None else key
    return eqx.nn.MLP("scalar", "scalar", 4, 1, activation=jnp.tanh, key=key)


def ckfit(model, objective, optimizer, *, steps, checkpoint, checkpoint_every=None, **kw):
    """`pl.fit` with a checkpoint file, quietly."""
    kw.setdefault("progress", False)
    return pl.fit(
        model,
        objective,
        optimizer,
        steps=steps,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        **kw,
    )


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
    def kill_after_two_chunks(step, loss, model):
        if step >= 20:
            raise Interrupted

    with pytest.raises(Interrupted):
        ckfit(
            model,
            OBJ,
            OPT,
            steps=40,
            checkpoint=p,
            checkpoint_every=10,
            callback=kill_after_two_chunks,
        )
    assert _checkpoint.read_raw(p, kind="solve", fingerprint=None, where="t").meta["done"] == 20
    resumed = ckfit(model, OBJ, OPT, steps=40, progress=False, checkpoint=p, checkpoint_every=10)
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
    again = ckfit(model, OBJ, OPT, steps=40, progress=False, checkpoint=p, checkpoint_every=10)
    assert tree_allclose(
        eqx.filter(again, eqx.is_array), eqx.filter(resumed, eqx.is_array), rtol=0, atol=0
    )


def test_fit_checkpoint_refuses_another_problem(tmp_path):
    p = tmp_path / "fit.eqx"
    ckfit(make_model(), OBJ, OPT, steps=10, progress=False, checkpoint=p, checkpoint_every=10)
    with pytest.raises(ValueError, match=r"fit: checkpoint .* different problem: the objective"):
        ckfit(make_model(), pl.DataMSE(X, Y), OPT, steps=20, progress=False, checkpoint=p)
    with pytest.raises(ValueError, match="past steps=5"):
        ckfit(make_model(), OBJ, OPT, steps=5, progress=False, checkpoint=p)
    with pytest.raises(ValueError, match="checkpoint_every"):
        ckfit(
            make_model(),
            OBJ,
            OPT,
            steps=20,
            progress=False,
            checkpoint=tmp_path / "b",
            checkpoint_every=0,
        )
    wide = eqx.nn.MLP("scalar", "scalar", 6, 1, key=jax.random.key(0))
    with pytest.raises(ValueError, match="problem: the model differs. Delete the"):
        ckfit(wide, OBJ, OPT, steps=20, progress=False, checkpoint=p)
    with pytest.raises(ValueError, match="the solver differs"):
        ckfit(make_model(), OBJ, optax.sgd(1e-2), steps=20, progress=False, checkpoint=p)
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
        _sweep.sweep_with_checkpoints(
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
    with pytest.raises(ValueError, match="different problem: the arguments differ"):
        pl.sweep(fit_one, keys[:4], ws[:4], checkpoint=p, checkpoint_every=2)


# ---------------------------------------------------------------------------- the file format


def flipped(path, i, mask):
    data = bytearray(path.read_bytes())
    data[i] ^= mask
    bad = path.with_name(path.name + ".bad")
    bad.write_bytes(bytes(data))
    return bad


def test_every_single_byte_flip_is_refused(tmp_path):
    p = tmp_path / "small.eqx"
    tree = {"w": jnp.arange(3.0), "b": np.int32(7)}
    pl.save_checkpoint(p, tree)
    assert tree_allclose(pl.load_checkpoint(p, tree), tree, rtol=0, atol=0)
    size = p.stat().st_size
    assert size < 2000
    for i in range(size):
        for mask in (0x01, 0x80):
            bad = flipped(p, i, mask)
            with pytest.raises(ValueError, match="load_checkpoint: .*small.eqx.bad"):
                pl.load_checkpoint(bad, tree)
    for n in (0, 5, 12, size // 2, size - 1):  # truncated
        bad = tmp_path / "short.eqx"
        bad.write_bytes(p.read_bytes()[:n])
        with pytest.raises(ValueError, match="not a pinnloss checkpoint|is corrupt"):
            pl.load_checkpoint(bad, tree)
    with pytest.raises(ValueError, match="is corrupt: checksum mismatch"):
        pl.load_checkpoint(flipped(p, size // 2, 0x01), tree)


def test_byte_flips_in_a_fit_checkpoint_are_refused(tmp_path):
    p = tmp_path / "fit.eqx"
    model = make_model()
    ckfit(model, OBJ, OPT, steps=10, progress=False, checkpoint=p, checkpoint_every=10)
    size = p.stat().st_size
    rng = np.random.default_rng(0)
    where = [0, 1, size // 3, size - 33, size - 32, size - 1, *rng.choice(size, 60, False)]
    for i in where:
        bad = flipped(p, int(i), int(rng.integers(1, 256)))
        with pytest.raises(ValueError, match="fit: .*fit.eqx.bad"):
            ckfit(model, OBJ, OPT, steps=20, progress=False, checkpoint=bad)


def test_low_level_read_write(tmp_path):
    p = tmp_path / "c.ckpt"
    tree = (jnp.ones((2, 3)), np.zeros(4, np.float32))
    fp = {"objective": "abc", "model": "def"}
    _checkpoint.write_checkpoint(
        p, kind="fit", meta={"done": 3, "x": [1, 2]}, fingerprint=fp, tree=tree
    )
    assert os.listdir(tmp_path) == ["c.ckpt"]
    meta, back = _checkpoint.read_checkpoint(p, kind="fit", like=tree, fingerprint=fp, where="w")
    assert meta == {"done": 3, "x": [1, 2]}
    assert tree_allclose(back, tree, rtol=0, atol=0)
    assert isinstance(back[1], np.ndarray) and back[1].dtype == np.float32
    # no fingerprint given: not checked
    _checkpoint.read_checkpoint(p, kind="fit", like=tree, fingerprint=None, where="w")
    with pytest.raises(ValueError, match="w: .*c.ckpt' is a pinnloss checkpoint of kind 'fit'"):
        _checkpoint.read_checkpoint(p, kind="sweep", like=tree, fingerprint=fp, where="w")
    with pytest.raises(ValueError, match="different problem: the model differs. Delete the file"):
        _checkpoint.read_checkpoint(
            p, kind="fit", like=tree, fingerprint={**fp, "model": "xyz"}, where="w"
        )
    with pytest.raises(ValueError, match="the objective, model differ"):
        _checkpoint.read_checkpoint(
            p, kind="fit", like=tree, fingerprint={"objective": "1", "model": "2"}, where="w"
        )
    with pytest.raises(ValueError, match="different problem: fingerprint mismatch"):
        _checkpoint.read_checkpoint(p, kind="fit", like=tree, fingerprint="abc", where="w")
    # the template must match the stored arrays' shapes and dtypes
    for like in [(jnp.ones((3, 2)), tree[1]), (tree[0], np.zeros(4, np.float64)), tree[:1]]:
        with pytest.raises(ValueError, match="does not match the given structure"):
            _checkpoint.read_checkpoint(p, kind="fit", like=like, fingerprint=fp, where="w")
    with pytest.raises(ValueError, match="w: no checkpoint at"):
        _checkpoint.read_checkpoint(
            tmp_path / "nope", kind="fit", like=tree, fingerprint=fp, where="w"
        )


def test_old_format_is_refused_with_a_clear_message(tmp_path):
    p = tmp_path / "old.eqx"
    with open(p, "wb") as f:  # format 1: an int64 header array, then the leaves
        eqx.tree_serialise_leaves(f, np.asarray([1, 0, 0, 0], np.int64))
        eqx.tree_serialise_leaves(f, jnp.ones(3))
    with pytest.raises(ValueError, match="written by an older pinnloss"):
        pl.load_checkpoint(p, jnp.ones(3))


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    p = tmp_path / "c.eqx"
    pl.save_checkpoint(p, jnp.ones(3))

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        pl.save_checkpoint(p, 2 * jnp.ones(3))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["c.eqx"]
    np.testing.assert_array_equal(pl.load_checkpoint(p, jnp.zeros(3)), np.ones(3))


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_are_removed(tmp_path):
    p = tmp_path / "c.eqx"
    dead, alive = dead_pid(), os.getppid()
    stale = tmp_path / f"c.eqx.tmp{dead}"
    running = tmp_path / f"c.eqx.tmp{alive}"
    old = tmp_path / f"c.eqx.tmp{alive}0"  # an alive-looking pid, two hours old
    keep = [tmp_path / "c.eqx.tmpx", tmp_path / f"d.eqx.tmp{dead}", running]
    for f in [stale, old, *keep]:
        f.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    pl.save_checkpoint(p, jnp.ones(3))
    assert not stale.exists() and not old.exists()
    assert all(f.exists() for f in keep)
    # reading cleans up too
    stale.write_bytes(b"partial")
    pl.load_checkpoint(p, jnp.ones(3))
    assert not stale.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["c.eqx", *(f.name for f in keep)])


# ---------------------------------------------------------------------------- fingerprints


def test_fingerprint_sees_data_structure_and_names():
    fp = _checkpoint.fingerprint
    a = pl.DataMSE(X, Y) + 0.5 * pl.Derivative(0.0, 1, 2.0, name="slope")
    same = pl.DataMSE(jnp.linspace(-1.0, 1.0, 7), jnp.sin(2.0 * X)) + 0.5 * pl.Derivative(
        0.0, 1, 2.0, name="slope"
    )
    assert fp(a) == fp(same)
    others = [
        pl.DataMSE(X, Y + 1e-12) + 0.5 * pl.Derivative(0.0, 1, 2.0, name="slope"),  # data
        pl.DataMSE(X, Y) + 0.6 * pl.Derivative(0.0, 1, 2.0, name="slope"),  # weight
        pl.DataMSE(X, Y) + 0.5 * pl.Derivative(0.0, 1, 2.0, name="grad"),  # a name
        pl.DataMSE(X, Y) + 0.5 * pl.Derivative(0.0, 2, 2.0, name="slope"),  # static order
        pl.DataMSE(X.astype(jnp.float32), Y) + 0.5 * pl.Derivative(0.0, 1, 2.0, name="slope"),
    ]
    prints = {fp(o) for o in others}
    assert len(prints) == len(others) and fp(a) not in prints
    # structure only: the data does not count, shapes and static fields do
    assert fp(others[0], data=False) == fp(a, data=False)
    assert fp(others[2], data=False) != fp(a, data=False)
    assert fp(make_model(), data=False) == fp(make_model(jax.random.key(5)), data=False)
    assert fp(make_model()) != fp(make_model(jax.random.key(5)))
    wide = eqx.nn.MLP("scalar", "scalar", 5, 1, activation=jnp.tanh, key=jax.random.key(0))
    relu = eqx.nn.MLP("scalar", "scalar", 4, 1, activation=jax.nn.relu, key=jax.random.key(0))
    assert len({fp(m, data=False) for m in [make_model(), wide, relu]}) == 3
    # typed PRNG keys are hashed by their key data
    assert fp(jax.random.key(0)) == fp(jax.random.key(0)) != fp(jax.random.key(1))


FINGERPRINT_SCRIPT = """
import jax, jax.numpy as jnp, equinox as eqx, optax
jax.config.update("jax_enable_x64", True)
import pinnloss as pl
from pinnloss.parallel import _checkpoint
X = jnp.linspace(-1.0, 1.0, 7)
obj = pl.DataMSE(X, jnp.sin(2.0 * X)) + 0.5 * pl.Derivative(0.0, 1, 2.0, name="slope")
model = eqx.nn.MLP("scalar", "scalar", 4, 1, activation=jnp.tanh, key=jax.random.key(0))
state = optax.adam(1e-2).init(eqx.filter(model, eqx.is_inexact_array))
print(_checkpoint.fingerprint(obj), _checkpoint.fingerprint(model, state, data=False))
"""


def test_fingerprint_is_the_same_in_another_process():
    state = OPT.init(eqx.filter(make_model(), eqx.is_inexact_array))
    here = (
        f"{_checkpoint.fingerprint(OBJ)} {_checkpoint.fingerprint(make_model(), state, data=False)}"
    )
    out = subprocess.run(
        [sys.executable, "-c", FINGERPRINT_SCRIPT], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == here


# ---------------------------------------------------------------------------- refusals


def test_fit_rerun_with_other_data_is_refused(tmp_path):
    p = tmp_path / "fit.eqx"
    obj_a = pl.DataMSE(X, Y)
    obj_b = pl.DataMSE(X, 3.0 * Y + 1.0)
    ckfit(make_model(), obj_a, OPT, steps=20, progress=False, checkpoint=p, checkpoint_every=10)
    with pytest.raises(ValueError, match=r"fit: checkpoint '.*fit.eqx' was saved for a different"):
        ckfit(make_model(), obj_b, OPT, steps=20, progress=False, checkpoint=p)
    with pytest.raises(ValueError, match="objective differs"):
        ckfit(make_model(), obj_b, OPT, steps=40, progress=False, checkpoint=p)
    # the same problem still resumes
    again = ckfit(make_model(), obj_a, OPT, steps=20, progress=False, checkpoint=p)
    assert again.history["total"].shape == (20,)


NAN_AT = 737


def nan_at(step, inner):
    """`inner`, but the update before `step` is NaN: the loss is non-finite from `step` on."""

    def init(params):
        return (jnp.zeros((), jnp.int32), inner.init(params))

    def update(grads, state, params=None):
        count, inner_state = state
        updates, inner_state = inner.update(grads, inner_state, params)
        updates = jax.tree_util.tree_map(
            lambda u: jnp.where(count == step - 1, jnp.nan, u), updates
        )
        return updates, (count + 1, inner_state)

    return optax.GradientTransformation(init, update)


NAN_OPT = nan_at(NAN_AT, OPT)


def test_fit_checkpoint_reports_failures_at_their_step(tmp_path):
    model = make_model()
    kw = dict(steps=1000, progress=False)
    with pytest.raises(pl.NonFiniteLossError) as plain:
        pl.fit(model, OBJ, NAN_OPT, **kw)
    with pytest.raises(pl.NonFiniteLossError, match=f"at step {NAN_AT} ") as ck:
        ckfit(model, OBJ, NAN_OPT, checkpoint=tmp_path / "a", checkpoint_every=100, **kw)
    assert plain.value.step == ck.value.step == NAN_AT
    assert int(ck.value.result.failed_step) == NAN_AT
    assert tree_allclose(
        eqx.filter(ck.value.model, eqx.is_array), eqx.filter(plain.value.model, eqx.is_array)
    )

    straight = pl.fit(model, OBJ, NAN_OPT, throw=False, **kw)
    chunked = ckfit(
        model, OBJ, NAN_OPT, throw=False, checkpoint=tmp_path / "b", checkpoint_every=100, **kw
    )
    assert int(straight.failed_step) == int(chunked.failed_step) == NAN_AT
    assert int(chunked.failed_term) == int(straight.failed_term)
    for k in straight.history:
        # the history holds the steps that ran (issue 17), up to the failing one
        assert chunked.history[k].shape == straight.history[k].shape == (int(straight.steps),)
        np.testing.assert_allclose(chunked.history[k], straight.history[k], rtol=1e-12)
    assert int(straight.steps) >= NAN_AT
    assert np.isfinite(chunked.history["total"][:NAN_AT]).all()
    assert tree_allclose(
        eqx.filter(chunked.model, eqx.is_array), eqx.filter(straight.model, eqx.is_array)
    )
    np.testing.assert_allclose(chunked.loss, straight.loss, rtol=1e-12)
    # the file holds the fit up to the failure; resuming reports the same failure
    raw = _checkpoint.read_raw(tmp_path / "b", kind="solve", fingerprint=None, where="t")
    assert raw.meta["done"] == NAN_AT
    again = ckfit(
        model, OBJ, NAN_OPT, throw=False, checkpoint=tmp_path / "b", checkpoint_every=100, **kw
    )
    assert int(again.failed_step) == NAN_AT
    np.testing.assert_allclose(again.loss, straight.loss, rtol=1e-12)


def test_sweep_checkpoint_refuses_other_arguments(tmp_path):
    keys = jax.random.split(jax.random.key(1), 4)
    ws = jnp.linspace(0.1, 2.0, 4)
    p = tmp_path / "sweep.eqx"
    first = pl.sweep(fit_one, keys, ws, checkpoint=p, checkpoint_every=2)
    again = pl.sweep(fit_one, keys, ws, checkpoint=p, checkpoint_every=2)  # resumes, runs nothing
    assert tree_allclose(
        eqx.filter(again, eqx.is_array), eqx.filter(first, eqx.is_array), rtol=0, atol=0
    )
    with pytest.raises(
        ValueError, match=r"sweep: checkpoint '.*sweep.eqx' .* the arguments differ"
    ):
        pl.sweep(fit_one, keys, 2.0 * ws, checkpoint=p, checkpoint_every=2)
    with pytest.raises(ValueError, match="the arguments differ"):
        pl.sweep(fit_one, jax.random.split(jax.random.key(2), 4), ws, checkpoint=p)
    with pytest.raises(ValueError, match="the arguments differ"):
        pl.sweep(fit_one, keys, ws, in_axes=(0, None), checkpoint=p)

    def other(key, w):
        return fit_one(key, w)

    with pytest.raises(ValueError, match="the function differs"):
        pl.sweep(other, keys, ws, checkpoint=p)


def test_sweep_fingerprint_sees_data_a_function_closes_over():
    def make(y):
        def one(key):
            return pl.fit(make_model(key), pl.DataMSE(X, y), OPT, steps=2, progress=False)

        return one

    fp = _checkpoint.callable_fingerprint
    assert fp(make(Y)) == fp(make(Y + 0.0))
    assert fp(make(Y)) != fp(make(2.0 * Y))
    assert fp(fit_one) != fp(make(Y))


# ---------------------------------------------------------------------------- layering


def pinnloss_imports(name):
    src = (pathlib.Path(pl.__file__).parent / name).read_text()
    found = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            found.add(node.module or "")
            found.update(a.name for a in node.names if not node.module)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pinnloss"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pinnloss"))
    return found


def test_checkpoint_is_a_low_level_layer():
    # function-level imports included: no import runs upward
    assert pinnloss_imports("parallel/_checkpoint.py") <= {"_validate"}
    assert "_fit" not in pinnloss_imports("parallel/_sweep.py")


def forged(path, **changes):
    """Rewrite a checkpoint's JSON header with `changes` (None deletes a field; `meta.x` sets
    a counter) and a valid checksum: only the header validation can refuse it."""
    import hashlib
    import json

    data = path.read_bytes()
    start = len(_checkpoint.MAGIC) + _checkpoint._PREFIX.size
    _, n = _checkpoint._PREFIX.unpack_from(data, len(_checkpoint.MAGIC))
    header = json.loads(data[start : start + n])
    for k, v in changes.items():
        where, k = (header["meta"], k[5:]) if k.startswith("meta_") else (header, k)
        if v is None:
            where.pop(k)
        else:
            where[k] = v
    head = json.dumps(header).encode()
    body = (
        _checkpoint.MAGIC
        + _checkpoint._PREFIX.pack(_checkpoint.VERSION, len(head))
        + head
        + data[start + n : -_checkpoint._DIGEST]
    )
    out = path.with_name("forged-" + path.name)
    out.write_bytes(body + hashlib.sha256(body).digest())
    return out


def test_forged_headers_are_refused_by_field(tmp_path):
    """Issue 17: a header with step -5 and a valid checksum ended in a NumPy broadcast error;
    every field is now checked for type and range, and the message names it."""
    p = tmp_path / "fit.ckpt"
    model = make_model()
    ckfit(model, OBJ, OPT, steps=6, checkpoint=p, checkpoint_every=3)
    cases = {
        "meta done is -5, not a whole number >= 0": {"meta_done": -5},
        "meta done is 2.5": {"meta_done": 2.5},
        "meta done is True": {"meta_done": True},
        "meta rows is '3'": {"meta_rows": "3"},
        "meta rows = 6 exceeds done = 3": {"meta_done": 3},
        "meta of a 'solve' checkpoint has \\['done'\\], not": {"meta_rows": None},
        "meta of a 'solve' checkpoint has \\['done', 'extra', 'rows'\\]": {"meta_extra": 1},
        "meta is a list": {"meta": [1, 2]},
        "payload_size is -1 but": {"payload_size": -1},
        "payload_size is 10 but": {"payload_size": 10},
        "kind is 3, not a name": {"kind": 3},
        "fingerprint is not a string": {"fingerprint": {"model": 5}},
        "has fields \\['fingerprint', 'kind', 'meta'\\]": {"payload_size": None},
        "has fields .*'x'": {"x": 0},
    }
    for msg, change in cases.items():
        bad = forged(p, **change)
        match = f"fit: .*forged-fit.ckpt' is corrupt or forged: its header {msg}"
        with pytest.raises(ValueError, match=match):
            ckfit(model, OBJ, OPT, steps=9, checkpoint=bad, checkpoint_every=3)
    # the header rewritten unchanged still resumes, to the result of an unbroken run
    resumed = ckfit(model, OBJ, OPT, steps=9, checkpoint=forged(p), checkpoint_every=3)
    straight = ckfit(model, OBJ, OPT, steps=9, checkpoint=None)
    np.testing.assert_allclose(resumed.history["total"], straight.history["total"], rtol=1e-12)
    # a sweep checkpoint: done beyond n
    sp = tmp_path / "sweep.ckpt"
    _checkpoint.write_checkpoint(
        sp, kind="sweep", meta={"done": 2, "n": 4}, fingerprint={"function": "f"}, tree=()
    )
    for msg, change in {
        "meta done = 5 exceeds n = 4": {"meta_done": 5},
        "meta n is 0, not a whole number >= 1": {"meta_n": 0, "meta_done": 0},
    }.items():
        with pytest.raises(ValueError, match=f"w: .* its header {msg}"):
            _checkpoint.read_raw(forged(sp, **change), kind="sweep", fingerprint=None, where="w")
    # save_checkpoint's files carry an empty meta
    tp = tmp_path / "tree.ckpt"
    pl.save_checkpoint(tp, model)
    with pytest.raises(ValueError, match="load_checkpoint: .* has \\['done'\\], not \\[\\]"):
        pl.load_checkpoint(forged(tp, meta_done=1), like=model)
