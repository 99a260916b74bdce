"""Test configuration: float64 everywhere (E(V) energies and finite differences need it)."""

import atexit
import os
import shutil
import sys
import tempfile

import jax
import pytest

jax.config.update("jax_enable_x64", True)
# The suite is dominated by XLA compiles of small programs (63 % of test_solvers.py's time was in
# backend_compile, cProfile 2026-12-06): LLVM at -O0 cut the CPU time of test_eos_fit.py +
# test_optimizers.py + test_jacobian.py by 22 % (98.9 s -> 77.0 s user, same load) with the same
# results (no fast-math either way). Set before the backend starts; subprocesses (examples, README
# blocks, notebook kernels, the CLI) inherit it. Benchmarks never run with it.
_O0 = "--xla_backend_optimization_level=0"
if _O0 not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _O0).strip()
os.environ.setdefault("PINNLOSS_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# the CLI turns on JAX's persistent compilation cache: keep the tests' out of ~/.cache
if "PINNLOSS_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="pinnloss-test-cache-")
    os.environ["PINNLOSS_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
# One JAX persistent compilation cache for the whole run, shared by the xdist workers and every
# subprocess (README blocks, notebook kernels, examples run as scripts, the CLI): a program that
# another process already compiled (the E(V) fit, the notebooks' fits) is loaded, not compiled.
# The master sets it before the workers start, so all of them see the same directory.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _jcc = tempfile.mkdtemp(prefix="pinnloss-test-jaxcache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _jcc
    atexit.register(shutil.rmtree, _jcc, ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def key():
    return jax.random.key(0)
