"""JAX's persistent compilation cache in one call: a second Python session skips compiling.

The library never turns it on by itself (that is the user's choice): scripts and notebooks
call `pl.enable_compilation_cache()`; the `pinnloss` CLI calls it unless `--no-cache` or
`PINNLOSS_NO_CACHE=1`.
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

    Sets JAX's `jax_compilation_cache_dir` and caches every compiled program (minimum
    compile time 0 s, any size), so the fits of one session (3-6 s to compile each on two
    CPU cores) are loaded from disk by the next. Call it once, before the first fit. It
    changes JAX's global configuration for the whole process, which is why the library
    never calls it by itself.

    Returns:
        The directory, or None when `PINNLOSS_NO_CACHE` is set or the directory cannot be
        created or written (then nothing is changed and every session simply compiles).

    Example:
        >>> import pinnloss as pl
        >>> pl.enable_compilation_cache()   # $PINNLOSS_CACHE_DIR or ~/.cache/pinnloss/jax
        >>> pl.eos.fit_eos(pl.eos.example_data())   # compiled once, loaded from then on
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
