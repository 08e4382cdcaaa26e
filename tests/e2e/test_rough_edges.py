"""A new user's first days on the CLI: the workspace in use, typed --set values, clear errors."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.e2e.jobs import make_project


def test_submit_from_the_project_uses_the_workspace_above(tmp_path):
    """`cd project; trainyard submit job.yml` reuses the store made one level up and says which it uses."""
    job = make_project(tmp_path / "proj")
    first = run_cli("submit", "proj/job.yml", "--current-env", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("submit", "job.yml", "--current-env", cwd=tmp_path / "proj")
    assert second.returncode == 0, second.stderr
    assert f"store {tmp_path / '.trainyard'}" in second.stderr
    assert not (job.parent / ".trainyard").exists()
    listed = json.loads(run_cli("runs", "list", "--json", cwd=tmp_path / "proj" / "src").stdout)
    assert len(listed) == 2


def submitted(tmp_path, *args: str) -> str:
    out = run_cli("submit", *args, "--current-env", "--detach", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    assert run_cli("runs", "attach", run_id, cwd=tmp_path).returncode in (0, 3)
    return run_id


def test_run_references_logs_status_tags_and_json(tmp_path):
    """Run ids by unique prefix or `latest`; unknown log file is an error; --status is case-insensitive;
    tags in `runs show`; --json on cancel and download."""
    job = make_project(tmp_path)
    run_id = submitted(tmp_path, str(job), "--tag", "team=vision")
    latest = run_cli("runs", "show", "latest", "--json", cwd=tmp_path)
    assert json.loads(latest.stdout)["runId"] == run_id
    prefix = run_cli("runs", "show", run_id[:-6], cwd=tmp_path)
    assert prefix.returncode == 0 and "team=vision" in prefix.stdout
    nosuch = run_cli("runs", "logs", "latest", "--file", "nosuch", cwd=tmp_path)
    assert nosuch.returncode == 1 and "std_log.txt" in nosuch.stderr
    by_status = run_cli("runs", "list", "--status", "completed", "--json", cwd=tmp_path)
    assert [r["run_id"] for r in json.loads(by_status.stdout)] == [run_id]
    assert run_cli("runs", "list", "--status", "done", cwd=tmp_path).returncode == 2
    canceled = run_cli("runs", "cancel", "latest", "--json", cwd=tmp_path)
    assert json.loads(canceled.stdout)["status"] == "Completed"
    download = run_cli("runs", "download", "latest", "-o", "dl", "--json", cwd=tmp_path)
    assert "dl/outputs/model.txt" in json.loads(download.stdout)["files"]


def test_failed_job_exit_code_is_not_a_usage_error(tmp_path):
    """A job exiting 2 makes submit exit 3 (run failed), never 2 (usage); the job's code is reported."""
    (tmp_path / "src").mkdir()
    (tmp_path / "job.yml").write_text("code: src\ncommand: python -c 'import sys; sys.exit(2)'\n")
    out = run_cli("submit", "job.yml", "--current-env", cwd=tmp_path)
    assert out.returncode == 3 and "code 2" in out.stderr


def test_registries_newest_first_json_and_force(tmp_path):
    """models list is newest first; register commands and scaffold --list take --json; --force overwrites."""
    (tmp_path / "m.txt").write_text("weights")
    first = json.loads(run_cli("models", "register", "m", "m.txt", "--json", cwd=tmp_path).stdout)
    second = json.loads(run_cli("models", "register", "m", "m.txt", "--json", cwd=tmp_path).stdout)
    assert (first["id"], second["id"]) == ("m:1", "m:2")
    listed = json.loads(run_cli("models", "list", "--json", cwd=tmp_path).stdout)
    assert [m["version"] for m in listed] == [2, 1]
    assert run_cli("models", "download", "m", "-o", "out", cwd=tmp_path).returncode == 0
    assert run_cli("models", "download", "m", "-o", "out", cwd=tmp_path).returncode == 1
    assert run_cli("models", "download", "m", "-o", "out", "--force", cwd=tmp_path).returncode == 0
    ds = json.loads(run_cli("datasets", "register", "d", "m.txt", "--json", cwd=tmp_path).stdout)
    assert ds["id"] == "d:1" and ds["files"] == 1
    templates = json.loads(run_cli("scaffold", "--list", "--json").stdout)
    assert "iris-svm" in [t["name"] for t in templates]


