"""Energy–volume data: `EVData` and `load` (CSV / whitespace tables, ACWF JSON, ASE, streams)."""

from __future__ import annotations

import array
import codecs
import csv
import errno
import itertools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EVData",
    "load",
    "from_ase",
    "example_data",
    "example_path",
    "EV_PER_A3_TO_GPA",
    "UNITS",
    "BOHR_A",
    "HARTREE_EV",
    "RYDBERG_EV",
    "KJ_PER_MOL_EV",
]

#: 1 eV/Å³ in GPa.
EV_PER_A3_TO_GPA = 160.21766208

#: The one unit table: the unit of each quantity pinnloss reports, per atom (`EVData` is per
#: atom). `properties`, the forms' reprs and the command line's table and JSON all read it.
UNITS = {
    "volume": "Å³/atom",
    "energy": "eV/atom",
    "v0": "Å³/atom",
    "e0": "eV/atom",
    "b0": "eV/Å³",
    "b0_gpa": "GPa",
    "b1": "",  # dimensionless
    "b2": "Å³/eV",  # B0'' of the fourth-order Birch–Murnaghan form
}

# Unit conversions of `load`: CODATA 2022 recommended values (P. J. Mohr et al., Rev. Mod.
# Phys. 97, 025002 (2025); https://physics.nist.gov/cuu/Constants), as in scipy.constants
# >= 1.15. The one place these numbers live.
#: Bohr radius a0 in Å.
BOHR_A = 0.529177210544
#: Hartree energy in eV.
HARTREE_EV = 27.211386245981
#: Rydberg energy (half a Hartree) in eV.
RYDBERG_EV = HARTREE_EV / 2.0
#: 1 kJ/mol in eV per entity: 1e3 J / (N_A e), N_A = 6.02214076e23 /mol, e = 1.602176634e-19 C
#: (both exact since the 2019 SI).
KJ_PER_MOL_EV = 1e3 / (6.02214076e23 * 1.602176634e-19)

_BASES = ("per atom", "per cell", "unknown")


class _LoadError(ValueError):
    """A source `load` cannot read. The message names the source and the field.

    `str(e)` speaks of `load`'s arguments (`key=`, `n_atoms=`); `e.cli_message` says the same
    with the command line's options (`--key`, `--n-atoms`) and the bare file name.
    """

    _API = {"key": "key", "key_": "key=", "n_atoms": "n_atoms", "n_atoms_": "n_atoms="}
    _CLI = {"key": "--key", "key_": "--key ", "n_atoms": "--n-atoms", "n_atoms_": "--n-atoms "}

    def __init__(self, name: str, detail: str):
        self.source, self.detail = name, detail
        super().__init__(f"load({name!r}): " + detail.format(**self._API))

    @property
    def cli_message(self) -> str:
        return f"{self.source}: " + self.detail.format(**self._CLI)


def _fail(name: str, detail: str) -> _LoadError:
    """`detail` names load's arguments as `{key}` (the name) or `{key_}` (before a value),
    `{n_atoms}` / `{n_atoms_}`; other braces in it are doubled (see `_braces`)."""
    return _LoadError(name, detail)


def _braces(s) -> str:
    """`s` as text safe inside a `_fail` template."""
    return str(s).replace("{", "{{").replace("}", "}}")


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


#: The fit squares energies and its diagnosis takes derivatives up to fourth order in volume,
#: so energies spread over s eV and volumes of c Å³ reach s² and (s / c⁴)²: with
#: 2 |log10 s| + 4 |log10 c| up to this bound they stay well inside float64 (~1e±308; the
#: fits were right at 300 and lost their standard errors at 320).
SCALE_LIMIT = 240.0
#: Largest per-atom |E| [eV] accepted (its square must stay finite).
ENERGY_LIMIT = 1e120


def _check_scale(where: str, v: np.ndarray, e: np.ndarray) -> None:
    """Refuse volumes and energies whose scale a float64 fit cannot handle (issue 17)."""
    spread = float(np.ptp(e))
    big = float(np.max(np.abs(e)))
    dv = max(abs(np.log10(v.max())), abs(np.log10(v.min())))
    de = abs(np.log10(spread)) if spread > 0 else 0.0
    if big <= ENERGY_LIMIT and 2 * de + 4 * dv <= SCALE_LIMIT:
        return
    raise ValueError(
        f"{where}: volumes of {v.min():.3g}–{v.max():.3g} Å³/atom with energies up to "
        f"|E| = {big:.3g} eV/atom, spread over {spread:.3g} eV, cannot be fitted in floating "
        "point: the fit squares energies and takes derivatives up to E/V⁴, which overflow or "
        "underflow float64 at these scales. Check the units (volumes in Å³, energies in eV "
        "per atom) and convert the data."
    )


