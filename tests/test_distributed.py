"""pl.sweep on JAX's multi-process runtime: two local CPU processes (gloo), started by
`python -m pinnloss.launch`, return the same result as a one-process sweep."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pinnloss as pl

try:
    from jax._src.lib import _jax as _xla_ext

    GLOO = hasattr(_xla_ext, "make_gloo_tcp_collectives")
except ImportError:  # pragma: no cover - other JAX layouts
    GLOO = False

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# One module, imported by the test (the one-process reference) and run by each rank.
CASE = textwrap.dedent(
    '''
    import json, os, sys

    import jax
    import jax.numpy as jnp
    import numpy as np

    import pinnloss as pl


    def one(key, w, x):
        """A cheap stand-in for a fit: key-dependent numbers, a shared and a batched arg."""
        z = jax.random.normal(key, (3,))
        return {"y": jnp.tanh(w * z) + x, "s": jnp.sum(z**2) * w}


    def one_key(key, w, x):
        return dict(one(key, w, x), key=key)  # typed keys come back too


    def inputs(n):
        keys = jax.random.split(jax.random.key(7), n)
        return keys, jnp.linspace(0.5, 2.0, n), jnp.asarray([1.0, -1.0, 0.5])


    def as_json(out):
        res = {"y": np.asarray(out["y"]).tolist(), "s": np.asarray(out["s"]).tolist()}
        if "key" in out:
            res["key"] = np.asarray(jax.random.key_data(out["key"])).tolist()
        return res


    if __name__ == "__main__":
        assert pl.distributed_initialize()
        jax.config.update("jax_enable_x64", True)
        outdir, n = sys.argv[1], int(sys.argv[2])
        rank = jax.process_index()
        res = {"processes": jax.process_count(), "devices": jax.device_count()}
        args = inputs(n)
        # padding (n = 5 over 4 devices) and chunks of 1 fit per device step
        res["plain"] = as_json(pl.sweep(one_key, *args, in_axes=(0, 0, None), chunk_size=1))
        ck = os.path.join(outdir, "ck")
        first = pl.sweep(one, *args, in_axes=(0, 0, None), checkpoint=ck, checkpoint_every=2)
        mine = ck + f".rank{rank}of2"
        stamp = os.stat(mine).st_mtime_ns
        again = pl.sweep(one, *args, in_axes=(0, 0, None), checkpoint=ck, checkpoint_every=2)
        res["checkpoint"] = as_json(first)
        res["resumed"] = as_json(again)
        res["rewritten"] = os.stat(mine).st_mtime_ns != stamp
        with open(os.path.join(outdir, f"rank{rank}.json"), "w") as f:
            json.dump(res, f)
    '''
)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    path = d / "case.py"
    path.write_text(CASE)
    sys.path.insert(0, str(d))
    try:
        import case as module
    finally:
        sys.path.remove(str(d))
    return d, module


@pytest.mark.skipif(not GLOO, reason="this jaxlib has no gloo CPU collectives")
def test_two_processes_sweep_equals_one_process_sweep(case):
    d, module = case
    n = 5
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, "-m", "pinnloss.launch", "-n", "2", "--devices-per-process", "2"]
    proc = subprocess.run(
        [*cmd, str(d / "case.py"), str(d), str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # output lines carry the rank
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert all(ln.startswith(("[0] ", "[1] ")) for ln in lines), lines[:5]

    reference = module.as_json(pl.sweep(module.one_key, *module.inputs(n), in_axes=(0, 0, None)))
    for rank in (0, 1):
        with open(d / f"rank{rank}.json") as f:
            got = json.load(f)
        assert got["processes"] == 2 and got["devices"] == 4
        for what in ("plain", "checkpoint", "resumed"):
            for k in ("y", "s"):
                np.testing.assert_allclose(got[what][k], reference[k], rtol=1e-12, atol=0)
        assert got["plain"]["key"] == reference["key"]
        assert not got["rewritten"], "a finished checkpoint was recomputed instead of loaded"
    # each process checkpoints its own share: ceil(5 / 2) = 3 fits
    from pinnloss.parallel._checkpoint import read_raw

    for rank in (0, 1):
        raw = read_raw(d / f"ck.rank{rank}of2", kind="sweep", fingerprint=None, where="test")
        assert raw.meta == {"done": 3, "n": 3}
    assert not (d / "ck").exists()


def test_distributed_initialize_needs_all_three_or_none(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "PINNLOSS_NUM_PROCESSES", "PINNLOSS_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"num_processes \(PINNLOSS_NUM_PROCESSES\)"):
        pl.distributed_initialize("127.0.0.1:1234")
    monkeypatch.setenv("PINNLOSS_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="PINNLOSS_NUM_PROCESSES='two' is not an integer"):
        pl.distributed_initialize()
    with pytest.raises(ValueError, match=r"process_id must be in \[0, num_processes = 2\)"):
        pl.distributed_initialize("127.0.0.1:1234", 2, 2)
    # nothing set and no cluster: a single process, nothing started
    monkeypatch.delenv("PINNLOSS_NUM_PROCESSES")
    for name in ("SLURM_JOB_ID", "SLURM_STEP_NUM_TASKS", "OMPI_MCA_orte_hnp_uri"):
        monkeypatch.delenv(name, raising=False)
    assert pl.distributed_initialize() is False
    assert not jax.distributed.is_initialized()
    assert jnp.asarray(1.0) + 1 == 2  # the backend still starts normally


def test_sweep_100k_example_runs_small():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import sweep_100k
    finally:
        sys.path.remove(os.path.join(ROOT, "examples"))
    s = sweep_100k.main(["--n", "48"])
    assert s["curves"] == 48 and s["failed"] == 0 and s["processes"] == 1
    # an independent implementation agrees on the fitted V0, B0, B0'
    assert s["max_rel_diff_vs_scipy"] < 1e-5
    # 0.5 meV noise on the bundled Cu curve: V0 near 11.95 Å³, B0 near 141 GPa
    assert abs(s["v0_median"] - 11.95) < 0.02 and abs(s["b0_gpa_median"] - 141) < 3
    assert 0 < s["v0_std"] < 0.05