def test_plot_single_values(tmp_path):
    """`runs metrics --plot` works on a run that logged each metric once (drawn as bars)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(
        "from trainers import Run\nrun = Run.get_context()\nrun.log('Accuracy', 0.97)\nrun.log('Penalty', 1.0)\n")
    (tmp_path / "job.yml").write_text("code: src\ncommand: python train.py\n")
    submitted(tmp_path, "job.yml")
    out = run_cli("runs", "metrics", "latest", "--plot", "m.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_upload_bar_on_a_terminal(tmp_path):
    """On a terminal, a submit's upload is drawn as a bar with rate and ETA; piped, it is step lines."""
    import os

    from tests.conftest import run_on_terminal

    job = make_project(tmp_path)
    (tmp_path / "src" / "weights.bin").write_bytes(os.urandom(3 << 20))
    code, text = run_on_terminal("submit", str(job), "--current-env", cwd=tmp_path)
    assert code == 0, text
    assert "syncing to localhost [" in text and "MB/s" in text and "ETA" in text
    (tmp_path / "src" / "weights.bin").write_bytes(os.urandom(3 << 20))
    piped = run_cli("submit", str(job), "--current-env", cwd=tmp_path)
    assert "syncing to localhost: 3.1 / 3.1 MB (100 %)" in piped.stderr and "MB/s" not in piped.stderr


def complete(tmp_path, *words: str) -> list[str]:
    """What the shell would offer after ``trainyard WORDS`` (click's bash protocol), as values."""
    import os
    import subprocess

    from tests.conftest import TRAINYARD

    env = {**os.environ, "_TRAINYARD_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(["trainyard", *words]),
           "COMP_CWORD": str(len(words))}
    out = subprocess.run([TRAINYARD], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split(",", 1)[1] for line in out.stdout.splitlines()]


def test_shell_completion_of_commands_and_names(tmp_path):
    """Completion offers commands, run ids (and latest), templates, models, datasets and computes."""
    run_id = submitted(tmp_path, str(make_project(tmp_path)))
    (tmp_path / "m.txt").write_text("w")
    assert run_cli("models", "register", "sklearn-iris", "m.txt", cwd=tmp_path).returncode == 0
    assert run_cli("datasets", "register", "mnist", "m.txt", cwd=tmp_path).returncode == 0
    assert complete(tmp_path, "ru") == ["runs"]
    assert complete(tmp_path, "runs", "show", "") == ["latest", run_id]
    assert complete(tmp_path, "runs", "logs", run_id[:5]) == [run_id]
    assert complete(tmp_path, "scaffold", "ke") == ["keras-mnist"]
    assert complete(tmp_path, "models", "show", "s") == ["sklearn-iris"]
    assert complete(tmp_path, "datasets", "download", "") == ["mnist"]
    assert complete(tmp_path, "submit", "job.yml", "--compute", "") == ["local"]


def test_dataset_download_reports_progress(tmp_path):
    """`datasets download` of a few MB reports its progress on stderr (a bar on a terminal)."""
    import os

    (tmp_path / "big.bin").write_bytes(os.urandom(3 << 20))
    assert run_cli("datasets", "register", "big", "big.bin", cwd=tmp_path).returncode == 0
    out = run_cli("datasets", "download", "big", "-o", "dl", cwd=tmp_path)
    assert out.returncode == 0 and "downloading big: 3.1 / 3.1 MB (100 %)" in out.stderr
