"""Untrusted input named by users: hostile job files and ids/names/versions are one-line errors, fast."""

from __future__ import annotations

import time

import pytest

from tests.conftest import run_cli, write
from trainyard.errors import JobSpecError, RunError
from trainyard.jobspec import parse_job_file
from trainyard.runstore import RunStore

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)) + \
    "code: src\ncommand: python t.py\n"


@pytest.fixture
def project(tmp_path):
    write(tmp_path / "src" / "t.py", "print('hi')\n")
    return tmp_path


def refused(project, content: str | bytes, match: str) -> str:
    path = project / "job.yml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    start = time.monotonic()
    with pytest.raises(JobSpecError, match=match) as info:
        parse_job_file(path)
    message = str(info.value)
    assert time.monotonic() - start < 10 and "\n" not in message and len(message) < 600, message[:300]
    return message


def test_alias_bomb_is_refused_not_expanded(project):
    """A 'billion laughs' job.yml is refused with a one-line error instead of a huge message."""
    refused(project, BILLION_LAUGHS, "expands to more than")


def test_deep_nesting_is_refused(project):
    """10,000 levels of nesting → one-line error, no RecursionError traceback."""
    refused(project, "code: src\ncommand: x\ntags: " + "[" * 10000 + "]" * 10000 + "\n", "nests deeper")


def test_huge_command_is_refused_quickly(project):
    """A 5 MB job file (a long command) → refused by size; a 100 KB command → refused by length."""
    refused(project, "code: src\ncommand: " + "${{ " * 1_300_000 + "\n", "over the 1048576-byte limit")
    refused(project, "code: src\ncommand: python t.py " + "${{ " * 25_000 + "\n", "'command' is .* over")


def test_non_utf8_job_file_is_refused(project):
    """Bytes that are not UTF-8 → says so, with the offset."""
    refused(project, b"code: src\ncommand: python t.py \xff\xfe\n", "not UTF-8 text .*offset 31")


@pytest.mark.parametrize("code", ["/", "/etc", "/usr", "~"])
def test_code_at_a_system_root_or_home_is_refused(project, code):
    """`code: /`, a system directory or the home directory are refused with the reason."""
    from pathlib import Path

    target = str(Path(code).expanduser())
    refused(project, f"code: {target}\ncommand: python -m http.server\n",
            "the file system root|a system directory|a home directory")


def test_run_id_with_a_slash_is_not_a_path(tmp_path):
    """A run id containing `/` or `..` is rejected before it becomes a path."""
    for bad in ("e2e_1_ab/../../x", "../e_1_aa", "e/x_1_aa", "e_1_aa\0"):
        with pytest.raises(RunError, match="is not a run id"):
            RunStore(tmp_path).run_dir(bad)


@pytest.mark.parametrize("args, match", [
    (("models", "show", "name:abc"), "reference 'name:abc' is invalid"),
    (("models", "show", "../../etc:1"), "name '../../etc' is invalid"),
    (("models", "download", "m:-1", "-o", "x"), "reference 'm:-1' is invalid"),
    (("datasets", "show", "../x"), "name '../x' is invalid"),
    (("environments", "show", "a/b"), "name 'a/b' is invalid"),
    (("runs", "show", "e_1_aa/../../x"), "is not a run id|no run "),
])
def test_cli_validates_names_and_versions(args, match):
    """Bad names, versions and run ids on the command line are one-line errors (exit 1), no traceback."""
    out = run_cli(*args)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert __import__("re").search(match, out.stderr), out.stderr
