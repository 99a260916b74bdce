"""The 2-D Poisson PINN notebook runs end to end at smoke size; its last cell asserts the claim."""

import os

import nbclient
import nbformat

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")


def test_pinn_poisson_notebook_runs_and_asserts_its_claim(monkeypatch):
    path = os.path.join(NOTEBOOKS, "pinn_poisson.ipynb")
    stored = nbformat.read(path, as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "unexecuted cells stored"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert "assert " in code[-1].source
    stored_text = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "full sizes" in stored_text  # the stored outputs are the full-size run

    monkeypatch.setenv("PINNLOSS_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    client.execute()  # raises CellExecutionError on any failing cell (the asserts included)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "smoke sizes" in "".join(o.get("text", "") for o in outputs)
