"""Source snapshots: ignore rules, secrets guard, limits, content addressing."""

from __future__ import annotations

import pytest

from tests.conftest import write
from trainers.objects import ObjectStore
from trainyard.errors import SnapshotError
from trainyard.snapshot import take_snapshot


def paths(snapshot):
    return sorted(f.path for f in snapshot.files)


def test_default_excludes(tmp_path):
    """.git, venvs, caches, outputs, logs and .trainyard are never snapshotted."""
    src = tmp_path / "src"
    for rel in ["train.py", ".git/HEAD", ".venv/bin/python", "venv/x", "pkg/__pycache__/a.pyc",
                "outputs/m.pkl", "logs/l.txt", ".trainyard/config.json", "pkg/mod.py"]:
        write(src / rel, rel)
    snap = take_snapshot(src, ObjectStore(tmp_path / "objects"))
    assert paths(snap) == ["pkg/mod.py", "train.py"]


def test_gitignore_negation(tmp_path):
    """A `!` pattern re-includes a file that an earlier pattern excluded."""
    src = tmp_path / "src"
    write(src / ".gitignore", "*.csv\n!keep.csv\ndata/\n")
    for rel in ["a.csv", "keep.csv", "data/big.bin", "train.py"]:
        write(src / rel, rel)
    assert paths(take_snapshot(src, ObjectStore(tmp_path / "o"))) == [".gitignore", "keep.csv", "train.py"]


def test_trainignore_wins_over_gitignore(tmp_path):
    """.trainignore is used instead of (not merged with) .gitignore."""
    src = tmp_path / "src"
    write(src / ".gitignore", "*.txt\n")
    write(src / ".trainignore", "*.md\n")
    write(src / "a.txt", "a")
    write(src / "b.md", "b")
    snap = take_snapshot(src, ObjectStore(tmp_path / "o"))
    assert "a.txt" in paths(snap) and "b.md" not in paths(snap)
    assert snap.ignore_file == ".trainignore"


def test_secrets_left_out_with_warning_unless_reincluded(tmp_path):
    """.env, *.pem and private keys are left out with a warning; `!name` re-includes one."""
    src = tmp_path / "src"
    write(src / ".env", "TOKEN=x")
    write(src / "cert.pem", "x")
    write(src / "deploy_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    write(src / "train.py", "x")
    snap = take_snapshot(src, ObjectStore(tmp_path / "o"))
    assert paths(snap) == ["train.py"]
    assert len(snap.warnings) == 3 and all("secret" in w for w in snap.warnings)
    write(src / ".trainignore", "!cert.pem\n")
    assert "cert.pem" in paths(take_snapshot(src, ObjectStore(tmp_path / "o")))


def test_over_size_limit_names_largest_and_fix(tmp_path):
    """Over the byte limit: the error names the largest file and folder and how to fix it."""
    src = tmp_path / "src"
    write(src / "train.py", "x")
    write(src / "data" / "train.bin", "x" * 5000)
    store = ObjectStore(tmp_path / "o")
    with pytest.raises(SnapshotError) as err:
        take_snapshot(src, store, max_bytes=1000)
    msg = str(err.value)
    assert "over the" in msg and "data/train.bin" in msg and "data/ (" in msg and ".trainignore" in msg
    assert not (tmp_path / "o").exists()  # nothing stored


def test_over_file_limit(tmp_path):
    """Over the file-count limit is an error naming the count and limit."""
    src = tmp_path / "src"
    for i in range(5):
        write(src / f"f{i}.py", str(i))
    with pytest.raises(SnapshotError, match="5 files, over the limit of 3"):
        take_snapshot(src, ObjectStore(tmp_path / "o"), max_files=3)


def test_unchanged_resubmit_stores_no_new_blobs(tmp_path):
    """Snapshotting an unchanged tree again adds no blobs and gives the same oid."""
    src = tmp_path / "src"
    write(src / "a.py", "a")
    write(src / "b.py", "b")
    store = ObjectStore(tmp_path / "o")
    first = take_snapshot(src, store)
    second = take_snapshot(src, store)
    assert first.new_blobs == 3 and second.new_blobs == 0 and first.oid == second.oid
    write(src / "a.py", "changed")
    third = take_snapshot(src, store)
    assert third.new_blobs == 2 and third.oid != first.oid  # the changed file and the new manifest


def test_ignore_file_beside_job_yml_is_reported(tmp_path):
    """A .trainignore next to job.yml that the snapshot of src/ would not read is found (submit warns)."""
    from trainyard.snapshot import find_stray_ignore_file

    write(tmp_path / "src" / "train.py", "")
    write(tmp_path / ".trainignore", "data/\n")
    assert find_stray_ignore_file(tmp_path / "src", tmp_path) == tmp_path / ".trainignore"
    write(tmp_path / "src" / ".trainignore", "data/\n")
    assert find_stray_ignore_file(tmp_path / "src", tmp_path) is None
