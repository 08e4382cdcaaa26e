"""The scaffolder: rendering, variables, refusal and cleanup."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, write
from trainers.objects import ObjectStore
from trainyard.errors import TemplateError
from trainyard.jobspec import parse_job_file
from trainyard.scaffold import list_templates, render_template
from trainyard.snapshot import take_snapshot


def test_render_iris_gives_valid_job(tmp_path):
    """iris-svm renders code (with its .trainignore), env files, README and a job.yml that validates."""
    result = render_template("iris-svm", tmp_path / "p", {"penalty": "0.5"})
    names = sorted(p.relative_to(tmp_path / "p").as_posix() for p in result.files)
    assert names == ["README.md", "environment.yml", "job.yml", "requirements.txt", "src/.trainignore",
                     "src/train.py", "sweep.yml"]
    spec = parse_job_file(tmp_path / "p" / "job.yml")
    assert spec.inputs["penalty"].value == 0.5 and spec.register_model["name"] == "sklearn-iris"
    assert "${{inputs.kernel}}" in spec.command


def test_unknown_template_lists_available():
    """An unknown template name lists the templates that exist."""
    with pytest.raises(TemplateError, match="available: .*iris-svm"):
        render_template("nope")


@pytest.mark.parametrize("assignments, words", [
    ({"colour": "red"}, "no variable 'colour'"),
    ({"penalty": "lots"}, "'penalty' must be of type float"),
    ({"kernel": "cubic"}, "must be one of"),
])
def test_bad_variables(tmp_path, assignments, words):
    """Unknown variables, wrong types and values outside the choices are errors naming the variable."""
    with pytest.raises(TemplateError, match=words):
        render_template("iris-svm", tmp_path / "p", assignments)
    assert not (tmp_path / "p").exists()


def test_refuses_non_empty_target_without_force(tmp_path):
    """A non-empty target is refused unless --force."""
    write(tmp_path / "p" / "mine.txt", "keep")
    with pytest.raises(TemplateError, match="not empty"):
        render_template("iris-svm", tmp_path / "p")
    render_template("iris-svm", tmp_path / "p", force=True)
    assert (tmp_path / "p" / "mine.txt").read_text() == "keep" and (tmp_path / "p" / "job.yml").exists()


def test_failed_render_removes_only_what_it_created(tmp_path, monkeypatch):
    """A render that fails mid-way removes its own files and keeps the user's."""
    tpl = tmp_path / "tpls" / "broken"
    write(tpl / "template.toml", 'description = "x"\n[variables.name]\ntype = "str"\ndefault = "n"\n')
    write(tpl / "a" / "ok.txt", "{{ name }}")
    write(tpl / "b" / "bad.txt", "{{ missing_variable }}")
    monkeypatch.setenv("TRAINYARD_TEMPLATES", str(tmp_path / "tpls"))
    write(tmp_path / "out" / "a" / "user.txt", "mine")
    with pytest.raises(TemplateError, match="missing_variable"):
        render_template("broken", tmp_path / "out", force=True)
    assert (tmp_path / "out" / "a" / "user.txt").read_text() == "mine"
    assert not (tmp_path / "out" / "a" / "ok.txt").exists() and not (tmp_path / "out" / "b").exists()


def test_write_failure_cleans_up(tmp_path, monkeypatch):
    """If writing fails half-way, the files and folders already created are removed."""
    import trainyard.scaffold as sc

    real = sc.Path.write_text
    calls = {"n": 0}

    def flaky(self, text, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        return real(self, text, *a, **k)

    monkeypatch.setattr(sc.Path, "write_text", flaky)
    with pytest.raises(OSError):
        render_template("iris-svm", tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_dry_run_writes_nothing_and_list(tmp_path):
    """--dry-run reports files without writing; --list describes every template."""
    out = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "p"),
                          "--dry-run"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "would write" in out.stderr and not (tmp_path / "p").exists()
    listed = subprocess.run([sys.executable, "-m", "scripts.scaffold", "--list"], cwd=REPO,
                            capture_output=True, text=True)
    assert "iris-svm:" in listed.stdout and "kernel [str, default 'linear']" in listed.stdout
    assert {t.name for t in list_templates()} == {"iris-svm", "sklearn-mnist", "keras-mnist", "pytorch-cifar"}


@pytest.mark.parametrize("template", ["iris-svm", "sklearn-mnist", "keras-mnist", "pytorch-cifar"])
def test_scaffolded_ignore_file_is_obeyed(tmp_path, template):
    """A scaffolded project's .trainignore is the one the snapshot reads: a large file under data/ is not uploaded."""
    render_template(template, tmp_path / "p")
    spec = parse_job_file(tmp_path / "p" / "job.yml")
    (spec.code / "data").mkdir()
    (spec.code / "data" / "train.bin").write_bytes(b"\0" * (2 << 20))
    snap = take_snapshot(spec.code, ObjectStore(tmp_path / "objects"))
    assert snap.ignore_file == ".trainignore"
    assert not [f for f in snap.files if f.path.startswith("data/")] and snap.total_bytes < 1 << 20


def test_string_variables_survive_yaml(tmp_path):
    """String template variables are quoted in job.yml: `no`, `3.10` and `0755` stay strings."""
    render_template("iris-svm", tmp_path / "p", {"experiment_name": "no", "model_name": "0755", "compute": "3.10"})
    spec = parse_job_file(tmp_path / "p" / "job.yml")
    assert (spec.experiment_name, spec.register_model["name"], spec.compute) == ("no", "0755", "3.10")
