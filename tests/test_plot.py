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


def test_energy_volume_figure(tmp_path):
    from matplotlib.figure import Figure

    data = eos.example_data()
    bm = eos.BirchMurnaghan(e0=-45035.7488, v0=11.951, b0=0.8795, b1=5.06)
    fig = eos.plot.energy_volume(data, {"BM": bm})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax, axr = fig.axes
    x, y = ax.lines[0].get_data()  # the data points, relative to the shift
    assert np.allclose(x, data.volume) and np.allclose(y, data.energy)
    rx, ry = axr.lines[0].get_data()  # residuals in meV/atom
    expected = 1e3 * (np.asarray(jax.vmap(bm)(data.volume)) - data.absolute_energy)
    assert np.allclose(rx, data.volume) and np.allclose(ry, expected, atol=1e-9)
    assert "meV" in axr.get_ylabel()
    out = tmp_path / "fit.png"
    fig.savefig(out)
    assert out.stat().st_size > 1000


def test_energy_volume_adds_the_shift_of_a_relative_model():
    data = eos.example_data()
    net = eos.EnergyNet(data, width=4, depth=1, key=jax.random.key(0))
    fig = eos.plot.energy_volume(data, [net])
    _, ry = fig.axes[1].lines[0].get_data()
    expected = 1e3 * (np.asarray(jax.vmap(net)(data.volume)) - data.energy)  # both relative
    assert np.allclose(ry, expected, atol=1e-9)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["data", "EnergyNet"]


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
