"""Figures carry the right numbers: `pinnloss.eos.plot` (residuals in meV, pressures in GPa)
and the generic `pinnloss.plot` (loss history)."""

import sys

import jax
import numpy as np
import pytest

import pinnloss
from pinnloss import eos, plot


def test_import_does_not_load_matplotlib_eagerly():
    import subprocess

    code = "import sys, pinnloss; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert pinnloss.plot is plot
    assert pinnloss.eos.plot is eos.plot
    assert sys.modules["pinnloss.eos.plot"] is eos.plot


def test_generic_plot_module_holds_no_eos_figures():
    assert plot.__all__ == ["loss_history"]
    assert not hasattr(plot, "energy_volume") and not hasattr(plot, "pressure_volume")
    assert eos.plot.__all__ == ["energy_volume", "pressure_volume"]


# Close to the published ACWF fit of the bundled Cu curve, but not the optimum itself.
BM = dict(e0=-45035.7488, v0=11.951, b0=0.8795, b1=5.06)


def _text(fig) -> str:
    return "\n".join(t.get_text() for t in fig.axes[0].texts)


def test_energy_volume_figure(tmp_path):
    from matplotlib.figure import Figure

    data = eos.example_data()
    bm = eos.BirchMurnaghan(**BM)
    p = eos.properties(bm, data)
    fig = eos.plot.energy_volume(data, {"BM": bm})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax, axr = fig.axes
    (points,) = [ln for ln in ax.lines if ln.get_label() == "data"]
    x, y = points.get_data()  # meV/atom relative to the model's E0, not to the lowest point
    assert np.allclose(x, data.volume)
    assert np.allclose(y, 1e3 * (data.absolute_energy - float(p.e0)), atol=1e-9)
    assert ax.get_ylabel() == "E − E₀ [meV/atom]"
    rx, ry = axr.lines[0].get_data()  # residuals in meV/atom
    expected = 1e3 * (np.asarray(jax.vmap(bm)(data.volume)) - data.absolute_energy)
    assert np.allclose(rx, data.volume) and np.allclose(ry, expected, atol=1e-9)
    assert "meV" in axr.get_ylabel()
    # V0 marked where the model's minimum is; V0, B0, B0' written with their errors
    (mark,) = [t for t in ax.texts if t.get_text() == "V₀"]
    assert np.isclose(mark.xy[0], float(p.v0)) and np.isclose(mark.xy[1], 0.0, atol=1e-9)
    text = _text(fig)
    assert f"V₀ = {eos.plot._pm(p.v0, p.std.v0, 'Å³/atom')}" in text
    assert f"B₀ = {eos.plot._pm(p.b0_gpa, p.std.b0_gpa, 'GPa')}" in text
    assert f"B₀′ = {eos.plot._pm(p.b1, p.std.b1)}" in text and "±" in text
    assert "E₀ = -45035.748" in text
    out = tmp_path / "fit.png"
    fig.savefig(out)
    assert out.stat().st_size > 1000


def test_value_format_rounds_to_the_error():
    assert eos.plot._pm(11.951031234, 0.000112, "Å³") == "11.95103 ± 0.00011 Å³"
    assert eos.plot._pm(140.9154, 0.0271) == "140.915 ± 0.027"
    assert eos.plot._pm(5.0593581, None) == "5.059358"


def test_standard_error_band_matches_the_error_of_e0():
    """At V0 the curve's error is E0's: dE(V0)/dθ = (1, 0, 0, 0) for a form with E'(V0) = 0.

    The band (delta method on the parameters' covariance) and `properties(...).std.e0`
    (autodiff of the properties) are computed along different routes.
    """
    data = eos.example_data()
    bm = eos.BirchMurnaghan(**BM)  # any form: its minimum is at its v0
    p = eos.properties(bm, data)
    grid = np.linspace(11.0, 13.0, 300)  # the figure's grid size: one compilation for both
    grid[0] = float(p.v0)
    at_v0 = eos.plot._stderr_band(bm, data, p, grid)[0]
    assert np.isclose(at_v0, float(p.std.e0), rtol=1e-6)
    fig = eos.plot.energy_volume(data, bm)
    (fill,) = fig.axes[1].collections  # the band around zero in the residual panel
    half = 1e3 * eos.plot._stderr_band(bm, data, p, data.volume)
    top = fill.get_paths()[0].vertices[:, 1].max()
    assert 0.9 * half.max() < top <= 1e3 * float(p.std.e0) * 10 and top > 0
    assert "standard error" in fig.axes[1].get_legend_handles_labels()[1][0]


