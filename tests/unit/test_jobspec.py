"""Job spec parsing and validation (job.yml and ScriptRunConfig)."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli, write
from trainyard import Environment, ScriptRunConfig
from trainyard.errors import JobSpecError
from trainyard.jobspec import parse_job_file

GOOD = """\
experiment_name: exp1
code: src
command: python train.py --lr ${{inputs.lr}} --data ${{inputs.data}}
inputs:
  lr: 0.1
  data:
    type: uri_folder
    path: data
environment:
  requirements: requirements.txt
environment_variables:
  FOO: bar
limits:
  timeout: 60
register_model:
  name: m
  path: outputs/m.pkl
"""


@pytest.fixture
def project(tmp_path):
    write(tmp_path / "src" / "train.py", "print('hi')\n")
    write(tmp_path / "data" / "x.txt", "x")
    write(tmp_path / "requirements.txt", "six\n")
    return tmp_path


def test_valid_job_parses_with_paths_resolved(project):
    """A valid job.yml yields a JobSpec with code/inputs resolved against the job file."""
    spec = parse_job_file(write(project / "job.yml", GOOD))
    assert spec.code == (project / "src").resolve()
    assert spec.inputs["lr"].value == 0.1 and spec.inputs["lr"].is_literal
    assert spec.inputs["data"].path == str((project / "data").resolve())
    assert spec.timeout == 60 and spec.environment_variables == {"FOO": "bar"}
    assert spec.environment.compute_spec()["requirements"] == ["six"]
    rendered = spec.render_command({"data": "/n/d"})
    assert rendered.text == 'python train.py --lr "${TRAINYARD_ARG_1}" --data "${TRAINYARD_ARG_0}"'
    assert rendered.env == {"TRAINYARD_ARG_0": "/n/d", "TRAINYARD_ARG_1": "0.1"}


@pytest.mark.parametrize("text, key, words", [
    (GOOD + "colour: red\n", "colour", "unknown key"),
    (GOOD.replace("timeout: 60", "timeout: soon"), "limits.timeout", "a number of seconds"),
    (GOOD.replace("code: src", "code: nowhere"), "code", "not a directory"),
    (GOOD.replace("--lr ${{inputs.lr}}", "--lr ${{inputs.rate}}"), "inputs.rate", "no input 'rate'"),
    (GOOD.replace("  lr: 0.1", "  lr: [1, 2]"), "inputs.lr", "literal"),
    (GOOD.replace("    type: uri_folder", "    type: table"), "inputs.data.type", "uri_file, uri_folder"),
    (GOOD.replace("  name: m\n", ""), "register_model.name", "needs 'name'"),
    (GOOD.replace("experiment_name: exp1", "experiment_name: -bad"), "experiment_name", "invalid"),
    (GOOD.replace("  FOO: bar", "  FOO: {a: 1}"), "environment_variables.FOO", "string or number"),
    (GOOD + "resources:\n  instance_count: 0\n", "resources.instance_count", "at least 1"),
    (GOOD + "distribution:\n  type: horovod\n", "distribution.type", "pytorch or mpi"),
])
def test_malformed_job_names_the_key(project, text, key, words):
    """Each kind of mistake raises JobSpecError naming the offending key."""
    with pytest.raises(JobSpecError) as err:
        parse_job_file(write(project / "job.yml", text))
    assert err.value.key == key
    assert words in str(err.value) and key.split(".")[-1] in str(err.value)


def test_yaml_syntax_error_gives_line(project):
    """Broken YAML reports the line and column."""
    with pytest.raises(JobSpecError, match="line [23]"):
        parse_job_file(write(project / "job.yml", "code: src\ncommand: x\n  bad: [indent\n"))


def test_set_overrides_literal_and_rejects_unknown(project):
    """--set inputs.x=v changes a literal (typed); an unknown input is an error."""
    spec = parse_job_file(write(project / "job.yml", GOOD))
    spec.apply_overrides(["inputs.lr=0.5"])
    assert spec.inputs["lr"].value == 0.5
    with pytest.raises(JobSpecError, match="no input 'nope'"):
        spec.apply_overrides(["inputs.nope=1"])


def test_script_run_config_matches_job_yml(project):
    """ScriptRunConfig (with run_config.environment set afterwards) gives the same spec as job.yml."""
    job = parse_job_file(write(project / "job.yml", """\
