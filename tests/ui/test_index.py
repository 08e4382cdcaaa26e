"""The dashboard's run index and filter language, over a store filled through RunStore."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.ui.store import add_run
from trainers._atomic import append_line
from trainers.status import FAILED, NOT_RESPONDING
from trainyard.errors import QueryError
from trainyard.runstore import RunStore
from trainyard.ui.index import RunIndex


@pytest.fixture
def index(tmp_path):
    root = tmp_path / "ws"
    add_run(root, "svm_1700000001_00000001", metrics={"accuracy": 0.95, "loss": [0.9, 0.5, 0.2]},
            inputs={"kernel": "rbf", "C": 1.0}, tags={"team": "vision"})
    add_run(root, "svm_1700000002_00000002", metrics={"accuracy": 0.80, "loss": [0.8, 0.7]},
            inputs={"kernel": "linear", "C": 0.5})
    add_run(root, "keras_1700000003_00000003", status=FAILED, metrics={"accuracy": 0.91},
            rendered_command="python train.py --learning-rate 0.01 --epochs=3", tags={"team": "nlp"})
    add_run(root, "keras_1700000004_00000004", status=NOT_RESPONDING, display_name="slow one")
    idx = RunIndex(RunStore(root))
    idx.refresh()
    yield idx
    idx.close()


def ids(result: dict) -> list[str]:
    return [r["run_id"].split("_")[-1][-1] for r in result["runs"]]


def test_filter_terms_combine(index):
    """The filter language selects by metric, parameter, status, tag, experiment and text, ANDed."""
    assert ids(index.query("metrics.accuracy>0.9")) == ["3", "1"]
    assert ids(index.query("metrics.accuracy>0.9 params.kernel=rbf")) == ["1"]
    assert ids(index.query("params.C>=0.5 params.C<1")) == ["2"]
    assert ids(index.query("status:Failed")) == ["3"]
    assert ids(index.query("status:notresponding")) == ["4"]
    assert ids(index.query("tag:team=vision")) == ["1"]
    assert ids(index.query("tag:team")) == ["3", "1"]
    assert ids(index.query("exp:ker")) == ["4", "3"]
    assert ids(index.query("slow")) == ["4"]
    assert ids(index.query("metrics.loss.min<0.3")) == ["1"]
    assert ids(index.query("params.learning-rate=0.01 params.epochs=3")) == ["3"]


def test_sort_by_any_column(index):
    """Sorting works on plain columns, metric aggregates and parameters; missing values go last."""
    assert ids(index.query(sort="metrics.accuracy.last", order="desc")) == ["1", "3", "2", "4"]
    assert ids(index.query(sort="metrics.accuracy", order="asc")) == ["2", "3", "1", "4"]
    assert ids(index.query(sort="metrics.loss.best", order="asc")) == ["1", "2", "3", "4"]
    assert ids(index.query(sort="params.C", order="asc")) == ["2", "1", "3", "4"]
    assert ids(index.query(sort="status", order="asc"))[0] == "1"
    assert ids(index.query(sort="created", order="asc")) == ["1", "2", "3", "4"]


def test_rows_carry_summaries_params_tags(index):
    """Each row has last/best/min/max per metric, parameters from inputs and the command line, tags."""
    row = index.query("params.kernel=rbf")["runs"][0]
    assert row["metrics"]["loss"] == {"last": 0.2, "min": 0.2, "max": 0.9, "best": 0.2, "count": 3}
    assert row["metrics"]["accuracy"]["best"] == 0.95
    assert row["params"] == {"kernel": "rbf", "C": "1.0"} and row["tags"] == {"team": "vision"}
    assert index.query("status:Failed")["runs"][0]["params"] == {"learning-rate": "0.01", "epochs": "3"}


@pytest.mark.parametrize("bad", ["metrics.accuracy>high", "foo:bar", "params.kernel>rbf", '"unclosed', "status:"])
def test_bad_filters_say_what_to_write(index, bad):
    """A filter the language cannot parse is a QueryError naming the term and the accepted forms."""
    with pytest.raises(QueryError) as err:
        index.query(bad)
    assert "filter" in str(err.value)


def test_bad_sort_lists_the_keys(index):
    """Sorting by an unknown column names the columns that exist."""
    with pytest.raises(QueryError, match="metrics.NAME"):
        index.query(sort="colour")


def test_pages(index):
    """Pages are cut on the server; total counts every match."""
    first, second = index.query(per_page=3), index.query(per_page=3, page=2)
    assert first["total"] == 4 and len(first["runs"]) == 3 and len(second["runs"]) == 1
    assert not set(ids(first)) & set(ids(second))


def test_children_fold_under_parent_best_marked(tmp_path):
    """Child runs leave the top level, count under their parent, and the best by the parent's primary
    metric (v1 HyperDrive's primary_metric_config property, goal minimize here) is marked."""
    root = tmp_path / "ws"
    parent = add_run(root, "sweep_1700000000_0000000a",
                     properties={"primary_metric_config": json.dumps({"name": "loss", "goal": "minimize"})})
    for i, loss in enumerate([0.5, 0.2, 0.7]):
        add_run(root, f"sweep_170000000{i + 1}_0000000{i}", parent=parent, metrics={"loss": loss},
                inputs={"lr": str(0.1 * (i + 1))})
    index = RunIndex(RunStore(root))
    index.refresh()
    top = index.query()
    assert [r["run_id"] for r in top["runs"]] == [parent] and top["runs"][0]["children"] == 3
    kids = index.query(parent=parent)["runs"]
    assert len(kids) == 3
    assert [r["run_id"] for r in kids if r.get("best")] == ["sweep_1700000002_00000001"]


def test_refresh_reads_only_what_changed(index):
    """Appending metrics is picked up by offset; a deleted run leaves the index."""
    store = index.store
    rid = "svm_1700000002_00000002"
    append_line(store.run_dir(rid) / "metrics.jsonl",
                json.dumps({"kind": "scalar", "name": "loss", "value": 0.1, "step": 2, "time": 1e9}))
    assert index.refresh() == 1
    assert list(index.series(rid, "loss").values) == [0.8, 0.7, 0.1]
    assert index.refresh() == 0
    shutil.rmtree(store.run_dir(rid))
    index.refresh()
    assert index.query()["total"] == 3


def test_index_is_a_cache(index, tmp_path):
    """Deleting the index file loses nothing: a new one rebuilds the same rows from the files."""
    before = index.query(sort="metrics.accuracy")
    path = index.path
    index.close()
    path.unlink()
    again = RunIndex(index.store)
    again.refresh()
    assert again.query(sort="metrics.accuracy") == before


@pytest.mark.parametrize("record", [
    {"hyperdrive": {"primary_metric_name": "Accuracy", "primary_metric_goal": "MAXIMIZE"}},
    {"primary_metric": {"name": "Accuracy", "goal": "maximize"}},
    {"properties": {"primary_metric_config": '{"name": "Accuracy", "goal": "maximize"}'}},
])
def test_primary_metric_shapes(record):
    """A sweep's primary metric is read from its hyperdrive settings, a primary_metric field, or v1's
    primary_metric_config property."""
    from trainyard.ui.index import primary_metric

    assert primary_metric(record) == {"name": "Accuracy", "goal": "maximize"}
