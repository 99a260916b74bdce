"""Checkpoints: a verified file format for saving and resuming long fits and sweeps.

The low-level layer of pinnloss: it imports no other pinnloss module but `_validate`, and
the solver driver (`_driver`) and the sweep layer (`_sweep`) build on it.

A checkpoint file is

    magic (8 bytes)  format version (uint16 LE)  header length (uint32 LE)
    header: UTF-8 JSON {"kind", "meta", "fingerprint", "payload_size"}
    payload: the arrays of a pytree, `eqx.tree_serialise_leaves` (no pickle)
    SHA-256 of every byte before it (32 bytes)

Reading checks the magic, the version, the checksum (so any damaged byte is refused), the
kind, and the fingerprint of the problem the checkpoint belongs to (`fingerprint`), and
refuses a mismatch with a `ValueError` that names the file and what differs. Reading the
payload needs a template of the same structure ("like"), so nothing but numbers is ever
loaded from disk. Writes are atomic (a temporary file in the same folder, fsync,
`os.replace`); temporary files left by a crashed writer are removed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import struct
import time
import types
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint"]

MAGIC = b"\x89PLCKPT\n"  # a high-bit byte and a newline: text-mode mangling is caught too
VERSION = 2  # version 1: an int64 header array, then the leaves; no checksum
_PREFIX = struct.Struct("<HI")  # version, header length
_DIGEST = 32  # bytes of a SHA-256
_STALE_AGE_S = 3600.0  # a temporary file this old is stale even if its pid is alive (reuse)
_TMP = re.compile(r"\.tmp(\d+)$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

Fingerprint = str | Mapping[str, str]


# ---------------------------------------------------------------------------- fingerprints


def _describe(obj) -> str:
    """A description of a non-array leaf that is the same in every process (no addresses)."""
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type)) or (
        callable(obj) and hasattr(obj, "__qualname__")
    ):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001 - a broken repr still leaves the type name
        text = ""
    return f"{type(obj).__module__}.{type(obj).__qualname__}:{_ADDRESS.sub('', text)}"


def _feed(h, tag: bytes, data: bytes) -> None:
    h.update(tag + struct.pack("<Q", len(data)) + data)


def _array_leaf(leaf) -> np.ndarray | None:
    """`leaf` as a NumPy array (a PRNG key as its key data), or None if it is no array."""
    if not isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
        return None
    if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    try:
        return np.asarray(leaf)
    except Exception as e:  # noqa: BLE001 - a tracer under jit / vmap
        raise ValueError(
            f"fingerprint: needs concrete arrays, not traced ones (call it outside jit/vmap); "
            f"got {type(leaf).__name__} ({type(e).__name__})."
        ) from None


def fingerprint(*trees: Any, data: bool = True) -> str:
    """A SHA-256 (hex) of pytrees: their structure, array shapes and dtypes, and the data.

    The structure is the tree definition, static fields included (term names, a model's
    sizes and activation), with memory addresses removed so that the same trees give the
    same fingerprint in another process. With `data=True` the bytes of every array leaf
    and the values of Python scalars count too, so two objectives that differ only in
    their data differ; with `data=False` only the structure, shapes and dtypes count (a
    model template and a trained model agree).

    Example:
        >>> fingerprint(objective)                  # the problem, data included
        >>> fingerprint(model, opt_state, data=False)   # the structure only
    """
    h = hashlib.sha256()
    for tree in trees:
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        _feed(h, b"T", _ADDRESS.sub("", str(treedef)).encode())
        for leaf in leaves:
            arr = _array_leaf(leaf)
            if arr is not None:
                _feed(h, b"A", f"{arr.shape}{leaf.dtype}".encode())
                if data:
                    _feed(h, b"D", np.ascontiguousarray(arr).tobytes())
            elif isinstance(leaf, (bool, int, float, complex)):
                _feed(h, b"S", (repr(leaf) if data else type(leaf).__name__).encode())
            else:
                _feed(h, b"O", _describe(leaf).encode())
    return h.hexdigest()


def _captured(fn) -> list:
    """What a callable carries with it: closure cells, defaults, partial arguments, fields."""
    if isinstance(fn, functools.partial):
        return [*_captured(fn.func), fn.args, fn.keywords]
    out = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            out.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    out += [getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None)]
    if hasattr(fn, "__wrapped__"):  # jax.jit / functools.wraps
        out += _captured(fn.__wrapped__)
    if not isinstance(fn, (types.FunctionType, types.MethodType)):
        out.append(fn)  # a callable module or object: its own array leaves
    return out


def callable_fingerprint(fn: Callable) -> str:
    """A fingerprint of a function: its qualified name and the arrays it carries.

    The arrays are those in its closure cells, default arguments, `functools.partial`
    arguments, or fields (an `eqx.Module`); data it reads from module globals is not seen.
    """
    if isinstance(fn, functools.partial):
        name = f"functools.partial({_describe(fn.func)})"
    else:
        name = _describe(fn)
    arrays = []
    for leaf in jax.tree_util.tree_leaves(_captured(fn)):
        if _array_leaf(leaf) is not None:
            arrays.append(leaf)
    return fingerprint(name, arrays)


# ---------------------------------------------------------------------------- files


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill would terminate the process there: rely on the age
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[str]:
    """Remove `path.tmp<pid>` files left by crashed writers; return the paths removed.

    A temporary file is stale when its writer's pid is not alive, or when it is older than
    an hour (the pid may have been reused). This process's own is kept (it may be writing).
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    now = time.time()
    for name in names:
        if not name.startswith(base):
            continue
        m = _TMP.fullmatch(name[len(base) :])
        if m is None:
            continue
        full = os.path.join(folder, name)
        pid = int(m.group(1))
        try:
            old = now - os.path.getmtime(full) > _STALE_AGE_S
            if (pid != os.getpid() and not _pid_alive(pid)) or old:
                os.remove(full)
                removed.append(full)
        except OSError:  # removed meanwhile by another process, or not ours to remove
            pass
    return removed


