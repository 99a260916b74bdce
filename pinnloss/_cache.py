"""JAX's persistent compilation cache in one call: a second Python session skips compiling.

The library never turns it on by itself (that is the user's choice): scripts and notebooks
call `pl.enable_compilation_cache()`; the `pinnloss` CLI calls it unless `--no-cache` or
`PINNLOSS_NO_CACHE=1`.
"""

from __future__ import annotations

import functools
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
    compile time 0 s, any size), so the fits of one session are loaded from disk by the
    next (`benchmarks/startup.py` and README measure it). The EOS fit and its diagnosis also store
    their traced programs there (`jax.export`, in `pinnloss-export/`; needs the
    `flatbuffers` package, else they are traced each session), so a warm run skips
    tracing and lowering as well, with bitwise the same results. Call it once, before the
    first fit. It changes JAX's global configuration for the whole process, which is why
    the library never calls it by itself.

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

    try:  # the stored traced programs' folder: its presence turns them on (_active_export_dir)
        os.makedirs(os.path.join(path, _EXPORT_SUBDIR), exist_ok=True)
    except OSError:
        pass  # then only the compiled programs are cached
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # XLA:CPU's own autotuning/caches are not keyed in; nothing else to set
    return path


# --- traced programs stored with `jax.export` -------------------------------------------
#
# The persistent compilation cache skips XLA's compile, not JAX's tracing and lowering,
# which for the EOS fit and its diagnosis (nested derivatives up to 4th order) cost more
# than the compile on a warm run. `cached_jit` stores the lowered program (StableHLO, via
# `jax.export`) next to the compiled ones, keyed by everything the program depends on, and
# a later session deserialises it instead of tracing. Only while `enable_compilation_cache`
# is in force (the module then compiles from the persistent cache too).

_EXPORT_SUBDIR = "pinnloss-export"
# an entry: magic, sha256 of the rest, length of the pickled static part, it, the program
_MAGIC = b"pinnloss-export-2\n"
_DIGEST = 32


@functools.cache
def _pinnloss_source_digest() -> str:
    """sha256 of every .py file of the installed pinnloss: a code change is a new key."""
    import hashlib

    h = hashlib.sha256()
    root = os.path.dirname(os.path.abspath(__file__))
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(".py"):
                p = os.path.join(dirpath, f)
                h.update(os.path.relpath(p, root).encode())
                with open(p, "rb") as fh:
                    h.update(fh.read())
    return h.hexdigest()


def _active_export_dir() -> str | None:
    """The folder for exported programs: `pinnloss-export/` in JAX's compilation cache folder,
    when `enable_compilation_cache` made it there; else None (no state of our own: switching
    JAX's cache off or elsewhere switches the stored programs off too)."""
    if cache_disabled():
        return None
    import jax

    cdir = jax.config.jax_compilation_cache_dir
    if not cdir:
        return None
    folder = os.path.join(os.fspath(cdir), _EXPORT_SUBDIR)
    return folder if os.path.isdir(folder) else None


