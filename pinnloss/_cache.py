"""JAX's persistent compilation cache for the command line: a second run skips compiling.

The library never turns it on by itself (that is the user's choice); the `pinnloss` CLI
calls `enable_compilation_cache()` unless `--no-cache` or `PINNLOSS_NO_CACHE=1`.
"""

from __future__ import annotations

import os

__all__ = ["enable_compilation_cache", "default_cache_dir"]

_FALSE = {"", "0", "false", "no", "off"}


def default_cache_dir() -> str:
    """`$PINNLOSS_CACHE_DIR`, else `$XDG_CACHE_HOME/pinnloss/jax`, else `~/.cache/pinnloss/jax`."""
    env = os.environ.get("PINNLOSS_CACHE_DIR")
    if env:
        return os.path.expanduser(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pinnloss", "jax")


def cache_disabled() -> bool:
    """True when `PINNLOSS_NO_CACHE` is set to anything but 0/false/no/off."""
    return os.environ.get("PINNLOSS_NO_CACHE", "").strip().lower() not in _FALSE


def enable_compilation_cache(path: str | os.PathLike | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache in `path` (default `default_cache_dir()`).

    Every compiled program is cached (minimum compile time 0 s, any size), so the small
    fits of a CLI run are found again by the next run. Returns the directory, or None
    when `PINNLOSS_NO_CACHE` is set or the directory cannot be created (then nothing is
    changed and the run simply compiles).

    Example:
        >>> from pinnloss._cache import enable_compilation_cache
        >>> enable_compilation_cache()   # ~/.cache/pinnloss/jax
    """
    if cache_disabled():
        return None
    path = os.fspath(path) if path is not None else default_cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # XLA:CPU's own autotuning/caches are not keyed in; nothing else to set
    return path