def tree_to_bytes(tree: Any) -> bytes:
    """The arrays of a pytree, serialised by `eqx.tree_serialise_leaves`."""
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    return buf.getvalue()


def _is_array_like(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct))


def tree_from_bytes(payload: bytes, like: Any, *, path, where: str) -> Any:
    """Read a pytree serialised by `tree_to_bytes`; `like` gives structure, shapes and dtypes."""
    buf = io.BytesIO(payload)

    def mismatch(detail: str) -> ValueError:
        return ValueError(
            f"{where}: {os.fspath(path)!r} does not match the given structure: it was saved "
            f"from a different model, optimizer or problem ({detail})."
        )

    try:
        tree = eqx.tree_deserialise_leaves(buf, like)
    except Exception as e:  # noqa: BLE001 - any parse failure: not this structure
        raise mismatch(f"{type(e).__name__}: {e}") from None
    if buf.tell() != len(payload):
        raise mismatch(f"{len(payload) - buf.tell()} byte(s) of arrays left over")
    pairs = zip(jax.tree_util.tree_leaves(like), jax.tree_util.tree_leaves(tree))
    for i, (want, got) in enumerate(pairs):
        if _is_array_like(want) and (
            np.shape(got) != tuple(want.shape) or np.dtype(got.dtype) != np.dtype(want.dtype)
        ):
            raise mismatch(
                f"leaf {i}: saved {np.dtype(got.dtype)}{list(np.shape(got))}, "
                f"expected {np.dtype(want.dtype)}{list(want.shape)}"
            )
    return tree