def test_ensemble_band_spans_its_members():
    from pinnloss.eos._summary import summarise

    data = eos.example_data()
    bm = eos.BirchMurnaghan(**BM)
    rng = np.random.default_rng(0)
    n = 40
    samples = {k: np.full(n, v, np.float64) for k, v in BM.items()}
    samples["b0"] = samples["b0"] * (1 + 0.05 * rng.standard_normal(n))
    samples["b0_gpa"] = samples["b0"] * eos.EV_PER_A3_TO_GPA
    valid = np.ones(n, bool)
    valid[:3] = False  # failed members are left out
    ens = summarise(samples, valid, "test")
    grid = np.linspace(data.volume.min(), data.volume.max(), 9)
    lo, hi = eos.plot._ensemble_band(ens, bm, grid)
    curves = [
        np.asarray(eos.BirchMurnaghan(**{**BM, "b0": b}).energy(grid)) for b in samples["b0"][3:]
    ]
    assert np.allclose(lo, np.percentile(curves, 16, axis=0), atol=1e-10)
    assert np.allclose(hi, np.percentile(curves, 84, axis=0), atol=1e-10)
    i0 = np.argmin(np.abs(grid - BM["v0"]))
    assert np.all(hi - lo >= -1e-12) and (hi - lo)[i0] < 0.05 * (hi - lo).max()  # B0 pivots at V0
    fig = eos.plot.energy_volume(data, bm, ensemble=ens)
    assert "37 ensemble members" in fig.axes[1].get_legend_handles_labels()[1][0]
    assert f"± {eos.plot._pm(BM['b0'] * 160.21766208, ens.std.b0_gpa).split('± ')[1]}" in _text(fig)


def test_coinciding_curves_stay_visible_and_say_so():
    data = eos.example_data()
    bm = eos.BirchMurnaghan(**BM)
    same = eos.BirchMurnaghan(**{**BM, "e0": BM["e0"] + 1e-6})  # 0.001 meV above
    far = eos.BirchMurnaghan(**{**BM, "b1": 4.0})
    fig = eos.plot.energy_volume(data, {"BM": bm, "copy": same, "other": far}, band=False)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines if not ln.get_label().startswith("_")}
    labels = list(lines)
    assert labels[0] == "BM" and labels[1].startswith("copy\n(on BM: max |Δ| = 0.001 meV)")
    assert labels[2] == "other" and labels[3] == "data"
    first, second = lines["BM"], lines[labels[1]]
    assert first.get_linestyle() != second.get_linestyle()
    assert second.get_zorder() > first.get_zorder() and second.get_lw() < first.get_lw()
    markers = [ln.get_marker() for ln in fig.axes[1].lines[:3]]
    assert len(set(markers)) == 3


def test_energy_volume_adds_the_shift_of_a_relative_model():
    data = eos.example_data()
    net = eos.EnergyNet(data, width=4, depth=1, key=jax.random.key(0))
    fig = eos.plot.energy_volume(data, [net])
    _, ry = fig.axes[1].lines[0].get_data()
    expected = 1e3 * (np.asarray(jax.vmap(net)(data.volume)) - data.energy)  # both relative
    assert np.allclose(ry, expected, atol=1e-9)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["EnergyNet", "data"]


def test_energy_volume_refuses_bad_input():
    with pytest.raises(ValueError, match="data must be an EVData"):
        eos.plot.energy_volume([1.0, 2.0], eos.BirchMurnaghan(**BM))
    with pytest.raises(ValueError, match="models is empty"):
        eos.plot.energy_volume(eos.example_data(), {})


def test_pressure_and_history_figures():
    bm = eos.BirchMurnaghan(e0=0.0, v0=12.0, b0=0.8, b1=4.5)
    fig = eos.plot.pressure_volume({"BM": bm}, np.linspace(11.0, 13.0, 5))
    x, y = fig.axes[0].lines[0].get_data()
    assert np.allclose(y, -160.21766208 * np.asarray(jax.vmap(jax.grad(bm))(x)), rtol=1e-12)
    assert fig.axes[0].get_ylabel() == "P [GPa]"
    data = eos.example_data()
    fig = eos.plot.pressure_volume(bm, data)  # EVData: its range, and its volumes marked
    x, _ = fig.axes[0].lines[0].get_data()
    assert x.size == 300 and np.isclose(x[0], data.volume.min())
    assert np.allclose(fig.axes[0].lines[-1].get_data()[0], data.volume)
    hist = {"data": np.geomspace(1.0, 1e-6, 50), "total": np.geomspace(2.0, 2e-6, 50)}
    fig = plot.loss_history(hist)
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 2
    assert np.allclose(fig.axes[0].lines[1].get_data()[1], hist["total"])
    with pytest.raises(ValueError, match="expected a non-empty"):
        plot.loss_history({})
    with pytest.raises(ValueError, match="must be 1-D"):
        plot.loss_history({"a": np.ones((2, 2))})


def test_loss_history_keeps_a_term_equal_to_the_total_visible():
    h = np.geomspace(1.0, 1e-6, 20)
    fig = plot.loss_history({"data": h, "total": h.copy()})
    data, total = fig.axes[0].lines
    assert data.get_label() == "data (= total)" and total.get_label() == "total"
    assert data.get_zorder() > total.get_zorder() and data.get_linestyle() != "-"
    fig = plot.loss_history({"data": h, "pde": 2 * h, "total": 3 * h})
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["data", "pde", "total"]
    assert len({ln.get_linestyle() for ln in fig.axes[0].lines}) == 3
