"""The notebooks of examples 11 and 14 execute end to end at smoke size; their last cells assert
the claim."""

import os

import nbclient  # noqa: E402  (test extra: a missing install must fail, not skip)
import nbformat  # noqa: E402
import pytest

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
NAMES = ["unit_vectors", "energy_based_model"]


def _execute(name, monkeypatch):
    nb = nbformat.read(os.path.join(NOTEBOOKS, f"{name}.ipynb"), as_version=4)
    monkeypatch.setenv("PINNLOSS_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    client.execute()  # raises CellExecutionError on any failing cell, the asserts included
    return nb


def _text(nb) -> str:
    parts = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for o in c.outputs:
            parts.append(o.get("text", ""))
            parts.append(o.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_stored_outputs(name):
    stored = nbformat.read(os.path.join(NOTEBOOKS, f"{name}.ipynb"), as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{name}: unexecuted cells stored"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), name
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], name
    assert any(c.cell_type == "markdown" and "$$" in c.source for c in stored.cells), name
    assert "assert " in code[-1].source, f"{name}: the last cell must assert the claim"
    # the stored run is the full-size one
    assert "full sizes" in _text(stored)


def test_unit_vectors_notebook_runs(monkeypatch):
    nb = _execute("unit_vectors", monkeypatch)
    text = _text(nb)
    assert "smoke sizes" in text
    assert "with unit-norm penalty" in text


def test_energy_based_model_notebook_runs(monkeypatch):
    nb = _execute("energy_based_model", monkeypatch)
    text = _text(nb)
    assert "smoke sizes" in text
    assert "energy distance between Langevin samples and data" in text