def write_checkpoint(
    path: str | os.PathLike, *, kind: str, meta: dict, fingerprint: Fingerprint, tree: Any
) -> None:
    """Write a checkpoint atomically: a crash while saving leaves the previous one intact.

    Args:
        path: the file; written as `path.tmp<pid>` in the same folder, fsynced, then
            renamed over `path` (`os.replace`). Stale temporary files are removed first.
        kind: what the checkpoint holds ("tree", "fit", "sweep", ...); reading checks it.
        meta: a JSON-serialisable dict of counters (steps done, sizes).
        fingerprint: of the problem the checkpoint belongs to (`fingerprint(...)`), or a
            dict of named parts (`{"objective": ..., "model": ...}`), so that a mismatch
            on reading names the parts that differ.
        tree: the pytree whose arrays are stored.
    """
    path = os.fspath(path)
    if not isinstance(fingerprint, str):
        fingerprint = dict(fingerprint)
    payload = tree_to_bytes(tree)
    header = json.dumps(
        {"kind": kind, "meta": meta, "fingerprint": fingerprint, "payload_size": len(payload)},
        sort_keys=True,
    ).encode()
    body = MAGIC + _PREFIX.pack(VERSION, len(header)) + header + payload
    remove_stale_temps(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(body)
            f.write(hashlib.sha256(body).digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    if os.name != "nt":  # make the rename itself durable; best effort
        try:
            fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass


#: The counters each kind of checkpoint carries in `meta`: `(name, minimum)` of whole
#: numbers, and pairs `(a, b)` with `meta[a] <= meta[b]`. Other kinds: any JSON object.
_META = {
    "tree": ((), ()),
    "solve": ((("done", 0), ("rows", 0)), (("rows", "done"),)),  # steps done, history rows
    "sweep": ((("done", 0), ("n", 1)), (("done", "n"),)),  # fits done of n
}
_HEADER_KEYS = ("fingerprint", "kind", "meta", "payload_size")


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _header_problem(header, payload_bytes: int) -> str:
    """What is wrong with a checkpoint header (every field: type, range), or ""."""
    if not isinstance(header, dict) or sorted(header) != sorted(_HEADER_KEYS):
        keys = sorted(header) if isinstance(header, dict) else type(header).__name__
        return f"has fields {keys}, not {list(_HEADER_KEYS)}"
    kind, meta, fp, size = (header[k] for k in ("kind", "meta", "fingerprint", "payload_size"))
    if not isinstance(kind, str) or not kind:
        return f"kind is {kind!r}, not a name"
    if not _whole(size) or size != payload_bytes:
        return f"payload_size is {size!r} but {payload_bytes} bytes of arrays follow"
    named = fp.items() if isinstance(fp, dict) else [("", fp)]
    if not all(isinstance(k, str) and isinstance(h, str) and h for k, h in named):
        return "fingerprint is not a string or a dict of named strings"
    if not isinstance(meta, dict):
        return f"meta is a {type(meta).__name__}, not an object"
    if kind not in _META:
        return ""
    counters, order = _META[kind]
    if sorted(meta) != sorted(name for name, _ in counters):
        return f"meta of a {kind!r} checkpoint has {sorted(meta)}, not {[n for n, _ in counters]}"
    for name, least in counters:
        if not _whole(meta[name]) or meta[name] < least:
            return f"meta {name} is {meta[name]!r}, not a whole number >= {least}"
    for a, b in order:
        if meta[a] > meta[b]:
            return f"meta {a} = {meta[a]} exceeds {b} = {meta[b]}"
    return ""


class RawCheckpoint(NamedTuple):
    """A verified checkpoint whose payload is not yet read (see `tree_from_bytes`)."""

    kind: str
    meta: dict
    fingerprint: Fingerprint
    payload: bytes


def _differing(saved: Fingerprint, given: Fingerprint) -> str:
    if isinstance(saved, Mapping) and isinstance(given, Mapping):
        parts = [k for k in given if saved.get(k) != given[k]]
        parts += [k for k in saved if k not in given]
        if parts:
            verb = "differs" if len(parts) == 1 else "differ"
            return f"the {', '.join(parts)} {verb}"
    return "fingerprint mismatch"


def read_raw(
    path: str | os.PathLike, *, kind: str, fingerprint: Fingerprint | None, where: str
) -> RawCheckpoint:
    """Read and verify a checkpoint (magic, version, checksum, kind, fingerprint).

    Raises ValueError naming `where` and the path if the file is missing, not a
    checkpoint, damaged, of another kind, or (unless `fingerprint` is None) saved for a
    different problem. The payload is returned as bytes, for `tree_from_bytes`.
    """
    shown = repr(os.fspath(path))
    remove_stale_temps(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ValueError(f"{where}: no checkpoint at {shown}.") from None
    start = len(MAGIC) + _PREFIX.size
    if not data.startswith(MAGIC):
        if data.startswith(b"\x93NUMPY"):
            raise ValueError(
                f"{where}: {shown} is not a pinnloss checkpoint of this format: it was written "
                f"by an older pinnloss (format 1, no checksum); delete it and run again."
            )
        raise ValueError(f"{where}: {shown} is not a pinnloss checkpoint (no magic bytes).")
    if len(data) < start + _DIGEST:
        raise ValueError(f"{where}: {shown} is corrupt: truncated ({len(data)} bytes).")
    version, n_header = _PREFIX.unpack_from(data, len(MAGIC))
    if version != VERSION:
        raise ValueError(
            f"{where}: {shown} has checkpoint format version {version}; this pinnloss reads "
            f"version {VERSION} (the file is corrupt or from another pinnloss version)."
        )
    if hashlib.sha256(data[:-_DIGEST]).digest() != data[-_DIGEST:]:
        raise ValueError(
            f"{where}: {shown} is corrupt: checksum mismatch (a damaged or truncated file); "
            "delete it or use another path."
        )
    try:
        header = json.loads(data[start : start + n_header].decode())
    except Exception as e:  # noqa: BLE001 - a well-summed file with a bad header
        raise ValueError(f"{where}: {shown} is corrupt: bad header ({e}).") from None
    problem = _header_problem(header, len(data) - start - n_header - _DIGEST)
    if problem:
        raise ValueError(
            f"{where}: {shown} is corrupt or forged: its header {problem}; delete it or use "
            "another path."
        )
    saved_kind, meta = header["kind"], header["meta"]
    saved_fp = header["fingerprint"]
    payload = data[start + n_header : -_DIGEST]
    if saved_kind != kind:
        raise ValueError(
            f"{where}: {shown} is a pinnloss checkpoint of kind {saved_kind!r}, not {kind!r}: "
            "not a pinnloss checkpoint of this kind."
        )
    if fingerprint is not None:
        given = fingerprint if isinstance(fingerprint, str) else dict(fingerprint)
        if saved_fp != given:
            raise ValueError(
                f"{where}: checkpoint {shown} was saved for a different problem: "
                f"{_differing(saved_fp, given)}. Delete the file or use another checkpoint "
                "path to start afresh."
            )
    return RawCheckpoint(saved_kind, meta, saved_fp, payload)


def read_checkpoint(
    path: str | os.PathLike, *, kind: str, like: Any, fingerprint: Fingerprint | None, where: str
) -> tuple[dict, Any]:
    """Read a checkpoint written by `write_checkpoint`: `(meta, tree)`.

    Verifies magic, version, checksum, kind and (unless None) the fingerprint, then reads
    the tree with `like` as its template (structure, shapes, dtypes; non-array leaves are
    taken from `like`). Raises ValueError naming `where`, the path and what differs.
    """
    raw = read_raw(path, kind=kind, fingerprint=fingerprint, where=where)
    return raw.meta, tree_from_bytes(raw.payload, like, path=path, where=where)


# ---------------------------------------------------------------------------- public


def save_checkpoint(path: str | os.PathLike, tree: Any) -> None:
    """Save the arrays of a pytree (a model, an optimizer state, a result) to `path`.

    Uses `eqx.tree_serialise_leaves` (no pickle); non-array leaves are not stored, so
    loading needs a template of the same structure. The file carries a checksum and a
    fingerprint of the tree's structure, and is replaced atomically.

    Example:
        >>> pl.save_checkpoint("model.eqx", result.model)
        >>> model = pl.load_checkpoint("model.eqx", like=model)
    """
    write_checkpoint(
        path, kind="tree", meta={}, fingerprint=fingerprint(tree, data=False), tree=tree
    )


def load_checkpoint(path: str | os.PathLike, like: Any) -> Any:
    """Load a pytree saved by `save_checkpoint`; `like` gives its structure, shapes and dtypes.

    Raises ValueError if the file is missing, not a checkpoint, damaged, or of another
    structure.
    """
    where = "load_checkpoint"
    raw = read_raw(path, kind="tree", fingerprint=None, where=where)
    if raw.fingerprint != fingerprint(like, data=False):
        raise ValueError(
            f"{where}: {os.fspath(path)!r} does not match the given structure: it was saved "
            "from a different model, optimizer or problem (tree structure, shapes or dtypes "
            "differ)."
        )
    return tree_from_bytes(raw.payload, like, path=path, where=where)
