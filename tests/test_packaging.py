"""The sdist and wheel build, carry what they must, and the wheel installs and runs in a fresh venv.

One test, about 10–20 s: `python -m build --no-isolation` (the `build` and `setuptools>=77`
of the test extra, no download) builds the sdist and then the wheel *from the sdist*, so a
file missing from the sdist's package data also breaks the wheel. The wheel goes into a new
venv with `--system-site-packages` and `pip install --no-deps` (JAX is not downloaded again);
when the tests themselves run inside a venv (CI's `.venv`), its site-packages are added to
the new venv by a `.pth` file, since `--system-site-packages` reaches only the base Python's.
"""

import email.parser
import os
import pathlib
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

import pinnloss

ROOT = pathlib.Path(__file__).resolve().parents[1]
JUNK = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".ruff_cache", ".ipynb_checkpoints", "figures", "out", "*.png",
)  # fmt: skip


def _run(*args, cwd=None, env=None):
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    assert proc.returncode == 0, f"{args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def _tree(path: pathlib.Path) -> set[str]:
    """Files under `path` as the sdist should carry them (no caches, no generated figures)."""
    out = set()
    for p in path.rglob("*"):
        rel = p.relative_to(ROOT).as_posix()
        if p.is_file() and "__pycache__" not in rel and ".ipynb_checkpoints" not in rel:
            if not rel.endswith((".pyc", ".png")):
                out.add(rel)
    return out


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, src, ignore=JUNK)
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "dist", src)
    (sdist,) = (tmp / "dist").glob("pinnloss-*.tar.gz")
    (wheel,) = (tmp / "dist").glob("pinnloss-*.whl")
    return tmp, sdist, wheel


def test_build_install_run(dists):
    tmp, sdist, wheel = dists
    version = pinnloss.__version__

    # The sdist: package, data, licences, README, and everything the tests read.
    with tarfile.open(sdist) as tar:
        top = f"pinnloss-{version}/"
        names = {n.removeprefix(top) for n in tar.getnames()}
    needed = {
        "LICENSE", "README.md", "pyproject.toml", "pinnloss/__init__.py",
        "pinnloss/data/cu_fcc_wien2k.csv", "pinnloss/data/LICENSE", "examples/_common.py",
    }  # fmt: skip
    for folder in ("tests", "examples", "notebooks"):
        needed |= _tree(ROOT / folder)
    assert needed <= names, sorted(needed - names)

    # The wheel: bundled data, both licences, SPDX metadata, the console script.
    with zipfile.ZipFile(wheel) as whl:
        files = set(whl.namelist())
        info = f"pinnloss-{version}.dist-info/"
        meta = email.parser.Parser().parsestr(whl.read(info + "METADATA").decode())
        entry_points = whl.read(info + "entry_points.txt").decode()
    assert {"pinnloss/data/cu_fcc_wien2k.csv", "pinnloss/eos/__init__.py"} <= files
    assert {info + "licenses/LICENSE", info + "licenses/pinnloss/data/LICENSE"} <= files
    assert meta["Version"] == version
    assert meta["License-Expression"] == "MIT"
    assert "ase" in meta.get_all("Provides-Extra")
    assert "pinnloss = pinnloss.cli:main" in entry_points

    # A fresh venv that sees the installed dependencies but not this checkout.
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv)
    py = venv / "bin" / "python"
    if sys.prefix != sys.base_prefix:  # running inside a venv: let the new one see its packages
        purelib = _run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
        outer = {sysconfig.get_path("purelib"), *site.getsitepackages()}
        pathlib.Path(purelib.strip(), "_outer_env.pth").write_text("\n".join(sorted(outer)))
    # --ignore-installed: the outer env may hold pinnloss itself (CI installs it non-editable),
    # which pip would take as already satisfied; nothing of the outer env is touched
    _run(
        sys.executable, "-m", "pip", "--python", py, "install",
        "--no-deps", "--no-index", "--ignore-installed", wheel,
    )  # fmt: skip

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    away = tmp / "elsewhere"  # not the checkout, so `import pinnloss` cannot find it by cwd
    away.mkdir()
    where = _run(py, "-c", "import pinnloss; print(pinnloss.__file__)", cwd=away, env=env)
    assert pathlib.Path(where.strip()).is_relative_to(venv), where
    out = _run(venv / "bin" / "pinnloss", "--version", cwd=away, env=env)
    assert version in out
    code = "from pinnloss import eos; d = eos.load(eos.example_path()); print(d.volume.size)"
    assert _run(py, "-c", code, cwd=away, env=env).strip() == "7"  # bundled Cu data, installed