def _count(n) -> int:
    """A positive whole number of atoms, or ValueError (2.7, 0, True, '2' are refused)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer, float, np.floating)):
        raise ValueError(f"must be a positive whole number; got {n!r}")
    if not np.isfinite(n) or n != int(n) or n < 1:
        raise ValueError(f"must be a positive whole number; got {n!r}")
    return int(n)


@dataclass(frozen=True, eq=False, init=False)
class EVData:
    r"""Energies of one crystal at several volumes, per atom, in float64.

    Volumes are stored in Å³/atom and energies in eV/atom, sorted by volume, as float64
    NumPy arrays (independent of `jax_enable_x64`). Energies are stored *shifted*:
    `energy = E/n_atoms - energy_shift`, with `energy_shift` the lowest per-atom energy by
    default, so that absolute all-electron totals (1e6 eV) keep their precision when a fit
    runs in float32 or float64; `absolute_energy` adds the shift back.

    Args:
        volume: volumes [Å³], one per structure: per cell of `n_atoms` atoms, or per atom
            with `per_atom=True`.
        energy: energies [eV], same length and basis.
        n_atoms: atoms per cell. Per-cell values are divided by it; `None` means the count
            is unknown and the values are taken as they are (`basis == "unknown"`).
        per_atom: the values are already per atom; `n_atoms` (if given) is only recorded.
        reference: `"min"` (default) subtracts the lowest per-atom energy; a number subtracts
            that value [eV/atom]; `0.0` keeps absolute energies.
        label: a name for plots and messages.
        basis: what the input values were (`"per cell"`, `"per atom"`, `"unknown"`), for a
            caller that converted them itself (`load` divides per-cell columns); default:
            from `per_atom` and `n_atoms`.
        notes: how the values were read (unit conversions), for reports.

    Attributes:
        basis: what the input values were: `"per cell"` (divided by `n_atoms`), `"per atom"`,
            or `"unknown"` (no atom count: taken as per atom). `describe()` says it in words.
        notes: how `load` read the source (unit conversions, assumed units), for reports.

    Raises:
        ValueError: arrays not 1-D or of different lengths, NaN/inf, non-positive volumes,
            duplicate volumes, fewer than 2 points, `n_atoms` not a positive whole number.

    Example:
        >>> data = EVData([10.0, 11.0, 12.0], [-3.1, -3.3, -3.2])
        >>> data.energy            # [0.2, 0.0, 0.1] eV/atom, shift -3.3
        >>> data.absolute_energy   # [-3.1, -3.3, -3.2]
    """

    volume: np.ndarray
    energy: np.ndarray
    n_atoms: int | None = 1
    basis: str = "per cell"
    energy_shift: float = 0.0
    label: str = ""
    notes: tuple[str, ...] = ()

    def __init__(
        self,
        volume,
        energy,
        *,
        n_atoms: int | None = 1,
        per_atom: bool = False,
        reference="min",
        label: str = "",
        basis: str | None = None,
        notes: Sequence[str] = (),
    ):
        fields = _evdata_fields(volume, energy, n_atoms, per_atom, reference, label, basis, notes)
        for name, value in fields.items():  # the one place a (frozen) EVData is filled in
            object.__setattr__(self, name, value)

    @property
    def absolute_energy(self) -> np.ndarray:
        """Per-atom energies with the shift added back [eV/atom]."""
        return self.energy + self.energy_shift

    def describe(self) -> str:
        """The basis of the input values in words, e.g. `"per cell of 2 atoms"`."""
        n = self.n_atoms
        if self.basis == "per cell":
            return "per atom" if n == 1 else f"per cell of {n} atoms, divided to per atom"
        if self.basis == "per atom":
            return "per atom" + ("" if n is None else f" (cells of {n} atom{'s' * (n != 1)})")
        return "atoms per cell unknown: values taken as per atom"

    def __len__(self) -> int:
        return int(self.volume.size)

    def __repr__(self) -> str:  # noqa: D105
        lab = f"{self.label!r}, " if self.label else ""
        return (
            f"EVData({lab}{len(self)} points, V {self.volume.min():.6g}–{self.volume.max():.6g} "
            f"Å³/atom, energy_shift={self.energy_shift:.10g} eV/atom, n_atoms={self.n_atoms}, "
            f"{self.basis})"
        )


def _evdata_fields(volume, energy, n_atoms, per_atom, reference, label, basis, notes) -> dict:
    """Every field of an `EVData`, checked, sorted by volume, per atom and shifted."""
    where = "EVData"
    v = _vector(where, "volume", volume)
    e = _vector(where, "energy", energy)
    if v.shape != e.shape:
        raise ValueError(
            f"{where}: volume has {v.shape[0]} points but energy has {e.shape[0]}; "
            "give one energy per volume."
        )
    if n_atoms is not None:
        try:
            n_atoms = _count(n_atoms)
        except ValueError as err:
            raise ValueError(f"{where}: n_atoms {err} (or None if unknown).") from None
    if v.size < 2:
        raise ValueError(f"{where}: need at least 2 points; got {v.size}.")
    if (v <= 0).any():
        i = int(np.argmax(v <= 0))
        raise ValueError(
            f"{where}: volumes must be positive; volume[{i}] = {float(v[i])!r} Å³. "
            "Check the column order (volume first?) and units."
        )
    if basis is None:
        basis = "per atom" if per_atom else ("unknown" if n_atoms is None else "per cell")
    elif basis not in _BASES:
        raise ValueError(f"{where}: basis must be one of {_BASES}; got {basis!r}.")
    divide = 1 if (per_atom or n_atoms is None) else n_atoms
    order = np.argsort(v, kind="stable")
    v, e = v[order] / divide, e[order] / divide
    dup = np.nonzero(np.diff(v) <= 1e-12 * v[1:])[0]
    if dup.size:
        raise ValueError(
            f"{where}: duplicate volume {float(v[dup[0]] * divide)!r} Å³ appears more than "
            "once; average or drop repeated structures before fitting."
        )
    _check_scale(where, v, e)
    shift = _reference(where, reference, e)
    es = e - shift
    v.setflags(write=False)
    es.setflags(write=False)
    return {
        "volume": v,
        "energy": es,
        "n_atoms": n_atoms,
        "basis": basis,
        "energy_shift": shift,
        "label": str(label),
        "notes": tuple(str(n) for n in notes),
    }


def _reference(where: str, reference, e: np.ndarray) -> float:
    """The energy subtracted from per-atom energies: their minimum, or a given number."""
    if isinstance(reference, str):
        if reference != "min":
            raise ValueError(f"{where}: reference must be 'min' or a number; got {reference!r}.")
        return float(e.min())
    shift = float(reference)
    if not np.isfinite(shift):
        raise ValueError(f"{where}: reference must be finite; got {reference!r}.")
    return shift


# ---------------------------------------------------------------------------------------
# Table headers: a column is a quantity word, then only recognised units, basis words and
# connectors ("Volume (bohr^3)", "energy_eV_per_atom", "E [Ry/cell]"). Anything else
# ("e_fermi", "energy_pbe", "Energy (a.u.)") is not read as that quantity.

_VOL_WORDS = {"v", "vol", "volume", "volumes"}
_ENE_WORDS = {"e", "en", "ene", "energy", "energies", "etot", "toten", "totalenergy"}
_MODIFIERS = {"total", "tot"}
_CONNECTORS = {"per", "in", "of"}
_ATOM_WORDS = {"atom", "atoms", "peratom", "at"}
_CELL_WORDS = {"cell", "cells", "percell", "uc", "supercell"}
_VOL_UNITS = {
    "a3": ("Å³", 1.0),
    "aa3": ("Å³", 1.0),
    "ang3": ("Å³", 1.0),
    "angstrom3": ("Å³", 1.0),
    "angstroms3": ("Å³", 1.0),
    "bohr3": ("bohr³", BOHR_A**3),
    "a03": ("bohr³", BOHR_A**3),
    "nm3": ("nm³", 1e3),
}
_ENE_UNITS = {
    "ev": ("eV", 1.0),
    "mev": ("meV", 1e-3),
    "ry": ("Ry", RYDBERG_EV),
    "ryd": ("Ry", RYDBERG_EV),
    "rydberg": ("Ry", RYDBERG_EV),
    "ha": ("Hartree", HARTREE_EV),
    "hartree": ("Hartree", HARTREE_EV),
    "hartrees": ("Hartree", HARTREE_EV),
    "kj": ("kJ/mol", KJ_PER_MOL_EV),
    "kcal": ("kcal/mol", 4.184 * KJ_PER_MOL_EV),
}
_NATOM_NAMES = {"natoms", "natom", "nat", "numatoms", "numberofatoms", "nbatoms", "atoms"}


@dataclass(frozen=True)
class _Col:
    index: int
    header: str
    quantity: str | None  # "volume", "energy", "n_atoms" or None
    unit: str | None = None  # stated unit, canonical spelling
    factor: float = 1.0  # to Å³ or eV
    basis: str | None = None  # "atom", "cell" or None (not stated)
    problem: str = ""  # why a volume/energy-like column is not read as one


def _tokens(h: str) -> list[str]:
    s = h.strip().lower().replace("å", "a").replace("³", "3").replace("^", "").replace("**", "")
    return re.findall(r"[a-z0-9]+", s)


def _column(i: int, h: str) -> _Col:
    t = _tokens(h)
    if not t:
        return _Col(i, h, None)
    if "".join(t) in _NATOM_NAMES:
        return _Col(i, h, "n_atoms")
    while t and t[0] in _MODIFIERS:  # "total energy", "tot_en"
        t = t[1:]
    if not t or (t[0] not in _VOL_WORDS and t[0] not in _ENE_WORDS):
        return _Col(i, h, None)
    quantity = "volume" if t[0] in _VOL_WORDS else "energy"
    units = _VOL_UNITS if quantity == "volume" else _ENE_UNITS
    unit = factor = basis = None
    unknown = []
    rest = t[1:]
    k = 0
    while k < len(rest):
        w = rest[k]
        if w in units:
            if unit is not None:
                return _Col(i, h, None, problem=f"two units ({unit}, {units[w][0]})")
            unit, factor = units[w]
            if w in ("kj", "kcal"):  # molar energies need their "mol"
                if k + 1 < len(rest) and rest[k + 1] == "mol":
                    k += 1
                else:
                    return _Col(i, h, None, problem=f"'{w}' without '/mol'")
        elif w in _ATOM_WORDS or w in _CELL_WORDS:
            b = "atom" if w in _ATOM_WORDS else "cell"
            if basis not in (None, b):
                return _Col(i, h, None, problem="both 'atom' and 'cell'")
            basis = b
        elif w not in _CONNECTORS and w not in _MODIFIERS:
            unknown.append(w)
        k += 1
    if unknown == ["a", "u"]:
        return _Col(i, h, None, problem="'a.u.' is ambiguous (Hartree or Rydberg?): write Ha or Ry")
    if unknown:
        return _Col(i, h, None, problem=f"unknown unit or qualifier {' '.join(unknown)!r}")
    return _Col(i, h, quantity, unit, factor if factor is not None else 1.0, basis)


def _split_header(line: str, delim: str | None) -> list[str]:
    if delim:
        return next(csv.reader([line], delimiter=delim))
    # whitespace: keep a bracketed unit with its name ("Volume (bohr^3)", "E [eV]")
    return re.findall(r"[^\s\[(]+(?:\s*[\[(][^\])]*[\])])?|[\[(][^\])]*[\])]", line)


def _pick(name: str, cols: list[_Col], quantity: str) -> _Col:
    good = [c for c in cols if c.quantity == quantity]
    if len(good) == 1:
        return good[0]
    if len(good) > 1:
        names = ", ".join(repr(c.header) for c in good)
        raise _fail(
            name,
            _braces(
                f"ambiguous header: {len(good)} {quantity} columns ({names}); keep one, or "
                f"rename the others (e.g. '{quantity}_unused')."
            ),
        )
    near = [
        f"{c.header!r} ({c.problem})" for c in cols if c.problem and c.quantity is None
    ]  # volume/energy-like names that were refused
    header = [c.header[:40] for c in cols][:8]
    hint = f"; not read as {quantity}: {', '.join(near)}" if near else ""
    raise _fail(
        name,
        _braces(
            f"no {quantity} column in the header {header!r}{hint}. The first line must name "
            "a volume and an energy column, optionally with units and basis, e.g. "
            "'volume,energy' or 'Volume (bohr^3),Energy (Ry),n_atoms'."
        ),
    )


def _read_table(name: str, text: str, n_atoms, reference, label) -> EVData:
    """A table with a header line naming the columns (see `load`), read row by row: memory
    stays a small multiple of the file (the values go straight into arrays)."""
    rows = _content_lines(text)
    head_no, head = next(rows, (0, None))
    if head is None:
        raise _fail(name, "the file is empty; expected a header line and rows of numbers.")
    delim = next((d for d in (",", ";", "\t") if d in head), None)
    header, vcol, ecol, ncol = _header_columns(name, head_no, head, delim)
    fast = _read_numbers(text, head_no, delim, header, vcol, ecol, ncol)
    if fast is None:  # not a plain table of numbers: row by row, naming the line at fault
        fast = _read_rows(name, rows, delim, header, vcol, ecol, ncol)
    vols, enes, counts = fast
    n = _atoms_per_cell(name, ncol, counts, n_atoms)
    vb, eb = _column_bases(name, vcol, ecol, n, n_atoms, ncol)
    v, e, divided = _per_atom(name, vols, enes, (vcol, vb), (ecol, eb), n)
    basis = "per cell" if divided else ("unknown" if vb != "atom" and n is None else "per atom")
    try:
        return EVData(
            v,
            e,
            n_atoms=n,
            per_atom=True,
            reference=reference,
            label=label,
            basis=basis,
            notes=_unit_notes(vcol, ecol),
        )
    except ValueError as err:
        raise _fail(name, _braces(str(err).removeprefix("EVData: "))) from None


def _content_lines(text: str):
    """`(line number, line)` of the lines that are neither blank nor comments, lazily (no
    copy of the text: a file of a million rows stays one string)."""
    if "\r" in text:  # Windows or old Mac line ends
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    start, k, n = 0, 0, len(text)
    while start < n:
        end = text.find("\n", start)
        end = n if end < 0 else end
        k += 1
        ln = text[start:end]
        start = end + 1
        if ln.strip() and not ln.lstrip().startswith("#"):
            yield k, ln


def _header_columns(name: str, head_no: int, head: str, delim):
    """`(number of columns, volume column, energy column, atom-count column or None)`."""
    try:
        header = [h.strip() for h in _split_header(head, delim)]
    except csv.Error as e:
        raise _fail(name, _braces(f"line {head_no} cannot be read as a header ({e}).")) from None
    cols = [_column(i, h) for i, h in enumerate(header)]
    if not any(c.quantity in ("volume", "energy") or c.problem for c in cols):
        raise _fail(
            name,
            _braces(
                "not an energy–volume table: the first line must be a header naming a volume "
                "and an energy column (e.g. 'volume,energy'); got "
                f"{[h[:40] for h in header[:6]]!r}."
            ),
        )
    vcol, ecol = _pick(name, cols, "volume"), _pick(name, cols, "energy")
    ncols = [c for c in cols if c.quantity == "n_atoms"]
    if len(ncols) > 1:
        raise _fail(name, _braces(f"ambiguous header: {len(ncols)} atom-count columns."))
    return header, vcol, ecol, (ncols[0] if ncols else None)


def _fields(name: str, k: int, ln: str, delim, header: list[str]) -> list[str]:
    """The fields of table line `k`, as many as the header names."""
    if not delim:
        r = ln.split()
    else:
        try:
            r = [c.strip() for c in next(csv.reader([ln], delimiter=delim))]
        except csv.Error as e:
            raise _fail(name, _braces(f"line {k} cannot be read as a table ({e}).")) from None
    if len(r) != len(header):
        names = ", ".join(h[:40] for h in header[:8])
        commas = delim == "," and len(r) == 2 * len(header)
        raise _fail(
            name,
            _braces(
                f"line {k} has {len(r)} field(s) but the header names {len(header)} "
                f"column(s) ({names}); give one value per column"
                + (" (decimal commas? separate fields with ';')" if commas else "")
                + "."
            ),
        )
    return r


def _value(name: str, k: int, s: str, col: _Col, kind: str) -> float:
    """Field `s` of line `k` as a finite number (`kind`: "volume" positive, "count" an atom
    count, else any finite number)."""
    where = f"line {k}, column {col.header!r}"
    try:
        x = float(s)
    except ValueError:
        raise _fail(name, _braces(f"{where}: {s[:40]!r} is not a number.")) from None
    if not np.isfinite(x):
        raise _fail(name, _braces(f"{where}: NaN or inf ({s!r}); remove or fix the point."))
    if kind == "volume" and x <= 0:
        raise _fail(
            name,
            _braces(
                f"{where}: volumes must be positive; got {s}. Check the column order and units."
            ),
        )
    if kind == "count":
        try:
            return _count(x)
        except ValueError:
            raise _fail(
                name, _braces(f"{where}: {s!r} is not a positive whole number of atoms.")
            ) from None
    return x


#: lines handed to NumPy's parser at once (a few MB of text)
_BLOCK_LINES = 1 << 16


def _read_numbers(text: str, head_no: int, delim, header, vcol, ecol, ncol):
    """`_read_rows`'s result by NumPy's parser (C speed) for a plain table of finite numbers
    (no quotes, no trailing comments), or None where `_read_rows` must look row by row."""
    if delim not in (None, ",", ";", "\t"):
        return None
    body = (ln for k, ln in _content_lines(text) if k > head_no)
    blocks = []
    try:
        while block := list(itertools.islice(body, _BLOCK_LINES)):  # bounded memory
            blocks.append(np.loadtxt(block, delimiter=delim, comments=None, ndmin=2))
    except ValueError:
        return None
    if not blocks or any(b.shape[1] != len(header) for b in blocks):
        return None
    table = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    del blocks
    if not np.isfinite(table).all():
        return None
    vols, enes = table[:, vcol.index].copy(), table[:, ecol.index].copy()
    counts = set()
    if ncol is not None:
        n = table[:, ncol.index]
        if (n < 1).any() or (n != np.round(n)).any():
            return None
        counts = {int(x) for x in np.unique(n)}
    if (vols <= 0).any():
        return None
    return vols, enes, counts


def _read_rows(name, rows, delim, header, vcol, ecol, ncol):
    """Volumes and energies (float64 arrays, as written) and the set of atom counts."""
    vols, enes, counts = array.array("d"), array.array("d"), set()
    for k, ln in rows:
        r = _fields(name, k, ln, delim, header)
        vols.append(_value(name, k, r[vcol.index], vcol, "volume"))
        enes.append(_value(name, k, r[ecol.index], ecol, "energy"))
        if ncol is not None:
            counts.add(_value(name, k, r[ncol.index], ncol, "count"))
    if not vols:
        raise _fail(name, "the table has a header but no rows of numbers.")
    return np.frombuffer(vols), np.frombuffer(enes), counts


def _atoms_per_cell(name, ncol, counts, n_atoms):
    """Atoms per cell: the column, the argument, or unknown (None); they must agree."""
    if ncol is None:
        return n_atoms
    if len(counts) > 1:
        raise _fail(
            name,
            _braces(
                f"column {ncol.header!r} holds different atom counts ({sorted(counts)[:4]}); "
                "one E(V) curve is one cell. Convert to per-atom values and drop the column."
            ),
        )
    (n,) = counts
    if n_atoms is not None and n_atoms != n:
        raise _fail(
            name,
            f"{{n_atoms_}}{n_atoms} contradicts the file's column {_braces(repr(ncol.header))} "
            f"({n} atoms per cell); drop one.",
        )
    return n


def _column_bases(name, vcol, ecol, n, n_atoms, ncol):
    """The basis of each column: stated, else the other column's (both "atom", "cell" or
    None)."""
    vb, eb = vcol.basis, ecol.basis
    if (vb is None) != (eb is None) and n is not None and n > 1:
        said, unsaid = (vcol, ecol) if vb else (ecol, vcol)
        raise _fail(
            name,
            _braces(
                f"column {said.header!r} says per {said.basis} but {unsaid.header!r} does not, "
                f"with {n} atoms per cell: ambiguous; say per atom or per cell in both names."
            ),
        )
    vb, eb = vb or eb, eb or vb
    if vb == eb == "atom" and n_atoms is not None and ncol is None:
        raise _fail(
            name,
            f"the columns are per atom ({_braces(repr(vcol.header))}, "
            f"{_braces(repr(ecol.header))}) but {{n_atoms_}}{n_atoms} was given, which divides "
            "per-cell values; drop it.",
        )
    return vb, eb


def _per_atom(name, vols, enes, vol, ene, n):
    """Volumes [Å³] and energies [eV] per atom: units converted, per-cell columns divided by
    `n` (unknown: per atom as they are). `vol`, `ene`: (column, basis). Also: was any divided."""
    out, divided = [], False
    for (col, b), x in ((vol, vols), (ene, enes)):
        if b == "cell" and n is None:
            raise _fail(
                name,
                f"column {_braces(repr(col.header))} is per cell but the number of atoms is "
                "unknown; add an 'n_atoms' column or give {n_atoms_}N.",
            )
        x = x * col.factor
        if b != "atom" and n is not None:
            x /= n
            divided = True
        out.append(x)
    return out[0], out[1], divided


def _unit_notes(vcol: _Col, ecol: _Col) -> list[str]:
    """What `load` says about units: conversions made, units assumed."""
    notes = []
    converted = [
        f"{q} from {c.unit}"
        for q, c in (("volume", vcol), ("energy", ecol))
        if c.unit and c.factor != 1.0
    ]
    if converted:
        notes.append(f"converted {' and '.join(converted)} (CODATA 2022)")
    missing = [u for u, c in (("Å³", vcol), ("eV", ecol)) if not c.unit]
    if missing:
        notes.append(f"units not stated in the header: read as {' and '.join(missing)}")
    return notes


def _read_acwf(name: str, d: dict, key, n_atoms, reference, label) -> EVData:
    pts_all = d["eos_data"]
    if not isinstance(pts_all, dict):
        raise _fail(
            name,
            f"'eos_data' must map crystal keys to [volume, energy] pairs; got a "
            f"{type(pts_all).__name__}.",
        )
    keys = sorted(str(k) for k, pts in pts_all.items() if pts)
    if not keys:
        raise _fail(name, "'eos_data' holds no crystal with E(V) points.")
    if key is None:
        if len(keys) > 1:
            others = f" (others: {', '.join(keys[1:4])}{', …' if len(keys) > 4 else ''})"
            raise _fail(
                name,
                _braces(f"the ACWF file holds {len(keys)} crystals; pick one with ")
                + "{key_}"
                + _braces(f"{keys[0]!r}{others}."),
            )
        key = keys[0]
    if key not in pts_all or not pts_all[key]:
        close = [k for k in keys if k.split("-")[0] == str(key).split("-")[0]][:4]
        raise _fail(
            name,
            _braces(
                f"no E(V) points for key {key!r} in 'eos_data'"
                + (f"; did you mean one of {close}?" if close else f" ({len(keys)} crystals).")
            ),
        )
    field = _braces(f"eos_data[{key!r}]")
    try:
        pts = np.asarray(pts_all[key], dtype=np.float64)
    except (TypeError, ValueError):
        pts = None
    if pts is None or pts.ndim != 2 or pts.shape[1] != 2:
        raise _fail(name, f"{field} is not a list of [volume, energy] number pairs.")
    counts = d.get("num_atoms_in_sim_cell")
    n = None
    if isinstance(counts, dict) and key in counts:
        try:
            n = _count(counts[key])
        except ValueError as err:
            raise _fail(name, _braces(f"num_atoms_in_sim_cell[{key!r}] {err}.")) from None
    if n_atoms is not None:
        if n is not None and n != n_atoms:
            raise _fail(
                name,
                f"{{n_atoms_}}{n_atoms} contradicts the file's num_atoms_in_sim_cell "
                f"({n} for {_braces(repr(key))}); drop it.",
            )
        n = n_atoms
    try:
        data = EVData(pts[:, 0], pts[:, 1], n_atoms=n, reference=reference, label=label or str(key))
    except ValueError as err:
        raise _fail(name, field + ": " + _braces(str(err).removeprefix("EVData: "))) from None
    return data


_ASE_EXT = (".traj", ".xyz", ".extxyz", ".db", ".out", ".xml", ".outcar")


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

    - a CSV, semicolon, tab or whitespace table whose first non-comment line is a header
      naming a volume column (`volume`, `V`, `vol`, …) and an energy column (`energy`, `E`,
      `etot`, …), optionally an `n_atoms` column; lines starting with `#` are comments; a
      UTF-8 byte-order mark is accepted. A name may carry a unit and a basis — `Volume
      (bohr^3)`, `E [Ry/cell]`, `energy_eV_per_atom`: bohr³, nm³, Ry, Hartree, meV, kJ/mol
      and kcal/mol are converted (CODATA 2022); unstated units are read as Å³ and eV.
      Anything else after the name (`e_fermi`, `Energy (a.u.)`) is not read as that
      quantity, and two candidate columns are refused as ambiguous;
    - values are per cell of `n_atoms` atoms (the `n_atoms` column or argument) unless the
      header says per atom; with no count at all they are taken as per atom and
      `data.basis == "unknown"`;
    - an ACWF verification JSON file (`results-unaries-*.json`), one crystal picked by
      `key`, e.g. `"Cu-X/FCC"`; `n_atoms` comes from `num_atoms_in_sim_cell`;
    - an open text stream (`sys.stdin`, `io.StringIO`) holding a table or ACWF JSON;
    - any file ASE can read (`.traj`, `.xyz`, …) or a list of `ase.Atoms` with energies,
      when ASE is installed (an optional dependency).

    Example:
        >>> data = load(example_path())
        >>> data = load("results-unaries-verification-PBE-v1-fleur.json", key="Cu-X/FCC")

    Raises:
        ValueError: a missing file, a file that is not a table, an ambiguous header, bad
            values (see `EVData`); the message names the file, the line and the column.
    """
    if n_atoms is not None:
        try:
            n_atoms = _count(n_atoms)
        except ValueError as err:
            raise ValueError(f"load: n_atoms {err}.") from None
    lab = label if label is not None else ""
    if hasattr(source, "read"):  # an open stream: sys.stdin, io.StringIO, a file object
        name = str(getattr(source, "name", "<stream>"))
        try:
            text = source.read()
        except (OSError, UnicodeDecodeError) as e:
            raise _fail(name, _braces(f"cannot read the stream ({e}).")) from None
        if isinstance(text, bytes):
            text = _decode(name, text)
        if not isinstance(text, str):
            raise _fail(name, f"the stream gave {type(text).__name__}, not text.")
        return _parse_text(name, text, "", key, n_atoms, reference, lab, name.strip("<>"))
    if not isinstance(source, (str, os.PathLike)):
        if isinstance(source, Sequence) and source and hasattr(source[0], "get_volume"):
            return from_ase(source, reference=reference, label=lab)
        raise ValueError(
            "load: expected a file path, an open text stream or a list of ase.Atoms; got "
            f"{type(source).__name__}."
        )
    path = os.fspath(source)
    _check_exists(path)
    if os.path.isdir(path):
        raise _fail(path, "is a directory, not a data file.")
    ext = os.path.splitext(path)[1].lower()
    if ext in _ASE_EXT or os.path.basename(path).upper().startswith(("OUTCAR", "VASPRUN")):
        try:
            import ase.io
        except ImportError:
            raise _fail(
                path, f"reading {ext or 'this'} files needs ASE (pip install ase)."
            ) from None
        try:
            images = ase.io.read(path, index=":")
        except Exception as e:  # noqa: BLE001 - ASE raises many types
            raise _fail(path, _braces(f"ASE could not read the file ({e}).")) from None
        data = from_ase(images, reference=reference, label=lab or os.path.basename(path))
        if n_atoms is not None and n_atoms != data.n_atoms:
            raise _fail(
                path, f"{{n_atoms_}}{n_atoms} contradicts the structures' {data.n_atoms} atoms."
            )
        return data
    try:
        with open(path, "rb") as fh:
            text = _decode(path, fh.read())
    except OSError as e:
        raise _fail(path, _braces(f"cannot read the file ({e.strerror}).")) from None
    return _parse_text(path, text, ext, key, n_atoms, reference, lab, os.path.basename(path))