code: src
command: python train.py --lr 0.1
environment:
  requirements: requirements.txt
limits:
  timeout: 60
"""))
    src = ScriptRunConfig(source_directory=str(project / "src"), script="train.py", arguments=["--lr", 0.1],
                          max_run_duration_seconds=60)
    src.run_config.environment = Environment.from_pip_requirements("e", project / "requirements.txt")
    spec = src.to_job_spec()
    assert (spec.command, spec.code, spec.timeout, spec.compute) == (job.command, job.code, job.timeout, "local")
    assert spec.environment.compute_hash() == job.environment.compute_hash()


def test_script_run_config_missing_script(project):
    """A script that does not exist in source_directory is a clear error."""
    with pytest.raises(JobSpecError, match="'nope.py', which is not in the code directory") as err:
        ScriptRunConfig(str(project / "src"), "nope.py").to_job_spec()
    assert "scripts there: train.py" in str(err.value)


def test_job_yml_command_script_missing(project):
    """`python X.py` in a job.yml whose code directory lacks X.py is refused before anything runs."""
    job = write(project / "job.yml", GOOD.replace("python train.py", "python tain.py"))
    with pytest.raises(JobSpecError, match="'tain.py'.*scripts there: train.py") as err:
        parse_job_file(job)
    assert err.value.key == "command"
    module = write(project / "job2.yml", GOOD.replace("python train.py", "python -m train"))
    assert parse_job_file(module).command.startswith("python -m train")


def test_cli_malformed_job_has_no_traceback(project):
    """The CLI prints a one-paragraph error (no traceback) and exits 1; --debug shows the traceback."""
    job = write(project / "job.yml", GOOD + "colour: red\n")
    result = run_cli("submit", str(job))
    assert result.returncode == 1
    assert "unknown key 'colour'" in result.stderr and "Traceback" not in result.stderr
    debug = run_cli("--debug", "submit", str(job))
    assert "Traceback" in debug.stderr


TYPED = """\
code: src
command: python train.py ${{inputs.answer}} ${{inputs.python}} ${{inputs.mode}} ${{inputs.n}} ${{inputs.flag}}
inputs:
  answer: yes-or-no
  python: {type: string, default: "3.9"}
  mode: {type: string, default: "0644"}
  n: {type: integer, default: 3}
  flag: {type: boolean, default: false}
"""


def test_set_values_keep_their_declared_type(project):
    """--set reads values as the input's type, not YAML 1.1: no, 3.10 and 0755 stay strings."""
    spec = parse_job_file(write(project / "job.yml", TYPED))
    spec.apply_overrides(["inputs.answer=no", "inputs.python=3.10", "inputs.mode=0755", "inputs.n=7",
                          "inputs.flag=True"])
    assert {n: i.value for n, i in spec.inputs.items()} == {"answer": "no", "python": "3.10", "mode": "0755",
                                                            "n": 7, "flag": True}
    rendered = spec.render_command({})
    assert [rendered.env[v.strip('"${}')] for v in rendered.text.split()[2:]] == ["no", "3.10", "0755", "7", "True"]


@pytest.mark.parametrize("override, words", [("inputs.n=3.5", "not an integer"), ("inputs.flag=maybe", "not a boolean")])
def test_set_value_of_the_wrong_type_is_an_error(project, override, words):
    """A --set value that is not of the input's type is an error naming the input, before anything runs."""
    spec = parse_job_file(write(project / "job.yml", TYPED))
    with pytest.raises(JobSpecError, match=words):
        spec.apply_overrides([override])


def test_declared_type_is_checked_in_job_yml(project):
    """A default that YAML reads as another type than declared is an error saying to quote it."""
    with pytest.raises(JobSpecError, match="quote it"):
        parse_job_file(write(project / "job.yml", TYPED.replace('"3.9"', "3.10")))


def test_undeclared_number_takes_any_number(project):
    """An input without a declared type whose value is a number takes any number from --set (0 → 0.05)."""
    spec = parse_job_file(write(project / "job.yml", TYPED.replace("  answer: yes-or-no\n", "  answer: 0\n")))
    spec.apply_overrides(["inputs.answer=0.05"])
    assert spec.inputs["answer"].value == 0.05
    spec.apply_overrides(["inputs.answer=7"])
    assert spec.inputs["answer"].value == 7 and isinstance(spec.inputs["answer"].value, int)
