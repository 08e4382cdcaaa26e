"""The in-job API (trainers.Run) and the get_metrics shapes."""

from __future__ import annotations

import json

import pytest

from trainers import Run
from trainyard.metrics import compute_metrics, compute_series, load_records


def test_offline_run_keeps_metrics_and_prints(tmp_path, capsys):
    """Started by hand, the run writes ./logs/metrics.jsonl and prints what it logs."""
    run = Run.get_context()
    assert run.offline
    run.log("accuracy", 0.97)
    assert "accuracy" in capsys.readouterr().out
    lines = (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["value"] == 0.97


def test_log_rejects_lists():
    """log() takes scalars only and points to log_list."""
    with pytest.raises(TypeError, match="log_list"):
        Run.get_context().log("x", [1, 2])


def test_get_metrics_shapes(tmp_path):
    """Scalar once → value; series → list; one row → dict; rows → dict of lists; table; list; image."""
    run = Run.get_context()
    run.log("acc", 0.5)
    for v in (3.0, 2.0, 1.0):
        run.log("loss", v)
    run.log_row("one", a=1, b=2)
    run.log_row("many", a=1, b=2)
    run.log_row("many", a=3, b=4)
    run.log_table("tab", {"x": [1, 2]})
    run.log_list("lst", [1, 2, 3])
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    run.log_image("pic", path=tmp_path / "img.png")
    run.tag("k", "v")
    records = load_records(tmp_path / "logs" / "metrics.jsonl")
    assert compute_metrics(records) == {
        "acc": 0.5, "loss": [3.0, 2.0, 1.0], "one": {"a": 1, "b": 2}, "many": {"a": [1, 3], "b": [2, 4]},
        "tab": {"x": [1, 2]}, "lst": [1, 2, 3], "pic": "logs/images/pic.png"}
    assert (tmp_path / "logs" / "images" / "pic.png").read_bytes() == b"\x89PNG"
    assert compute_series(records)["loss"] == ([0, 1, 2], [3.0, 2.0, 1.0])


def test_torn_last_line_is_skipped(tmp_path):
    """A half-written last line (job still writing) does not break reading."""
    path = tmp_path / "m.jsonl"
    path.write_text('{"kind": "scalar", "name": "a", "value": 1}\n{"kind": "sca')
    assert compute_metrics(load_records(path)) == {"a": 1}


def test_trainers_parses_on_older_pythons():
    """`trainers` runs on nodes and inside job environments (Ubuntu 22.04's Python 3.10, say): 3.8 grammar."""
    import ast

    from tests.conftest import REPO

    for path in sorted((REPO / "trainers").glob("*.py")):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))


V1_MATRIX = {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
             "data": {"class_labels": ["cat", "dog"], "matrix": [[5, 1], [2, 7]]}}


@pytest.mark.parametrize("value", [V1_MATRIX, json.dumps(V1_MATRIX)])
def test_v1_confusion_matrix_schema(tmp_path, value):
    """log_confusion_matrix(name, v1 schema dict or its JSON) is accepted and get_metrics returns v1's shape."""
    Run.get_context().log_confusion_matrix("cm", value)
    assert compute_metrics(load_records(tmp_path / "logs" / "metrics.jsonl"))["cm"] == V1_MATRIX


def test_confusion_matrix_from_rows_has_v1_shape(tmp_path):
    """A matrix with labels (the templates' form) comes back in v1's shape too; a bad shape is an error."""
    run = Run.get_context()
    run.log_confusion_matrix("cm", [[5, 1], [2, 7]], ["cat", "dog"])
    assert compute_metrics(load_records(tmp_path / "logs" / "metrics.jsonl"))["cm"] == V1_MATRIX
    with pytest.raises(ValueError, match="square"):
        run.log_confusion_matrix("bad", [[1, 2, 3], [4, 5, 6]])