def _check_exists(path: str) -> None:
    """Refuse a path that cannot be opened, saying why: missing, a broken or looping link."""
    try:
        os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise _fail(
                path, _braces(f"a broken symbolic link (to {os.readlink(path)!r}, missing).")
            ) from None
        raise _fail(path, "no such file.") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _fail(
                path, "a loop of symbolic links (too many levels); point the link at a file."
            ) from None
        raise _fail(path, _braces(f"cannot read the file ({e.strerror}).")) from None


#: byte-order marks: UTF-32 first (its little-endian mark begins with UTF-16's)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(name: str, raw: bytes) -> str:
    """Text of a file: UTF-8, or UTF-8/16/32 with a byte-order mark (Windows editors and
    PowerShell write UTF-16 with one). Anything else is refused, naming what it looks like."""
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), "utf-8")
    why = ""
    if encoding == "utf-8" and b"\0" in raw:  # NUL is valid UTF-8 but never in a table
        odd, even = raw[1:400:2].count(0), raw[0:400:2].count(0)
        if max(odd, even) > 0.4 * len(raw[:400]) / 2 and min(odd, even) <= 1:
            why = "UTF-16 without a byte-order mark (every other byte is zero)"
        else:
            raise _fail(name, "not a text file (binary data); expected a volume,energy table.")
    else:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as e:
            why = f"invalid {encoding.upper().removesuffix('-SIG')} ({e.reason} at byte {e.start})"
    raise _fail(name, _braces(f"not a text file: {why}; save it as UTF-8 text."))


