"""The PINNacle harness (benchmarks/pinnacle.py): its metric against an independent
computation, the reference loaders against PINNacle's formats, and one end-to-end run of the
command line with a budget of a few seconds, read back from its JSON line."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import pinnacle_problems as pp  # noqa: E402


def test_l2re_is_pinnacles_metric():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 3)) * np.array([1.0, 0.1, 10.0])  # u, v, p of unlike scale
    pred = ref + 1e-2 * rng.normal(size=ref.shape)
    # independent: the Frobenius norm of the error over that of the reference, all points
    # and all components together (PINNacle's TesterCallback: sqrt(mse) / sqrt(mean(y²)))
    expected = np.linalg.norm((pred - ref).ravel()) / np.linalg.norm(ref.ravel())
    assert math.isclose(pp.l2re(pred, ref), expected, rel_tol=1e-12)
    # not the mean of per-component errors: p dominates, as in PINNacle
    per_component = np.mean(np.linalg.norm(pred - ref, axis=0) / np.linalg.norm(ref, axis=0))
    assert not math.isclose(pp.l2re(pred, ref), per_component, rel_tol=1e-2)
    # a uniform relative error of eps is an L2RE of eps
    assert math.isclose(pp.l2re(1.03 * ref, ref), 0.03, rel_tol=1e-12)


@pytest.mark.parametrize(
    "pred, ref, match",
    [
        (np.ones((3, 1)), np.ones((3,)), "shape"),
        (np.ones((0, 1)), np.ones((0, 1)), "empty"),
        (np.ones((3, 1)), np.zeros((3, 1)), "all zeros"),
    ],
)
def test_l2re_refuses_bad_input(pred, ref, match):
    with pytest.raises(ValueError, match=match):
        pp.l2re(pred, ref)


def test_references_load_as_pinnacle_reads_them():
    x, y = pp.load_reference("poisson1_cg_data.dat", 2, 1)
    assert x.shape == (1246, 2) and y.shape == (1246, 1)
    on_square = np.isclose(np.abs(x), 0.5).any(1)
    np.testing.assert_allclose(y[on_square], 1.0, atol=1e-6)  # u = 1 on the square's sides
    x, y = pp.load_reference("lid_driven_a4.dat", 2, 3)
    assert x.shape[1] == 2 and y.shape[1] == 3 and np.isfinite(y).all()
    lid = np.isclose(x[:, 1], 1.0)
    np.testing.assert_allclose(y[lid, 0], 4 * x[lid, 0] * (1 - x[lid, 0]), atol=1e-3)
    # Burgers: x then one column per time slice, spread to (x, t) rows
    x, y = pp.load_reference("burgers1d.dat", 2, 1, time_slices=True)
    raw = np.loadtxt(pp.DATA / "burgers1d.dat", comments="%")
    assert len(x) == raw.shape[0] * (raw.shape[1] - 1)
    t = np.unique(x[:, 1])
    assert len(t) == raw.shape[1] - 1 and t[0] == 0.0 and math.isclose(t[-1], 1.0)
    first = x[:, 1] == 0.0
    np.testing.assert_allclose(y[first, 0], -np.sin(np.pi * x[first, 0]), atol=1e-3)


def test_uniform_grid_is_deepxdes():
    # DeepXDE Hypercube.uniform_points(2500, boundary=False) on the unit square: h = 0.02,
    # 50 nodes per axis at k/51, k = 1..50
    g = pp.uniform_grid((0, 0), (1, 1), 2500)
    axis = np.arange(1, 51) / 51
    expected = np.array([(a, b) for a in axis for b in axis])
    np.testing.assert_allclose(g, expected, atol=1e-7)


def test_poisson2d_c_exact_solution_meets_the_boundary_data_and_comsol():
    """The method-of-fundamental-solutions solution is harmonic by construction; on boundary
    points drawn by pl.geometry (not the fit's own points) it meets u = 1 / u = 0 to 1e-5,
    so by the maximum principle it is that close everywhere; COMSOL's nodes agree to 1e-4."""
    import jax
    from pinnacle_problems import poisson2d_c as p2c

    for part, value in (("rectangle", 1.0), ("disk", 0.0)):
        xb, _ = p2c.DOMAIN.sample_boundary(500, key=jax.random.key(3), part=part)
        assert np.max(np.abs(p2c.exact(np.asarray(xb)) - value)) < 1e-5
    x, y = p2c.reference()
    assert pp.l2re(y, p2c.exact(x)) < 1e-4


def test_every_registered_problem_has_a_consistent_spec():
    for name in pp.available():
        spec = pp.get(name)
        assert spec.name == name and spec.best > 0 and spec.recipe
        x, y = spec.reference()
        assert x.shape == (len(y), spec.input_dim) and y.shape[1] == spec.output_dim
        assert np.isfinite(x).all() and np.isfinite(y).all()
    with pytest.raises(ValueError, match="unknown"):
        pp.get("Poisson9d-X")


def test_harness_end_to_end_json():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    script = str(ROOT / "benchmarks" / "pinnacle.py")
    # bc_weight=1: the recipe's weight 100 pulls the walls first, and after the two or three
    # steps of a 3 s run the interior is still above the constant guess's error
    cmd = [sys.executable, script, "--problem", "Poisson2d-C", "--budget", "3", "--json",
           "--set", "n_interior=200", "--set", "n_boundary=100",
           "--set", "bc_weight=1"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["problem"] == "Poisson2d-C" and rec["solver"] == "lm"
    assert rec["steps"] > 0 and rec["seconds"] > 0 and rec["points"] == 300
    # a few seconds of LM on u = 1 / u = 0 boundary data already beats a constant guess
    # (L2RE of u = 0 is 1)
    assert 0 < rec["l2re"] < 1
    assert "| Poisson2d-C |" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [(["--problem", "Nope"], "unknown 'Nope'"),
     (["--problem", "Poisson2d-C", "--set", "widht=30"], "no option 'widht'")],
)  # fmt: skip
def test_harness_refuses_bad_arguments(args, message, capsys):
    # in-process (argparse exits 2 before any solve): the same main() the command runs
    import pinnacle

    with pytest.raises(SystemExit) as exit_:
        pinnacle.main(args)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_jinns_flag_without_jinns_says_how_to_install(monkeypatch, capsys):
    # jinns is kept out of the venv: --jinns must stop at once with the install command,
    # not with a traceback half-way through the pinnloss runs
    import pinnacle

    monkeypatch.setitem(sys.modules, "jinns", None)  # `import jinns` raises ImportError
    monkeypatch.delitem(sys.modules, "pinnacle_jinns", raising=False)
    with pytest.raises(SystemExit) as exit_:
        pinnacle.main(["--problem", "Burgers1d-C", "--budget", "1", "--jinns"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "jinns cannot be imported" in err and "--no-deps --target" in err
