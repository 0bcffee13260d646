"""The lecture notebooks: stored without outputs, and each runs top to bottom in QUICK mode showing pictures."""
import glob
import os
import re

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[notebooks]'")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[notebooks]'")
pytest.importorskip("ipykernel", reason="pip install -e '.[notebooks]'")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
PICTURES = ("image/png", "image/svg+xml")


def test_there_are_five_notebooks_stored_without_outputs():
    assert len(NOTEBOOKS) == 5
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.outputs == [] and cell.execution_count is None for cell in code), path
        assert code[0].source.splitlines()[-1].startswith("QUICK = "), path  # the parameter, visible at the top


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_a_notebook_runs_quick_and_shows_pictures(path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_RNN_QUICK", "1")  # the kernel inherits it; the parameter cell reads it
    notebook = nbformat.read(path, as_version=4)
    # run from the repository root, so the kernel imports this checkout's packages
    nbclient.NotebookClient(notebook, timeout=120, resources={"metadata": {"path": ROOT}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any(kind in output.get("data", {}) for output in outputs for kind in PICTURES), "no picture shown"


def _outside_loads(html: str) -> list:
    """The outside addresses a page would fetch: any in a script (its src or its code) or a stylesheet link."""
    scripts = re.findall(r"<script\b.*?</script>", html, flags=re.DOTALL)
    links = re.findall(r"<link\b[^>]*>", html)
    return [url for part in scripts + links for url in re.findall(r"https?://[^\"' )]+", part)]


def test_the_notebooks_html_fetches_nothing_from_outside():
    nbconvert = pytest.importorskip("nbconvert", reason="pip install -e '.[notebooks]'")
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    plain, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(notebook)
    # the lab template fetches require.js, MathJax and Mermaid from a CDN: what make notebooks' template leaves out
    assert any("require" in url for url in _outside_loads(plain))
    assert any("mathjax" in url for url in _outside_loads(plain))
    template = os.path.join(ROOT, "notebooks", "offline.html.j2")
    offline, _ = nbconvert.HTMLExporter(template_file=template).from_notebook_node(notebook)
    assert _outside_loads(offline) == []
    assert offline.count('class="jp-Cell ') == len(notebook.cells)  # still the whole notebook's page


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_no_notebook_needs_what_the_offline_page_leaves_out(path):
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "widgets" not in notebook.metadata
    assert "```mermaid" not in markdown
    tex = re.search(r"\$[^$\n]+\$|\\\(|\\\[", markdown)
    assert tex is None, f"TeX ({tex and tex.group()}) needs MathJax, which notebooks/offline.html.j2 leaves out"