class _Program:
    """A jitted `fn(*args)` (filter semantics: array leaves traced, the rest static) whose
    lowered program is stored with `jax.export` when the compilation cache is enabled."""

    def __init__(self, name: str, fn):
        import equinox as eqx

        self.name = name
        self.fn = fn
        self.jitted = eqx.filter_jit(fn)
        self._loaded: dict[str, tuple] = {}  # key -> (jitted call, out static, positions)
        self._failed: set[str] = set()

    def __getattr__(self, name):  # the rest (`lower`, `_cached`, ...) is filter_jit's
        if name in ("jitted", "fn", "name", "_loaded", "_failed"):
            raise AttributeError(name)
        return getattr(self.jitted, name)

    def __call__(self, *args):
        folder = _active_export_dir()
        if folder is None or not _can_serialize():
            return self.jitted(*args)
        try:
            key, leaves, in_tree, static = self._key(args)
        except _Uncacheable:
            return self.jitted(*args)
        if any(isinstance(x, _tracer_type()) for x in leaves):  # under an outer jit/vmap
            return self.jitted(*args)
        if key in self._failed:
            return self.jitted(*args)
        hit = self._loaded.get(key)
        if hit is None:
            hit = self._load(folder, key)
            if hit is not None:
                try:  # the first run of a stored program also checks that it deserialises
                    out = _run(hit, leaves)
                except Exception:  # noqa: BLE001 - damaged past the checksum: drop, re-trace
                    _remove(self._file(folder, key))
                else:
                    self._loaded[key] = hit
                    return out
            hit = self._export(folder, key, leaves, in_tree, static)
            if hit is None:  # not exportable: traced as usual, not tried again
                self._failed.add(key)
                return self.jitted(*args)
            self._loaded[key] = hit
        return _run(hit, leaves)

    def _key(self, args):
        import hashlib

        import equinox as eqx
        import jax
        import jaxlib

        dyn, static = eqx.partition(args, eqx.is_array)
        leaves, in_tree = jax.tree.flatten(dyn)
        s_leaves, s_tree = jax.tree.flatten(static)
        desc = repr((str(in_tree), str(s_tree), s_leaves))
        if " at 0x" in desc:  # a function or object without a stable repr: no stable key
            raise _Uncacheable
        avals = [
            (tuple(x.shape), str(x.dtype), bool(getattr(x, "weak_type", False))) for x in leaves
        ]
        from ._version import __version__

        parts = (
            self.name,
            desc,
            repr(avals),
            jax.__version__,
            jaxlib.__version__,
            __version__,
            _pinnloss_source_digest(),
            bool(jax.config.jax_enable_x64),
            jax.default_backend(),
        )
        key = hashlib.sha256(repr(parts).encode()).hexdigest()[:40]
        return key, leaves, in_tree, static

    def _file(self, folder, key):
        return os.path.join(folder, f"{self.name}-{key}.bin")

    def _load(self, folder, key):
        """The stored program of `key`, or None: missing, or damaged (then the file is removed,
        so `_export` writes it afresh). The checksum is checked before anything is decoded."""
        import hashlib
        import pickle

        import jax

        path = self._file(folder, key)
        try:
            with open(path, "rb") as fh:
                blob = fh.read()
        except OSError:
            return None
        body = blob[len(_MAGIC) + _DIGEST :]
        digest = blob[len(_MAGIC) : len(_MAGIC) + _DIGEST]
        try:
            if not blob.startswith(_MAGIC) or hashlib.sha256(body).digest() != digest:
                raise ValueError("damaged entry")
            n = int.from_bytes(body[:8], "little")
            out_static, pos = pickle.loads(body[8 : 8 + n])
            exp = jax.export.deserialize(bytearray(body[8 + n :]))
            if len(exp.out_avals) != len(pos):
                raise ValueError("inconsistent entry")
            return jax.jit(exp.call), out_static, pos
        except Exception:  # noqa: BLE001 - corrupt or stale: dropped, then rewritten by _export
            _remove(path)
            return None

    def _export(self, folder, key, leaves, in_tree, static):
        import hashlib
        import pickle

        import equinox as eqx
        import jax

        box = {}

        def flat(*xs):
            out = self.fn(*eqx.combine(jax.tree.unflatten(in_tree, list(xs)), static))
            o_dyn, box["static"] = eqx.partition(out, eqx.is_array)
            # (pickled treedefs of equinox modules do not round-trip; the static part does)
            d = jax.tree.leaves(o_dyn, is_leaf=_is_none)
            box["pos"] = [i for i, x in enumerate(d) if x is not None]
            return [d[i] for i in box["pos"]]

        try:
            exp = jax.export.export(jax.jit(flat))(*leaves)
            head = pickle.dumps((box["static"], box["pos"]))
            data = exp.serialize()
        except Exception:  # not exportable (a host callback, an unpicklable result)
            return None
        try:
            os.makedirs(folder, exist_ok=True)
            path = self._file(folder, key)
            tmp = f"{path}.{os.getpid()}.tmp"
            body = len(head).to_bytes(8, "little") + head + bytes(data)
            with open(tmp, "wb") as fh:
                fh.write(_MAGIC + hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except OSError:
            pass  # read-only cache: this session still uses the exported program
        return jax.jit(exp.call), box["static"], box["pos"]


class _Uncacheable(Exception):
    pass


def _run(hit, leaves):
    """Call a stored program; the result: its static part with the array slots filled in."""
    import jax

    call, out_static, pos = hit
    s_leaves, s_tree = jax.tree.flatten(out_static, is_leaf=_is_none)
    for i, a in zip(pos, call(*leaves), strict=True):
        s_leaves[i] = a
    return jax.tree.unflatten(s_tree, s_leaves)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass  # already gone (another process), or a read-only cache


def _is_none(x) -> bool:
    return x is None


@functools.cache
def _can_serialize() -> bool:
    """jax.export's serialisation needs the `flatbuffers` package."""
    import importlib.util

    return importlib.util.find_spec("flatbuffers") is not None


def _tracer_type():
    import jax

    return jax.core.Tracer


def cached_jit(name: str, fn) -> _Program:
    """`eqx.filter_jit(fn)`, whose traced program is stored on disk (`jax.export`) while the
    compilation cache is enabled, so a later session skips tracing and lowering too.

    `name` (file-name safe) says which program it is; the key also holds the static
    arguments, the shapes/dtypes of the array arguments, the jax/jaxlib/pinnloss versions,
    a digest of pinnloss's source, the x64 flag and the backend.
    """
    return _Program(name, fn)
