"""Fuzzing with a fixed seed and a bounded budget: job.yml files, CLI arguments and node replies.

Each property says what may come out: a result or the family's own error, never another exception, and
each example within the deadline (which catches quadratic blow-ups).
"""

from __future__ import annotations

import string
import tempfile
from datetime import timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainyard.cli import cli
from trainyard.errors import JobSpecError, TrainyardError, TransferError
from trainyard.jobspec import TOP_KEYS, parse_job_file
from trainyard.reply import check_list_files, check_poll
from trainyard.runstore import RunStore, new_record
from trainyard.tracker import check_entry, sync_step
from trainyard.workspace import Workspace

FUZZ = settings(max_examples=200, derandomize=True, deadline=timedelta(seconds=5), database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
KEYS = st.sampled_from(sorted(TOP_KEYS) + ["inputs", "limits", "bogus", "${{x}}"])
JOBS = st.dictionaries(KEYS, JSON | st.sampled_from(["src", "python t.py ${{inputs.a}}", ".", "/"]), max_size=8)


@FUZZ
@given(doc=JOBS)
def test_fuzzed_job_mappings_parse_or_raise_jobspecerror(doc, tmp_path):
    """Any mapping of job keys to any values: a JobSpec or a JobSpecError, nothing else."""
    (tmp_path / "src").mkdir(exist_ok=True)
    path = tmp_path / "job.yml"
    path.write_text(yaml.safe_dump(doc))
    try:
        parse_job_file(path)
    except JobSpecError as exc:
        assert len(str(exc)) < 2000  # bounded, whatever the input


@FUZZ
@given(raw=st.binary(max_size=400) | st.text(alphabet=string.printable + "&*!|>{}[]:-", max_size=400))
def test_fuzzed_job_bytes_parse_or_raise_jobspecerror(raw, tmp_path):
    """Any bytes as a job file: a JobSpec or a JobSpecError."""
    path = tmp_path / "job.yml"
    path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    try:
        parse_job_file(path)
    except JobSpecError:
        pass


WORDS = st.text(alphabet=string.ascii_letters + string.digits + "_-.:/@ \\\n$'\"", max_size=20)
COMMANDS = [["runs", "show"], ["runs", "logs"], ["runs", "metrics"], ["runs", "download"], ["models", "show"],
            ["models", "download"], ["datasets", "show"], ["environments", "show"], ["runs", "cancel"],
            ["scaffold"], ["submit"], ["runs", "list", "-n"], ["models", "list", "--name"]]


@FUZZ
@given(command=st.sampled_from(COMMANDS), args=st.lists(WORDS, min_size=1, max_size=3))
def test_fuzzed_cli_arguments_never_crash(command, args):
    """Any words after a command: exit 0, 1 or 2 with a message, never an unhandled exception."""
    result = CliRunner().invoke(cli, [*command, *args], catch_exceptions=True)
    assert result.exit_code in (0, 1, 2) and (result.exception is None or isinstance(result.exception, SystemExit)), \
        (command, args, result.exception)


@FUZZ
@given(answer=JSON | st.fixed_dictionaries({"state": st.sampled_from(["Running", "Completed", "Lost", "x"]),
                                            "chunks": st.dictionaries(WORDS, WORDS | JSON, max_size=3)}))
def test_fuzzed_poll_and_list_answers_are_checked(answer):
    """Any node answer to poll/list_files: accepted as well-formed or a TransferError; chunk names that
    would leave the run are never accepted."""
    try:
        _, chunks = check_poll(answer)
        assert all(".." not in rel.split("/") and not rel.startswith("/") for rel in chunks)
    except TransferError:
        pass
    try:
        for entry in check_list_files(answer):
            check_entry(entry, 100)
    except TransferError:
        pass


class FuzzNode:
    """A node whose every answer is drawn by hypothesis."""

    name = "fuzz"

    def __init__(self, draw):
        self.draw = draw

    def call(self, verb, payload):
        return self.draw(JSON | st.fixed_dictionaries(
            {"state": st.sampled_from(["Running", "Completed", "Failed", "Lost", "Queued"]),
             "reason": st.none() | st.text(max_size=20), "entries": st.lists(JSON, max_size=3),
             "chunks": st.dictionaries(st.sampled_from(["std_log.txt", "../x", "a/b"]),
                                       st.sampled_from(["aGk=", "!!", ""]), max_size=2)}))

    def fetch_files(self, run_id, items, progress=None):
        return {}


@FUZZ
@given(data=st.data())
def test_fuzzed_node_replies_never_crash_the_tracker(data):
    """A run synced against a node answering anything: progresses, or raises a TrainyardError; nothing is
    written outside the run's directory."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace("fuzz", Path(tmp) / "store")
        store = RunStore(ws.root)
        run_id = "fuzz_1700000000_0badcafe"
        store.create(new_record(run_id, "fuzz", compute="local", launched=True))
        for _ in range(3):
            try:
                sync_step(ws, store, run_id, node=FuzzNode(data.draw))
            except TrainyardError:
                pass
        run_dir = store.run_dir(run_id)
        outside = [p for p in Path(tmp).rglob("*") if p.is_file() and not p.is_relative_to(run_dir)]
        assert not outside, outside