def _parse_text(name, text, ext, key, n_atoms, reference, label, default_label) -> EVData:
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Excel, Notepad)
    if ext == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise _fail(name, _braces(f"invalid JSON ({e.msg} at line {e.lineno}).")) from None
        except RecursionError:
            raise _fail(name, "JSON nested too deeply to be an ACWF results file.") from None
        if not isinstance(d, dict) or "eos_data" not in d:
            raise _fail(
                name,
                "JSON without an 'eos_data' entry; not an ACWF results file (or give a "
                "volume,energy table).",
            )
        return _read_acwf(name, d, key, n_atoms, reference, label)
    if key is not None:
        raise _fail(name, "{key} selects a crystal in an ACWF JSON file; this is a table.")
    return _read_table(name, text, n_atoms, reference, label or default_label)


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


def length_bucket(n: int) -> int:
    """The padded length of an `n`-point curve: 8, 12, 16, 24, 32, 48, 64, 96, …

    `fit_eos` and the diagnosis of `properties`/`assess` pad curves with zero-weight points to
    these lengths (and batches to `batch_bucket` sizes), so a few compiled programs serve all
    shapes; a zero weight removes a point exactly."""
    b = 8
    while b < n:
        b = b * 3 // 2 if b & (b - 1) == 0 else b * 4 // 3
    return b


def batch_bucket(n: int) -> int:
    """The padded batch size: 1, 2, 4, …, 64, then multiples of 64."""
    return 1 << (n - 1).bit_length() if n <= 64 else -(-n // 64) * 64
