"""Energy–volume data: `EVData` and `load` (CSV / whitespace tables, ACWF JSON, ASE)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EVData", "load", "from_ase", "example_data", "example_path", "EV_PER_A3_TO_GPA"]

#: 1 eV/Å³ in GPa.
EV_PER_A3_TO_GPA = 160.21766208


def _vector(where: str, name: str, x) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {name} must be a 1-D array of numbers; {e}.") from e
    if a.ndim != 1:
        raise ValueError(
            f"{where}: {name} must be 1-D (one value per structure); got shape {a.shape}. "
            "Pass a flat array such as data[:, 0], not a 2-D table."
        )
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{where}: {name} contains {int(bad.sum())} NaN or inf value(s), the first at "
            f"index {i}; remove or fix those points."
        )
    return a


@dataclass(frozen=True, eq=False, init=False)
class EVData:
    r"""Energies of one crystal at several volumes, per atom, in float64.

    Volumes are stored in Å³/atom and energies in eV/atom, sorted by volume, as float64
    NumPy arrays (independent of `jax_enable_x64`). Energies are stored *shifted*:
    `energy = E/n_atoms - energy_shift`, with `energy_shift` the lowest per-atom energy by
    default, so that absolute all-electron totals (1e6 eV) keep their precision when a fit
    runs in float32 or float64; `absolute_energy` adds the shift back.

    Args:
        volume: cell volumes [Å³], one per structure (per cell of `n_atoms` atoms).
        energy: cell energies [eV], same length.
        n_atoms: atoms per cell; volumes and energies are divided by it.
        reference: `"min"` (default) subtracts the lowest per-atom energy; a number subtracts
            that value [eV/atom]; `0.0` keeps absolute energies.
        label: a name for plots and messages.

    Raises:
        ValueError: arrays not 1-D or of different lengths, NaN/inf, non-positive volumes,
            duplicate volumes, fewer than 2 points, a non-positive `n_atoms`.

    Example:
        >>> data = EVData([10.0, 11.0, 12.0], [-3.1, -3.3, -3.2])
        >>> data.energy            # [0.2, 0.0, 0.1] eV/atom, shift -3.3
        >>> data.absolute_energy   # [-3.1, -3.3, -3.2]
    """

    volume: np.ndarray
    energy: np.ndarray
    n_atoms: int = 1
    energy_shift: float = 0.0
    label: str = ""

    def __init__(self, volume, energy, *, n_atoms: int = 1, reference="min", label: str = ""):
        where = "EVData"
        v = _vector(where, "volume", volume)
        e = _vector(where, "energy", energy)
        if v.shape != e.shape:
            raise ValueError(
                f"{where}: volume has {v.shape[0]} points but energy has {e.shape[0]}; "
                "give one energy per volume."
            )
        if isinstance(n_atoms, bool) or int(n_atoms) != n_atoms or n_atoms < 1:
            raise ValueError(f"{where}: n_atoms must be a positive integer; got {n_atoms!r}.")
        n_atoms = int(n_atoms)
        if v.size < 2:
            raise ValueError(f"{where}: need at least 2 points; got {v.size}.")
        if (v <= 0).any():
            i = int(np.argmax(v <= 0))
            raise ValueError(
                f"{where}: volumes must be positive; volume[{i}] = {float(v[i])!r} Å³. "
                "Check the column order (volume first?) and units."
            )
        order = np.argsort(v, kind="stable")
        v, e = v[order] / n_atoms, e[order] / n_atoms
        dup = np.nonzero(np.diff(v) <= 1e-12 * v[1:])[0]
        if dup.size:
            raise ValueError(
                f"{where}: duplicate volume {float(v[dup[0]] * n_atoms)!r} Å³ appears more than "
                "once; average or drop repeated structures before fitting."
            )
        if isinstance(reference, str):
            if reference != "min":
                raise ValueError(
                    f"{where}: reference must be 'min' or a number; got {reference!r}."
                )
            shift = float(e.min())
        else:
            shift = float(reference)
            if not np.isfinite(shift):
                raise ValueError(f"{where}: reference must be finite; got {reference!r}.")
        v.setflags(write=False)
        es = e - shift
        es.setflags(write=False)
        object.__setattr__(self, "volume", v)
        object.__setattr__(self, "energy", es)
        object.__setattr__(self, "n_atoms", n_atoms)
        object.__setattr__(self, "energy_shift", shift)
        object.__setattr__(self, "label", str(label))

    @property
    def absolute_energy(self) -> np.ndarray:
        """Per-atom energies with the shift added back [eV/atom]."""
        return self.energy + self.energy_shift

    def __len__(self) -> int:
        return int(self.volume.size)

    def __repr__(self) -> str:  # noqa: D105
        lab = f"{self.label!r}, " if self.label else ""
        return (
            f"EVData({lab}{len(self)} points, V {self.volume.min():.6g}–{self.volume.max():.6g} "
            f"Å³/atom, energy_shift={self.energy_shift:.10g} eV/atom, n_atoms={self.n_atoms})"
        )


_VOL = re.compile(r"^(v|vol|volume)([^a-z].*)?$", re.I)
_ENE = re.compile(r"^(e|en|ene|energy|etot|e_tot|total_energy)([^a-z].*)?$", re.I)


def _read_table(path: str, text: str, n_atoms, reference, label) -> EVData:
    where = f"load({path!r})"
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{where}: the file is empty; expected a header and rows of numbers.")
    delim = "," if "," in lines[0] else (";" if ";" in lines[0] else None)
    if delim:
        rows = [
            [c.strip() for c in r]
            for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)
        ]
    else:
        rows = [ln.split() for ln in lines]
    header = rows[0]
    vi = [i for i, h in enumerate(header) if _VOL.match(h)]
    ei = [i for i, h in enumerate(header) if _ENE.match(h)]
    if not vi or not ei:
        raise ValueError(
            f"{where}: not an energy–volume table; the first line must be a header naming a "
            f"volume and an energy column (e.g. 'volume,energy'); got {header[:6]!r}."
        )
    vi, ei = vi[0], ei[0]
    na_col = [i for i, h in enumerate(header) if h.lower() in ("n_atoms", "natoms", "atoms")]
    vols, enes, nats = [], [], []
    for k, r in enumerate(rows[1:], start=2):
        need = max(vi, ei, *(na_col or [0]))
        if len(r) <= need:
            raise ValueError(f"{where}: row {k} has {len(r)} column(s); expected {len(header)}.")
        try:
            vols.append(float(r[vi]))
            enes.append(float(r[ei]))
            if na_col:
                nats.append(float(r[na_col[0]]))
        except ValueError as e:
            raise ValueError(f"{where}: row {k} is not numeric ({r!r}).") from e
    if not vols:
        raise ValueError(f"{where}: the table has a header but no rows of numbers.")
    v, e = np.array(vols), np.array(enes)
    if na_col:
        n = np.array(nats)
        if n_atoms is not None:
            raise ValueError(f"{where}: the file has an n_atoms column; do not pass n_atoms too.")
        if (n < 1).any() or (n != np.round(n)).any():
            raise ValueError(f"{where}: the n_atoms column must hold positive integers.")
        v, e = v / n, e / n
        n_atoms = 1
    return EVData(v, e, n_atoms=n_atoms or 1, reference=reference, label=label)


def _read_acwf(path: str, d: dict, key, n_atoms, reference, label) -> EVData:
    where = f"load({path!r})"
    if "eos_data" not in d:
        raise ValueError(f"{where}: JSON without an 'eos_data' entry; not an ACWF results file.")
    keys = sorted(k for k, pts in d["eos_data"].items() if pts)
    if key is None:
        if len(keys) == 1:
            key = keys[0]
        else:
            raise ValueError(
                f"{where}: the ACWF file holds {len(keys)} crystals; pick one with key=, "
                f"e.g. key={keys[0]!r}" + (f" (others: {', '.join(keys[1:4])}, …)" if keys else "")
            )
    if key not in d["eos_data"] or not d["eos_data"][key]:
        close = [k for k in keys if k.split("-")[0] == str(key).split("-")[0]][:4]
        raise ValueError(
            f"{where}: no E(V) points for key {key!r}"
            + (f"; did you mean one of {close}?" if close else ".")
        )
    pts = np.asarray(d["eos_data"][key], dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{where}: eos_data[{key!r}] is not a list of [volume, energy] pairs.")
    if n_atoms is None:
        n_atoms = int(d.get("num_atoms_in_sim_cell", {}).get(key, 1))
    return EVData(pts[:, 0], pts[:, 1], n_atoms=n_atoms, reference=reference, label=label or key)


def load(
    source,
    *,
    key: str | None = None,
    n_atoms: int | None = None,
    reference="min",
    label: str | None = None,
) -> EVData:
    """Load energy–volume points as `EVData` (per atom, float64, shifted energies).

    Accepted sources:

    - a CSV or whitespace table whose first non-comment line is a header naming a volume
      column (`volume`, `V`, `vol`, …) and an energy column (`energy`, `E`, …), optionally an
      `n_atoms` column; lines starting with `#` are comments. Values are per cell (divided by
      `n_atoms`, default 1);
    - an ACWF verification JSON file (`results-unaries-*.json`), one crystal picked by
      `key`, e.g. `"Cu-X/FCC"`; `n_atoms` comes from `num_atoms_in_sim_cell`;
    - any file ASE can read (`.traj`, `.xyz`, …) or a list of `ase.Atoms` with energies,
      when ASE is installed (an optional dependency).

    Example:
        >>> data = load("cu.csv")
        >>> data = load("results-unaries-verification-PBE-v1-fleur.json", key="Cu-X/FCC")

    Raises:
        ValueError: a missing file, a file that is not a table, bad values (see `EVData`).
    """
    if not isinstance(source, (str, os.PathLike)):
        if isinstance(source, Sequence) and source and hasattr(source[0], "get_volume"):
            return from_ase(source, reference=reference, label=label or "")
        raise ValueError(
            f"load: expected a file path or a list of ase.Atoms; got {type(source).__name__}."
        )
    path = os.fspath(source)
    where = f"load({path!r})"
    if not os.path.exists(path):
        raise ValueError(f"{where}: no such file.")
    if os.path.isdir(path):
        raise ValueError(f"{where}: is a directory, not a data file.")
    lab = label if label is not None else ""
    ext = os.path.splitext(path)[1].lower()
    if ext in (".traj", ".xyz", ".extxyz", ".db", ".out", ".xml", ".outcar") or (
        os.path.basename(path).upper().startswith(("OUTCAR", "VASPRUN"))
    ):
        try:
            import ase.io
        except ImportError as e:
            raise ValueError(
                f"{where}: reading {ext or 'this'} files needs ASE (pip install ase)."
            ) from e
        try:
            images = ase.io.read(path, index=":")
        except Exception as e:  # noqa: BLE001 - ASE raises many types
            raise ValueError(f"{where}: ASE could not read the file ({e}).") from e
        return from_ase(images, reference=reference, label=lab or os.path.basename(path))
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: not a text file ({e.reason}).") from e
    except OSError as e:
        raise ValueError(f"{where}: cannot read the file ({e.strerror}).") from e
    if ext == ".json" or text.lstrip().startswith("{"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: invalid JSON ({e.msg} at line {e.lineno}).") from e
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a JSON object with 'eos_data'.")
        return _read_acwf(path, d, key, n_atoms, reference, lab)
    if key is not None:
        raise ValueError(f"{where}: key= selects a crystal in an ACWF JSON file; this is a table.")
    return _read_table(path, text, n_atoms, reference, lab or os.path.basename(path))


def from_ase(images, *, reference="min", label: str = "") -> EVData:
    """`EVData` from a list of `ase.Atoms` with attached energies (ASE is optional).

    Uses `atoms.get_volume()` and `atoms.get_potential_energy()`; every image must have the
    same number of atoms.

    Example:
        >>> from ase.io import read
        >>> data = from_ase(read("eos.traj", ":"))
    """
    images = list(images)
    if not images:
        raise ValueError("from_ase: no structures given.")
    n = {len(a) for a in images}
    if len(n) != 1:
        raise ValueError(
            f"from_ase: all structures must have the same number of atoms; got {sorted(n)}."
        )
    vols, enes = [], []
    for i, a in enumerate(images):
        try:
            enes.append(float(a.get_potential_energy()))
        except Exception as e:  # noqa: BLE001 - ASE raises RuntimeError or PropertyNotImplemented
            raise ValueError(f"from_ase: structure {i} has no energy attached ({e}).") from e
        try:
            vols.append(float(a.get_volume()))
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"from_ase: structure {i} has no periodic cell ({e}).") from e
    return EVData(vols, enes, n_atoms=n.pop(), reference=reference, label=label)


def check_precision(where: str, data: EVData) -> None:
    """Refuse energies that the active JAX float type cannot resolve.

    With `jax_enable_x64` off, arrays are float32 (24-bit mantissa): at |E| = 1e6 eV the
    spacing is 0.06 eV, larger than a whole E(V) well. `EVData` shifts energies so this
    only triggers for data built with `reference=0.0` (absolute energies).
    """
    import jax

    if jax.config.jax_enable_x64:
        return
    scale = float(np.max(np.abs(data.energy)))
    spread = float(np.ptp(data.energy))
    if spread == 0.0 or scale * 2.0**-23 > 1e-4 * spread:
        raise ValueError(
            f"{where}: float32 cannot resolve these energies (|E| up to {scale:.6g} eV against a "
            f"spread of {spread:.3g} eV: float32 spacing {scale * 2.0**-23:.2g} eV). Either "
            "enable float64 with jax.config.update('jax_enable_x64', True), or build EVData "
            "with the default reference='min' so that energies are shifted."
        )


def example_path() -> str:
    """Path of the bundled example: fcc Cu, 7 WIEN2k all-electron points (ACWF, MIT licence)."""
    from importlib.resources import files

    return str(files("pinnloss") / "data" / "cu_fcc_wien2k.csv")


def example_data(**kwargs) -> EVData:
    """The bundled example as `EVData`: fcc Cu from the ACWF WIEN2k set (see data/SOURCE.md).

    Example:
        >>> data = example_data()
        >>> fit_eos(data).v0    # ~11.951 Å³/atom
    """
    return load(example_path(), label=kwargs.pop("label", "Cu fcc (WIEN2k, ACWF)"), **kwargs)
