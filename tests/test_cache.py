"""The CLI's persistent compilation cache: on by default, off by a setting, reused by a rerun."""

import os
import subprocess
import sys

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
    first = _cli(tmp_path, cache)
    entries = sorted(os.listdir(cache))
    assert len(entries) >= 3  # the fit's programs were written
    second = _cli(tmp_path, cache)
    assert sorted(os.listdir(cache)) == entries  # every program was found in the cache
    assert second == first
    # --no-cache leaves the cache directory alone
    off = tmp_path / "off"
    assert _cli(tmp_path, off, "--no-cache") == first
    assert not off.exists()


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
    finally:
        for k, v in before.items():
            jax.config.update(k, v)
    assert jax.config.jax_compilation_cache_dir == before["jax_compilation_cache_dir"]
