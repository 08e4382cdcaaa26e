"""Command rendering: an input value reaches the job as exactly one piece of text and is never run by bash."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainyard.command import render_command
from trainyard.errors import JobSpecError
from trainyard.jobspec import parse_job_dict

HOSTILE = ["$(touch {mark})", "`touch {mark}`", 'x" ; touch {mark} ; echo "y', "x' ; touch {mark} ; echo 'y",
           "a b", "*", "$HOME", "line1\nline2", "\\", "'", '"', "${{inputs.z}}", "-- --help", "a;b|c&d>e",
           "$'\\x41'", "!!", "~", "", "ünï \t cödé"]
PLACEMENTS = {  # the command fragment → the words the job must receive when the value is V
    "--z ${{inputs.z}}": ["--z", "V"],
    '--z "${{inputs.z}}"': ["--z", "V"],
    "--z '${{inputs.z}}'": ["--z", "V"],
    "--z=${{inputs.z}}": ["--z=V"],
    '"pre ${{inputs.z}} post"': ["pre V post"],
    "'a'${{inputs.z}}\"b\"": ["aVb"],
    "$'x${{inputs.z}}y'": ["xVy"],
    '"$(printf %s "${{inputs.z}}")"': ["V"],
}


def bash_argv(rendered, cwd) -> list[str]:
    """Run the rendered command (its text after ``printf '%s\\0'``) in bash; the arguments it got."""
    out = subprocess.run(["/bin/bash", "--norc", "--noprofile", "-c", rendered.text], cwd=cwd,
                         capture_output=True, env={"PATH": "/usr/bin:/bin", **rendered.env}, check=True)
    return out.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("fragment", list(PLACEMENTS))
def test_hostile_values_are_inert_in_every_placement(fragment, tmp_path):
    """Each hostile value in each placement: nothing executes, the job gets exactly the expected argv."""
    mark = tmp_path / "executed"
    for template in HOSTILE:
        value = template.format(mark=mark) if "{mark}" in template else template
        rendered = render_command(f"printf '%s\\0' {fragment}", {"z": value})
        expected = [w.replace("V", value) for w in PLACEMENTS[fragment]]
        assert bash_argv(rendered, tmp_path) == expected, (fragment, value, rendered.text)
        assert not mark.exists(), f"{value!r} in {fragment!r} ran a command"


def test_a_value_with_a_space_is_one_argument_as_azure_delivers_it():
    """`"${{inputs.z}}"` with `a b` arrives as `a b`, not `'a b'` with literal quotes."""
    rendered = render_command('python t.py --z "${{inputs.z}}"', {"z": "a b"})
    assert "a b" not in rendered.text and rendered.env == {"TRAINYARD_ARG_0": "a b"}


def test_nul_in_a_value_is_a_clear_error(tmp_path):
    """A NUL byte cannot be delivered to a program, so the job spec refuses it, naming the input."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text("")
    with pytest.raises(JobSpecError, match="'z' contains a NUL byte"):
        parse_job_dict({"code": "src", "command": "python t.py ${{inputs.z}}", "inputs": {"z": "a\0b"}},
                       tmp_path)


WORD_TEXT = st.text(alphabet=st.sampled_from("abc-=._/ "), min_size=0, max_size=4)
VALUE = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20)


@st.composite
def templates(draw):
    """A command of words; each word joins plain text and placeholders, bare or in single/double quotes."""
    words = []
    for _ in range(draw(st.integers(1, 4))):
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            text = draw(WORD_TEXT).replace(" ", "")
            quote = draw(st.sampled_from(["", "'", '"']))
            inner = text + (" ${{inputs." + draw(st.sampled_from("xy")) + "}} " if draw(st.booleans()) else "")
            parts.append(f"{quote}{inner if quote else inner.replace(' ', '')}{quote}")
        words.append("".join(parts) or "w")
    return " ".join(words)


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template=templates(), x=VALUE, y=VALUE)
def test_rendering_matches_word_level_substitution(template, x, y, tmp_path_factory):
    """Property: bash receives the words of the template with each placeholder replaced by its value as
    inert text (the oracle: shlex splits the template with sentinels, then sentinels become values)."""
    sentinel = {"x": "\x01X\x01", "y": "\x01Y\x01"}
    expected = [w.replace(sentinel["x"], x).replace(sentinel["y"], y) for w in
                shlex.split(template.replace("${{inputs.x}}", sentinel["x"]).replace("${{inputs.y}}", sentinel["y"]))]
    rendered = render_command("printf '%s\\0' " + template, {"x": x, "y": y})
    assert bash_argv(rendered, tmp_path_factory.getbasetemp()) == expected
