"""`trainyard port`: azureml → trainyard in scripts and notebooks, and the report of unsupported v1 APIs."""

from __future__ import annotations

import ast
import json
import shutil

import nbformat

from tests.conftest import REPO, run_cli, write
from trainyard.port import port_file

FIXTURES = REPO / "tests" / "v1"
NOTEBOOK_REPORT = {
    (2, 2, "azureml.core.Workspace.write_config"),
    (4, 1, "azureml.core.Environment.from_existing_conda_environment"),
    (5, 1, "azureml.pipeline.core.Pipeline"), (5, 2, "azureml.pipeline.steps.PythonScriptStep"),
    (5, 4, "azureml.pipeline.steps.PythonScriptStep"), (5, 6, "azureml.pipeline.core.Pipeline"),
    (6, 2, "azureml.core.Dataset.Tabular.from_sql_query"),
}


def imports_of(source: str) -> list[ast.stmt]:
    lines = [("pass" if ln.lstrip().startswith("%") else ln) for ln in source.split("\n")]
    return [n for n in ast.walk(ast.parse("\n".join(lines))) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_port_notebook_validates_resolves_and_reports(tmp_path):
    """The ported notebook validates, keeps outputs and metadata, its trainyard imports resolve, and the
    report lists the unsupported calls (Pipelines …) with cell and line."""
    nb_path = shutil.copy(FIXTURES / "notebooks" / "pipeline-demo.ipynb", tmp_path / "demo.ipynb")
    before = json.loads(open(nb_path).read())
    out = run_cli("port", "--json", str(nb_path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["changed"] == [str(nb_path)]
    assert {(f["cell"], f["line"], f["api"]) for f in report["unsupported"]} == NOTEBOOK_REPORT
    after = nbformat.read(nb_path, as_version=4)
    nbformat.validate(after)
    for old, new in zip(before["cells"], json.loads(open(nb_path).read())["cells"], strict=True):
        assert {k: v for k, v in old.items() if k != "source"} == {k: v for k, v in new.items() if k != "source"}
    assert after.metadata["kernelspec"]["name"] == "python38-azureml"
    left_as_v1 = set()
    for cell in after.cells:
        for node in imports_of(cell.source) if cell.cell_type == "code" else []:
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if module.startswith("trainyard"):
                exec(compile(ast.Module([node], []), "cell", "exec"), {})  # resolves
            else:
                left_as_v1.add(module)
    assert left_as_v1 == {"azureml.pipeline.core", "azureml.pipeline.steps"}
    assert "trainyard.core.VERSION" in after.cells[1].source


def test_dry_run_and_check_write_nothing(tmp_path):
    """--dry-run prints a diff, --check exits 1 while something would change; neither writes."""
    shutil.copytree(FIXTURES / "desk", tmp_path / "desk")
    original = (tmp_path / "desk" / "v1_flows.py").read_text()
    dry = run_cli("port", "--dry-run", str(tmp_path / "desk"))
    assert dry.returncode == 0 and "-from azureml.core.compute import ComputeTarget" in dry.stdout
    assert "+from trainyard.core.compute import ComputeTarget" in dry.stdout
    notebook = run_cli("port", "--dry-run", str(FIXTURES / "notebooks"))
    assert "by API: azureml.pipeline.core.Pipeline ×2, azureml.pipeline.steps.PythonScriptStep ×2" in notebook.stdout
    assert run_cli("port", "--check", str(tmp_path / "desk")).returncode == 1
    assert (tmp_path / "desk" / "v1_flows.py").read_text() == original
    assert run_cli("port", str(tmp_path / "desk")).returncode == 0
    assert run_cli("port", "--check", str(tmp_path / "desk")).returncode == 0


def test_training_scripts_left_unchanged(tmp_path):
    """Scripts that call Run.get_context() keep their azureml imports (the node's shim serves them)."""
    shutil.copytree(FIXTURES / "desk", tmp_path / "desk")
    out = run_cli("port", str(tmp_path / "desk"))
    assert out.returncode == 0, out.stderr
    assert "training script, left unchanged" in out.stderr
    for script in ("iris/train_iris.py", "mnist/train.py"):
        assert (tmp_path / "desk" / script).read_text() == (FIXTURES / "desk" / script).read_text()
    ported = (tmp_path / "desk" / "v1_flows.py").read_text()
    assert "from azureml" not in ported and "import azureml" not in ported and " azureml.core." not in ported
    assert "import trainyard.core\n" in ported and "trainyard.core.VERSION" in ported


def test_formatting_kept_and_partial_imports_reported(tmp_path):
    """Only module names change (spacing, comments, parentheses stay); a name the module lacks is reported."""
    src = write(tmp_path / "a.py", "from   azureml.core   import (  # the SDK\n    Workspace,\n    Keyvault,\n)\n"
                "import azureml.core.model as m, os  # two\nx = 'azureml.core'\nws = Workspace.get('w')\n")
    result = port_file(src)
    assert result.new == ("from   trainyard.core   import (  # the SDK\n    Workspace,\n    Keyvault,\n)\n"
                          "import trainyard.core.model as m, os  # two\nx = 'azureml.core'\nws = Workspace.get('w')\n")
    assert [(f.line, f.api) for f in result.findings] == [(1, "azureml.core.Keyvault"),
                                                          (7, "azureml.core.Workspace.get")]
    assert "take it out of the import" in result.findings[0].message


def test_unchanged_notebook_is_byte_identical(tmp_path):
    """A notebook without azureml imports is not rewritten at all."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.name)")])
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert not port_file(path).changed


def test_syntax_error_names_file_and_line(tmp_path):
    """A file that does not parse is a one-line error with its path and line; exit code 1."""
    bad = write(tmp_path / "bad.py", "from azureml.core import Run\nif True\n")
    out = run_cli("port", str(bad))
    assert out.returncode == 1 and f"{bad}: line 2" in out.stderr
