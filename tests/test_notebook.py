"""The walk-through notebook (examples/walkthrough.ipynb) runs from top to bottom in a fresh
kernel, and prints and draws what it says it does."""

import base64
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[1] / "examples" / "walkthrough.ipynb"


@pytest.mark.slow
def test_the_walkthrough_notebook_runs_and_shows_its_results():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()  # raises on an error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "labels flipped" in text and "draw  0:" in text and "global" in text
    assert "d=1, dist=interval: " in text and "d=20, dist=sphere: " in text
    tables = [o for o in outputs if o["output_type"] == "execute_result"]
    assert tables and "clean_error" in tables[0]["data"]["text/plain"]
    (image,) = [o for o in outputs if o["output_type"] == "display_data"]
    png = base64.b64decode(image["data"]["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a drawn figure, not a blank
