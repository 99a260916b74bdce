"""The CLI's persistent compilation cache: on by default, off by a setting, reused by a rerun."""

import importlib.util
import os
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from pinnloss import _cache


def test_cache_dir_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("PINNLOSS_NO_CACHE", raising=False)
    monkeypatch.setenv("PINNLOSS_CACHE_DIR", str(tmp_path / "c"))
    assert _cache.default_cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("PINNLOSS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cache.default_cache_dir() == os.path.join(str(tmp_path / "xdg"), "pinnloss", "jax")
    for off in ("1", "true", "yes"):
        monkeypatch.setenv("PINNLOSS_NO_CACHE", off)
        assert _cache.cache_disabled()
        assert _cache.enable_compilation_cache(tmp_path / "never") is None
        assert not (tmp_path / "never").exists()
    for on in ("0", "", "false"):
        monkeypatch.setenv("PINNLOSS_NO_CACHE", on)
        assert not _cache.cache_disabled()


def _cli(tmp_path, cache_dir, *extra):
    env = dict(os.environ, PINNLOSS_CACHE_DIR=str(cache_dir), JAX_PLATFORMS="cpu")
    env.pop("PINNLOSS_NO_CACHE", None)
    for k in [k for k in env if k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE"))]:
        env.pop(k, None)  # the suite's shared cache (conftest): this test is about the CLI's own
    proc = subprocess.run(
        [sys.executable, "-m", "pinnloss.cli", "fit", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_second_cli_run_compiles_nothing_new(tmp_path):
    cache = tmp_path / "cache"
    first = _cli(tmp_path, cache, "--json", "first.json")
    entries = sorted(os.listdir(cache))
    assert len(entries) >= 3  # the fit's programs were written
    stored = cache / _cache._EXPORT_SUBDIR
    if importlib.util.find_spec("flatbuffers"):  # jax.export's serialisation needs it
        # the traced programs of the fit and its diagnosis, for the next run to load
        assert sorted(f.split("-")[1] for f in os.listdir(stored)) == ["diagnose", "fit"]
    second = _cli(tmp_path, cache, "--json", "second.json")
    assert sorted(os.listdir(cache)) == entries  # every program was found in the cache
    assert second == first
    # --no-cache leaves the cache directory alone and traces: the same bits (JSON floats
    # are written exactly) as the stored programs, written and then loaded
    off = tmp_path / "off"
    assert _cli(tmp_path, off, "--no-cache", "--json", "traced.json") == first
    assert not off.exists()
    traced = (tmp_path / "traced.json").read_text()
    assert (tmp_path / "first.json").read_text() == traced
    assert (tmp_path / "second.json").read_text() == traced
    # stored programs damaged in the middle (issue 17: every later run failed with "Failed to
    # deserialize StableHLO"): dropped, traced again and rewritten; the same results
    for f in os.listdir(stored):
        blob = bytearray((stored / f).read_bytes())
        mid = len(blob) // 2
        blob[mid : mid + 64] = bytes(range(64))
        (stored / f).write_bytes(bytes(blob))
    damaged = {f: (stored / f).read_bytes() for f in os.listdir(stored)}
    assert _cli(tmp_path, cache, "--json", "healed.json") == first
    assert (tmp_path / "healed.json").read_text() == traced
    assert sorted(os.listdir(stored)) == sorted(damaged)
    assert all((stored / f).read_bytes() != b for f, b in damaged.items())


def test_enable_compilation_cache_is_one_public_call(monkeypatch, tmp_path):
    """`pl.enable_compilation_cache(path)` sets JAX's persistent cache for API users."""
    import jax

    import pinnloss as pl

    monkeypatch.delenv("PINNLOSS_NO_CACHE", raising=False)
    keys = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    before = {k: getattr(jax.config, k) for k in keys}
    try:  # nothing compiles in between, so the rest of the session is unaffected
        path = tmp_path / "api"
        assert pl.enable_compilation_cache(path) == str(path) and path.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(path)
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
        assert jax.config.jax_persistent_cache_min_entry_size_bytes == 0
        # traced programs go next to the compiled ones, while that cache is in force
        assert _cache._active_export_dir() == str(path / _cache._EXPORT_SUBDIR)
    finally:
        for k, v in before.items():
            jax.config.update(k, v)
    assert jax.config.jax_compilation_cache_dir == before["jax_compilation_cache_dir"]
    # JAX's cache moved behind our back to a folder enable_compilation_cache did not make: the
    # stored programs are not used (the session's own folder may hold some: not checked here)
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "plain"))
    try:
        assert _cache._active_export_dir() is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before["jax_compilation_cache_dir"])


# --- programs stored with jax.export (`_cache.cached_jit`) ---------------------------------


class _Poly(eqx.Module):
    c: jax.Array
    label: str = eqx.field(static=True)


def _make(traces):
    def fn(model, x, n, scale):
        traces.append(n)  # runs only while tracing

        def f(t):
            return jnp.sum(model.c * jnp.sin(t) ** jnp.arange(1, model.c.shape[0] + 1))

        d = f
        for _ in range(n):  # nested derivatives, as the EOS diagnosis takes
            d = jax.grad(d)

        def body(c):  # a loop, as the fits run
            i, y = c
            return i + 1, y - 0.1 * jax.grad(lambda z: jnp.sum((z - 1.0) ** 4))(y)

        _, y = jax.lax.while_loop(lambda c: c[0] < 20, body, (0, x))
        out = _Poly(jax.vmap(d)(x) * scale + y, model.label + "!")
        return out, jnp.max(y), None

    return fn


def _args(n=2, size=5):
    x = jnp.linspace(0.1, 0.9, size)
    return _Poly(jnp.array([1.0, -0.5, 0.25]), "p"), x, n, 3.0


def _same(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for u, v in zip(la, lb, strict=True):  # bitwise: same dtype, same bytes
        assert u.dtype == v.dtype and np.asarray(u).tobytes() == np.asarray(v).tobytes()


def test_cached_jit_is_bitwise_the_traced_program_and_skips_tracing(monkeypatch, tmp_path):
    folder = str(tmp_path / "export")
    monkeypatch.setattr(_cache, "_active_export_dir", lambda: folder)
    ref_traces, traces = [], []
    ref = eqx.filter_jit(_make(ref_traces))(*_args())
    first = _cache.cached_jit("t", _make(traces))(*_args())  # exported and stored
    _same(first, ref)
    assert first[0].label == "p!" and first[2] is None
    (entry,) = os.listdir(folder)
    # a "new session": a fresh program object loads the file and never traces the function
    again = _cache.cached_jit("t", _make(traces))
    n = len(traces)
    _same(again(*_args()), ref)
    _same(again(*_args()), ref)
    assert len(traces) == n
    # static arguments and shapes are in the key: a new entry each, still the jit result
    other = again(*_args(n=3))
    _same(other, eqx.filter_jit(_make([]))(*_args(n=3)))
    again(*_args(size=6))
    assert len(os.listdir(folder)) == 3 and entry in os.listdir(folder)


def test_cached_jit_ignores_corrupt_entries_and_a_disabled_cache(monkeypatch, tmp_path):
    folder = str(tmp_path / "export")
    monkeypatch.setattr(_cache, "_active_export_dir", lambda: folder)
    ref = eqx.filter_jit(_make([]))(*_args())
    _cache.cached_jit("t", _make([]))(*_args())
    (entry,) = os.listdir(folder)
    path = os.path.join(folder, entry)
    good = open(path, "rb").read()
    for bad in (b"", b"junk", good[: len(good) // 2], good[:30] + b"\0" * 40 + good[70:]):
        with open(path, "wb") as fh:
            fh.write(bad)
        traces = []
        _same(_cache.cached_jit("t", _make(traces))(*_args()), ref)
        assert traces  # traced again, and the entry rewritten: loaded, not traced, next time
        traces = []
        _same(_cache.cached_jit("t", _make(traces))(*_args()), ref)
        assert not traces and open(path, "rb").read() != bad

    # bytes overwritten anywhere, the middle of the StableHLO included (issue 17: that
    # deserialised and then failed at every call): caught by the checksum, re-traced, rewritten
    def healed(bad):
        traces = []
        _same(_cache.cached_jit("t", _make(traces))(*_args()), ref)
        assert traces and open(path, "rb").read() not in (bad, b"")  # re-traced, rewritten
        traces = []
        _same(_cache.cached_jit("t", _make(traces))(*_args()), ref)
        return not traces  # ... and loaded by the next session

    for at in (10, 60, len(good) // 2, len(good) - 100):  # magic, digest, the program
        bad = good[:at] + bytes(range(64)) + good[at + 64 :]
        with open(path, "wb") as fh:
            fh.write(bad)
        assert healed(bad), at
    # damaged past the checksum (an entry whose digest matches garbage): the first call fails,
    # the entry is dropped and traced again
    import hashlib

    body = good[len(_cache._MAGIC) + _cache._DIGEST :]
    mid = len(body) // 2
    body = body[:mid] + bytes(range(64)) + body[mid + 64 :]
    bad = _cache._MAGIC + hashlib.sha256(body).digest() + body
    with open(path, "wb") as fh:
        fh.write(bad)
    assert healed(bad)
    # a static argument without a stable repr (a lambda): traced each session, nothing stored
    fn = lambda model, x, g: g(x) * model.c[0]  # noqa: E731
    out = _cache.cached_jit("u", fn)(_args()[0], _args()[1], jnp.cos)
    assert np.allclose(out, jnp.cos(_args()[1]))
    _cache.cached_jit("u", fn)(_args()[0], _args()[1], lambda y: y)
    assert os.listdir(folder) == [entry]
    # not exportable (a host callback): plain filter_jit, export not retried, nothing stored
    seen, traces = [], []

    def cb(model, x):
        traces.append(1)
        jax.debug.callback(lambda y: seen.append(float(y)), x[0])
        return model.c * 2.0

    prog = _cache.cached_jit("w", cb)
    for _ in range(2):
        assert np.allclose(prog(_args()[0], _args()[1]), 2.0 * _args()[0].c)
    # traced by the failed export, then by jit; not again
    assert len(traces) == 2 and len(seen) == 2 and os.listdir(folder) == [entry]
    # without flatbuffers (jax.export cannot serialise): traced once, as plain filter_jit
    monkeypatch.setattr(_cache, "_can_serialize", lambda: False)
    traces = []
    prog = _cache.cached_jit("v", _make(traces))
    _same(prog(*_args()), ref)
    _same(prog(*_args()), ref)
    assert len(traces) == 1 and os.listdir(folder) == [entry]
    monkeypatch.undo()
    # no compilation cache: plain filter_jit, nothing stored
    monkeypatch.setattr(_cache, "_active_export_dir", lambda: None)
    traces = []
    _same(_cache.cached_jit("t2", _make(traces))(*_args()), ref)
    assert traces and os.listdir(folder) == [entry]


def test_stored_programs_follow_the_compilation_cache(monkeypatch, tmp_path):
    """No state of our own: the stored programs are on exactly while JAX's cache folder holds
    the `pinnloss-export/` that enable_compilation_cache made (not for any JAX cache folder)."""
    monkeypatch.delenv("PINNLOSS_NO_CACHE", raising=False)
    before = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "plain"))
        assert _cache._active_export_dir() is None  # a JAX cache pinnloss did not enable
        path = tmp_path / "ours"
        assert _cache.enable_compilation_cache(path) == str(path)
        assert _cache._active_export_dir() == str(path / _cache._EXPORT_SUBDIR)
        monkeypatch.setenv("PINNLOSS_NO_CACHE", "1")
        assert _cache._active_export_dir() is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
