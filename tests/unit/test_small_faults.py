"""Smaller faults: output names judged precisely, shown safely; unwritable targets and bad files are one line."""

from __future__ import annotations

from tests.conftest import run_cli, write
from trainyard.cli._render import printable
from trainyard.tracker import check_entry

OK = {"type": "file", "size": 1}


def test_dots_inside_a_name_are_fine_but_dotdot_parts_are_not():
    """`model..v2.pt` is collected; a `..` path part is still rejected; a backslash is named as such."""
    assert check_entry({**OK, "path": "outputs/model..v2.pt"}, 10) is None
    assert check_entry({**OK, "path": "outputs/..hidden"}, 10) is None
    assert "'..'" in check_entry({**OK, "path": "outputs/../x"}, 10)
    assert check_entry({**OK, "path": "outputs\\x"}, 10) == "name contains a backslash"


def test_control_characters_in_names_are_escaped():
    """A newline or escape sequence in a node's file name is shown escaped on one line."""
    assert printable("outputs/a\nb\x1b[2J") == "outputs/a\\nb\\x1b[2J"
    assert printable("outputs/ünï code.txt") == "outputs/ünï code.txt"


def test_import_stack_on_a_non_json_file_is_one_line():
    """`workspace import-stack --file` on a binary or non-object file → one-line error."""
    for content in (b"\x00\xffnot json", b"[1, 2]"):
        path = write(__import__("pathlib").Path("out.json"), "")
        path.write_bytes(content)
        out = run_cli("workspace", "import-stack", "--file", str(path))
        assert out.returncode == 1 and "Traceback" not in out.stderr and "out.json" in out.stderr, out.stderr


def test_unwritable_output_directories_are_one_line():
    """`scaffold -o` and `models download -o` into a place that cannot be written → one-line error."""
    out = run_cli("scaffold", "iris-svm", "-o", "/proc/trainyard-test")
    assert out.returncode == 1 and "Traceback" not in out.stderr and "/proc/trainyard-test" in out.stderr, out.stderr
    write(__import__("pathlib").Path("m.txt"), "w")
    assert run_cli("models", "register", "m", "m.txt").returncode == 0
    out = run_cli("models", "download", "m", "-o", "/proc/trainyard-test")
    assert out.returncode == 1 and "Traceback" not in out.stderr and "/proc/trainyard-test" in out.stderr, out.stderr
