"""Test configuration: float64 everywhere (E(V) energies and finite differences need it)."""

import atexit
import os
import shutil
import sys
import tempfile

import jax
import pytest

jax.config.update("jax_enable_x64", True)
os.environ.setdefault("PINNLOSS_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# the CLI turns on JAX's persistent compilation cache: keep the tests' out of ~/.cache
if "PINNLOSS_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="pinnloss-test-cache-")
    os.environ["PINNLOSS_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def key():
    return jax.random.key(0)
