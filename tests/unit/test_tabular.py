"""Datastores and tabular datasets (v1 Datastore / Dataset.Tabular names)."""

from __future__ import annotations

import pandas
import pytest

from tests.conftest import write
from trainyard.core import Dataset, Workspace
from trainyard.errors import DatasetError

ROWS = "id,name,score,ok\n1,ann,0.5,true\n2,bob,0.75,false\n3,\"c, d\",1.0,true\n"
MORE = "id,name,score,ok\n4,eve,,false\n5,fay,0.25,true\n"


@pytest.fixture
def store(tmp_path):
    ws = Workspace.embedded(tmp_path)
    write(tmp_path / "data" / "a.csv", ROWS)
    write(tmp_path / "data" / "b.csv", MORE)
    store = ws.get_default_datastore()
    store.upload(str(tmp_path / "data"), target_path="tables")
    return ws, store


def test_upload_keeps_existing_unless_overwrite_and_download(store, tmp_path):
    """upload() skips files that exist unless overwrite=True; download(prefix) copies them out."""
    ws, store = store
    write(tmp_path / "data" / "a.csv", "id\n9\n")
    store.upload(str(tmp_path / "data"), target_path="tables")
    assert (store.root / "tables" / "a.csv").read_text() == ROWS
    store.upload_files([str(tmp_path / "data" / "a.csv")], target_path="tables", overwrite=True)
    assert (store.root / "tables" / "a.csv").read_text() == "id\n9\n"
    assert store.download(str(tmp_path / "dl"), prefix="tables") == 2
    assert sorted(p.name for p in (tmp_path / "dl" / "tables").iterdir()) == ["a.csv", "b.csv"]
    with pytest.raises(DatasetError, match="relative path"):
        store.upload(str(tmp_path / "data"), target_path="../out")


def test_delimited_types_take_columns(store):
    """Types are inferred (int, str, float with gaps, bool); take/keep/drop make new recipes."""
    ws, store = store
    ds = Dataset.Tabular.from_delimited_files(path=(store, "tables/*.csv"))
    df = ds.to_pandas_dataframe()
    assert df["id"].tolist() == [1, 2, 3, 4, 5] and df["name"][2] == "c, d"
    assert str(df["score"].dtype) == "float64" and pandas.isna(df["score"][3]) and df["ok"].tolist()[:2] == [True, False]
    assert len(ds.take(2).to_pandas_dataframe()) == 2
    assert ds.keep_columns(["id", "score"]).to_pandas_dataframe().columns.tolist() == ["id", "score"]
    assert ds.drop_columns("ok").to_pandas_dataframe().columns.tolist() == ["id", "name", "score"]
    typed = Dataset.Tabular.from_delimited_files(path=(store, "tables/a.csv"), set_column_types={"id": "str"})
    assert typed.to_pandas_dataframe()["id"].tolist() == ["1", "2", "3"]


def test_random_split_is_deterministic_per_seed(store):
    """random_split(p, seed) partitions the rows, the same way every time for one seed."""
    ws, store = store
    ds = Dataset.Tabular.from_delimited_files(path=(store, "tables/*.csv"))
    a, b = ds.random_split(0.6, seed=7)
    ids_a, ids_b = a.to_pandas_dataframe()["id"].tolist(), b.to_pandas_dataframe()["id"].tolist()
    assert len(ids_a) == 3 and sorted(ids_a + ids_b) == [1, 2, 3, 4, 5]
    again = ds.random_split(0.6, seed=7)[0].to_pandas_dataframe()["id"].tolist()
    assert again == ids_a
    others = {tuple(ds.random_split(0.6, seed=s)[0].to_pandas_dataframe()["id"]) for s in range(8)}
    assert len(others) > 1


def test_register_is_a_versioned_recipe_over_blobs(store):
    """Registering stores blobs by content; same files and recipe → same version; another recipe → a new
    version only with create_new_version; get_by_name gives a tabular dataset that reads the blobs."""
    ws, store = store
    ds = Dataset.Tabular.from_delimited_files(path=(store, "tables/*.csv"))
    first = ds.register(ws, "scores")
    assert first.version == 1 and ds.register(ws, "scores").version == 1
    with pytest.raises(DatasetError, match="create_new_version"):
        ds.take(2).register(ws, "scores")
    assert ds.take(2).register(ws, "scores", create_new_version=True).version == 2
    (store.root / "tables" / "a.csv").unlink()  # the registered version does not depend on the datastore
    got = Dataset.get_by_name(ws, "scores", version=1)
    assert type(got).__name__ == "TabularDataset" and len(got.to_pandas_dataframe()) == 5
    assert len(Dataset.get_by_name(ws, "scores").to_pandas_dataframe()) == 2
    assert ws.datasets["scores"].version == 2


def test_malformed_csv_and_missing_column_name_file_and_line(tmp_path):
    """A row with the wrong number of fields, a bad value or a missing column names the file and line."""
    bad = write(tmp_path / "bad.csv", "id,name\n1,a\n2,b,c\n")
    with pytest.raises(DatasetError, match=r"bad.csv: line 3: 3 fields, but the header has 2"):
        Dataset.Tabular.from_delimited_files(str(bad))
    typed = write(tmp_path / "t.csv", "id,name\n1,a\nx,b\n")
    with pytest.raises(DatasetError, match=r"t.csv: line 3: column 'id': 'x' is not int"):
        Dataset.Tabular.from_delimited_files(str(typed), set_column_types={"id": "int"})
    ok = Dataset.Tabular.from_delimited_files(str(write(tmp_path / "ok.csv", "id,name\n1,a\n")))
    with pytest.raises(DatasetError, match=r"ok.csv: no column 'score' \(header at line 1; columns: id, name\)"):
        ok.keep_columns(["score"]).to_pandas_dataframe()


def test_parquet_files(tmp_path):
    """from_parquet_files reads parquet (pyarrow) into the same pipeline."""
    pandas.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}).to_parquet(tmp_path / "p.parquet")
    ds = Dataset.Tabular.from_parquet_files(str(tmp_path / "p.parquet"))
    assert ds.take(2).to_pandas_dataframe().to_dict("list") == {"x": [1, 2], "y": ["a", "b"]}


def test_file_dataset_from_datastore(store):
    """Dataset.File.from_files((datastore, glob)) picks the datastore's files."""
    ws, store = store
    assert Dataset.File.from_files(path=(store, "tables/*.csv")).to_path() == ["a.csv", "b.csv"]
    with pytest.raises(DatasetError, match="nothing matches"):
        Dataset.File.from_files(path=(store, "nope/*.csv"))
