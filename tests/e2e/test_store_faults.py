"""A corrupt, full or read-only workspace store: records are skipped and named, I/O errors are one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import mount_tmpfs, run_cli, write
from tests.e2e.jobs import make_project


def no_traceback(out: subprocess.CompletedProcess, code: int = 1) -> str:
    assert out.returncode == code and "Traceback" not in out.stderr, out.stderr
    return out.stderr


def test_truncated_run_json_is_listed_as_unreadable_and_skipped(tmp_path):
    """One truncated run.json: `runs list` still lists the others and names the bad file."""
    job = make_project(tmp_path)
    assert run_cli("submit", str(job)).returncode == 0
    good = json.loads(run_cli("runs", "list", "--json").stdout)[0]["run_id"]
    bad = write(tmp_path / ".trainyard" / "experiments" / "e2e" / "runs" / "e2e_1700000000_deadbeef" / "run.json",
                '{"run_id": "e2e_17')
    out = run_cli("runs", "list", "--json")
    assert out.returncode == 0 and [r["run_id"] for r in json.loads(out.stdout)] == [good]
    assert f"warning: {bad} is unreadable" in out.stderr
    assert str(bad) in no_traceback(run_cli("runs", "show", "e2e_1700000000_deadbeef"))


def test_bad_model_json_breaks_only_that_version(tmp_path):
    """A corrupt model.json: list skips it with a warning; show/download of it are one-line errors."""
    write(tmp_path / "m.txt", "w")
    assert run_cli("models", "register", "m", "m.txt").returncode == 0
    assert run_cli("models", "register", "m", "m.txt").returncode == 0
    (tmp_path / ".trainyard" / "models" / "m" / "1" / "model.json").write_bytes(b"\x00\xff binary")
    out = run_cli("models", "list", "--json")
    assert out.returncode == 0 and [m["version"] for m in json.loads(out.stdout)] == [2]
    assert "models/m/1/model.json is unreadable" in out.stderr
    assert "model.json is unreadable" in no_traceback(run_cli("models", "show", "m:1"))
    assert "model.json is unreadable" in no_traceback(run_cli("models", "download", "m:1", "-o", "x"))
    assert run_cli("models", "show", "m:2").returncode == 0


@pytest.mark.parametrize("content, match", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "is not valid JSON"),
    (b'{"name": "w", "limits": "x"}', "'limits' must be an object"),
    (b'{"name": "w", "computes": {"p": {"type": "ssh", "nodes": {"a": 1}}}}', "must be a list of node objects"),
    (b'{"name": 3}', "'name' must be a string"),
])
def test_broken_config_is_a_one_line_error(tmp_path, content, match):
    """A binary or mistyped workspace config → one-line error naming the file, no traceback."""
    (tmp_path / ".trainyard").mkdir()
    (tmp_path / ".trainyard" / "config.json").write_bytes(content)
    assert match in no_traceback(run_cli("runs", "list"))


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs file systems under the test's directory (root with mount rights, as in CI)."""
    mounted = []

    def mount(path: Path, size: str) -> Path:
        mounted.append(mount_tmpfs(path, size))
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_store_keeps_the_run_finalizing_and_attach_retries(tmp_path, tmpfs):
    """The store fills up while pulling outputs: a one-line error, the run says why it is still
    Finalizing, and `runs attach` completes it once there is space."""
    store = tmpfs(tmp_path / ".trainyard", "3m")
    write(tmp_path / "src" / "big.py", "import os\nos.makedirs('outputs', exist_ok=True)\n"
          "open('outputs/big.bin', 'wb').write(os.urandom(4 << 20))\n")
    job = write(tmp_path / "job.yml", "experiment_name: full\ncode: src\ncommand: python big.py\n")
    out = run_cli("submit", str(job))
    assert "No space left on device" in no_traceback(out) and "runs attach" in out.stderr, out.stderr
    run = json.loads(run_cli("runs", "list", "--json").stdout)[0]
    assert run["status"] == "Finalizing" and "pulling outputs and logs failed" in run["status_reason"]
    subprocess.run(["mount", "-o", "remount,size=20m", str(store)], check=True)
    attach = run_cli("runs", "attach", run["run_id"])
    assert attach.returncode == 0, attach.stderr
    assert (store / "experiments" / "full" / "runs" / run["run_id"] / "outputs" / "big.bin").stat().st_size == 4 << 20


def test_read_only_store_gives_one_line_errors(tmp_path, tmpfs):
    """A read-only store: register and submit fail with one line naming the path; list still works."""
    store = tmpfs(tmp_path / ".trainyard", "20m")
    write(tmp_path / "m.txt", "w")
    assert run_cli("models", "register", "m", "m.txt").returncode == 0
    active = run_cli("submit", str(make_project(tmp_path)), "--detach", "--set", "inputs.sleep=5").stdout.strip()
    subprocess.run(["mount", "-o", "remount,ro", str(store)], check=True)
    listed = run_cli("runs", "list")
    assert listed.returncode == 0 and active in listed.stdout and "read-only" in listed.stderr, listed.stderr
    assert "read-only" in no_traceback(run_cli("models", "register", "m", "m.txt"))
    assert "read-only" in no_traceback(run_cli("submit", str(make_project(tmp_path))))
    assert run_cli("models", "list").returncode == 0
