"""The job spec: a subset of the Azure ML CLI v2 command job plus ``register_model``.

``parse_job_file`` (job.yml) and ``ScriptRunConfig`` both produce a ``JobSpec``; everything downstream
(snapshot, submission, nodes) sees only that. Validation is strict: an unknown key, a wrong type, a
missing ``code`` directory or a ``${{inputs.x}}`` with no input ``x`` is a JobSpecError naming the key.
"""

from __future__ import annotations

import itertools
import re
import reprlib
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .command import PLACEHOLDER_RE, RenderedCommand, check_value, render_command
from .environment import Environment
from .errors import EnvironmentError_, JobSpecError

EXPERIMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")
PYTHON_RE = re.compile(r"python[0-9.]*")
INTEGER_RE = re.compile(r"[+-]?\d+")
TOP_KEYS = {"$schema", "type", "experiment_name", "display_name", "description", "tags", "code",
            "command", "inputs", "environment", "environment_variables", "compute", "resources",
            "limits", "register_model", "distribution"}
DISTRIBUTION_KEYS = {"type", "process_count_per_instance"}
INPUT_KEYS = {"type", "path", "mode", "description"}
ENV_KEYS = {"conda_file", "requirements", "image", "name", "version", "description"}
MODEL_KEYS = {"name", "path", "framework", "framework_version", "tags", "description", "properties"}
INPUT_TYPES = {"uri_file", "uri_folder"}
LITERAL_KEYS = {"type", "default", "value", "description", "optional"}
LITERAL_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}
BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False,
                 "off": False}
DOWNLOAD, RO_MOUNT = "download", "ro_mount"  # the run's own writable copy / read-only links into the node's cache
MODES = {DOWNLOAD, RO_MOUNT}
DEFAULT_TIMEOUT = 2592000  # 30 days, Azure's max_run_duration_seconds default
MAX_JOB_BYTES = 1 << 20
MAX_COMMAND_CHARS = 64 * 1024  # bash -c receives it as one argument (at most 128 KiB)
MAX_DEPTH = 32
MAX_NODES = 100_000
SYSTEM_ROOTS = frozenset(Path(p) for p in ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/opt", "/proc",
                                           "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/tmp", "/mnt",
                                           "/media"))


@dataclass
class InputSpec:
    """A job input: a literal value, or a file/folder (local path, URL or ``dataset:NAME[:VER]``)."""

    name: str
    value: Any = None
    type: str | None = None  # None for literals
    path: str | None = None
    mode: str = DOWNLOAD
    value_type: str | None = None  # a literal's string|integer|number|boolean (declared, else from its value)
    recipe: dict | None = None  # a tabular dataset's recipe (trainers.tabular), for run.input_datasets

    @property
    def is_literal(self) -> bool:
        return self.type is None


@dataclass
class JobSpec:
    command: str
    code: Path
    experiment_name: str = "default"
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    environment: Environment | None = None
    environment_ref: str | None = None  # "name[:version]" of a registered environment
    environment_variables: dict[str, str] = field(default_factory=dict)
    compute: str = "local"
    gpus: int = 0
    instance_count: int = 1
    distribution: dict | None = None  # {"type": pytorch|mpi, "instance_count", "process_count_per_instance"}
    timeout: int = DEFAULT_TIMEOUT
    not_responding_timeout: int | None = None  # give up on a silent node after this (None: workspace limit)
    register_model: dict | None = None
    source: str = "<python>"

    def render_command(self, input_paths: dict[str, str]) -> RenderedCommand:
        """The command with each ``${{inputs.x}}`` turned into a quoted variable reference, and the
        variables carrying the literals and node paths (pure; see ``trainyard.command``)."""
        values = {name: str(spec.value) if spec.is_literal else input_paths[name]
                  for name, spec in self.inputs.items() if spec.is_literal or name in input_paths}
        return render_command(self.command, values)

    def apply_overrides(self, assignments: list[str]) -> None:
        """Apply ``--set inputs.x=v`` style overrides (literal inputs or input paths)."""
        for item in assignments:
            key, sep, value = item.partition("=")
            if not sep or not key.startswith("inputs."):
                raise JobSpecError(f"cannot apply --set {item!r}: use inputs.NAME=VALUE", key=key)
            name = key.split(".", 1)[1]
            if name not in self.inputs:
                raise JobSpecError(f"--set {item!r}: the job has no input {name!r} "
                                   f"(inputs: {', '.join(self.inputs) or 'none'})", key=key)
            spec = self.inputs[name]
            if spec.is_literal:
                spec.value = parse_literal(value, spec.value_type, f"--set {key}")
            else:
                spec.path = value
        validate_placeholders(self)


def type_of_literal(value: Any) -> str:
    """The job.yml type name of a literal value (pure)."""
    if isinstance(value, bool):
        return "boolean"
    return "integer" if isinstance(value, int) else "number" if isinstance(value, float) else "string"


def parse_literal(text: str, value_type: str | None, key: str, path: str = "<command line>") -> Any:
    """A command-line value read as the input's type, never through YAML (``no`` stays ``no`` for a string,
    ``3.10`` stays ``3.10``, ``0755`` stays ``0755``); a value that is not of the type is an error (pure)."""
    try:
        if value_type == "integer":
            return int(text)
        if value_type == "number":  # an integer stays one (Azure's number takes both)
            return int(text) if INTEGER_RE.fullmatch(text.strip()) else float(text)
    except ValueError:
        raise JobSpecError(f"{key}: {text!r} is not {'an' if value_type == 'integer' else 'a'} {value_type}; "
                           "give a value of the input's declared type", key, path) from None
    if value_type == "boolean":
        if text.lower() not in BOOLEAN_WORDS:
            raise JobSpecError(f"{key}: {text!r} is not a boolean; use true or false", key, path)
        return BOOLEAN_WORDS[text.lower()]
    return text


def _expect(value: Any, types: type | tuple, key: str, path: str, what: str) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in
                                         (types if isinstance(types, tuple) else (types,))):
        raise JobSpecError(f"{_short(key)} must be {what}, got {type(value).__name__} {_short(value)}", key, path)
    return value


def _short(value: Any, limit: int = 80) -> str:
    """A repr for an error message, cut to ``limit`` characters (values come from untrusted files)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = limit
    text = short.repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _check_keys(mapping: dict, allowed: set[str], prefix: str, path: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise JobSpecError(
                f"unknown key {_short(prefix + str(key))}; allowed here: {', '.join(sorted(allowed))}",
                prefix + str(key)[:80], path)


def parse_job_file(path: str | Path) -> JobSpec:
    """Read and validate a job.yml; relative paths resolve against its directory. The file is untrusted:
    its size, nesting and alias expansion are bounded, and every failure is a one-line JobSpecError."""
    path = Path(path)
    return parse_job_dict(load_job_yaml(path), path.parent.resolve(), str(path))


def load_job_yaml(path: Path) -> Any:
    """The YAML of a job file (a command job's or a sweep job's), or an error saying where it is wrong."""
    if not path.is_file():
        raise JobSpecError(f"job file {path} does not exist; scaffold one with `trainyard scaffold`")
    try:
        size = path.stat().st_size
        if size > MAX_JOB_BYTES:
            raise JobSpecError(f"the job file is {size} bytes, over the {MAX_JOB_BYTES}-byte limit; a job.yml "
                               "describes a job, put data in inputs", None, str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise JobSpecError(f"cannot read the job file: {exc.strerror}", None, str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JobSpecError(f"the job file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                           "save it as UTF-8", None, str(path)) from None
    return load_yaml(text, str(path))


def load_yaml(text: str, path: str = "<job>") -> Any:
    """``yaml.safe_load`` with bounds: at most MAX_DEPTH levels of nesting and MAX_NODES values once
    aliases are expanded (a "billion laughs" file is refused, not expanded)."""
    try:
        _check_depth(text, path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise JobSpecError(f"not valid YAML{where}: {str(getattr(exc, 'problem', None) or exc)[:200]}; fix the "
                           "syntax", None, path) from None
    except RecursionError:
        raise JobSpecError(f"the job file nests deeper than a job spec can (limit {MAX_DEPTH} levels)",
                           None, path) from None
    _check_shape(data, path)
    return data


def _check_depth(text: str, path: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the event stream (linear, no recursion), before the
    recursive composer would build it."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise JobSpecError(f"the job file nests deeper than a job spec can (limit {MAX_DEPTH} levels)",
                                   None, path)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_shape(data: Any, path: str) -> None:
    """Walk ``data`` as its consumers would (aliases expanded), stopping at the bounds (linear in them)."""
    budget, stack = MAX_NODES, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise JobSpecError(f"the job file expands to more than {MAX_NODES} values (YAML aliases that "
                               "repeat each other?); write the values out", None, path)
        if depth > MAX_DEPTH:
            raise JobSpecError(f"the job file nests deeper than a job spec can (limit {MAX_DEPTH} levels)",
                               None, path)
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def parse_job_dict(data: Any, base: Path, path: str = "<job>") -> JobSpec:
    """Validate a job mapping (already loaded) into a JobSpec."""
    if not isinstance(data, dict):
        raise JobSpecError("a job spec must be a mapping of keys to values", None, path)
    _check_keys(data, TOP_KEYS, "", path)
    if data.get("type", "command") != "command":
        raise JobSpecError(f"'type' must be 'command' or 'sweep' (got {data['type']!r})", "type", path)
    for required in ("command", "code"):
        if required not in data:
            raise JobSpecError(f"missing required key {required!r}", required, path)
    command = _expect(data["command"], str, "command", path, "a string")
    if len(command) > MAX_COMMAND_CHARS:
        raise JobSpecError(f"'command' is {len(command)} characters, over the {MAX_COMMAND_CHARS} limit; put "
                           "long scripts in a file in the code directory and run that", "command", path)
    code = base / _expect(data["code"], str, "code", path, "a path to the source directory")
    if "\0" in str(code) or not code.is_dir():
        raise JobSpecError(f"'code' points to {_short(str(code))}, which is not a directory; fix the path "
                           "(it is relative to the job file)", "code", path)
    check_code_directory(code.resolve(), "code", path)
    spec = JobSpec(command=command, code=code.resolve(), source=path)
    if "experiment_name" in data:
        spec.experiment_name = check_experiment_name(
            _expect(data["experiment_name"], str, "experiment_name", path, "a string"), path)
    for key in ("display_name", "description", "compute"):
        if key in data and data[key] is not None:
            setattr(spec, key, _expect(data[key], str, key, path, "a string"))
    spec.tags = _string_map(data.get("tags"), "tags", path)
    spec.environment_variables = _string_map(data.get("environment_variables"),
                                             "environment_variables", path)
    spec.inputs = _parse_inputs(data.get("inputs"), base, path)
    if isinstance(data.get("environment"), str):  # a registered environment, resolved at submit
        spec.environment_ref = data["environment"].removeprefix("azureml:")
    else:
        spec.environment = _parse_environment(data.get("environment"), base, path)
    res = _expect(data.get("resources") or {}, dict, "resources", path, "a mapping")
    _check_keys(res, {"gpus", "instance_count", "instance_type"}, "resources.", path)
    spec.gpus = _expect(res.get("gpus", 0), int, "resources.gpus", path, "an integer")
    spec.instance_count = _expect(res.get("instance_count", 1), int, "resources.instance_count", path,
                                  "an integer")
    spec.distribution = parse_distribution(data.get("distribution"), spec.instance_count, path)
    limits = _expect(data.get("limits") or {}, dict, "limits", path, "a mapping")
    _check_keys(limits, {"timeout", "not_responding_timeout"}, "limits.", path)
    if "not_responding_timeout" in limits:
        spec.not_responding_timeout = _expect(limits["not_responding_timeout"], int,
                                              "limits.not_responding_timeout", path, "a number of seconds")
    spec.timeout = _expect(limits.get("timeout", DEFAULT_TIMEOUT), int, "limits.timeout", path,
                           "a number of seconds")
    if spec.timeout <= 0:
        raise JobSpecError("'limits.timeout' must be a positive number of seconds", "limits.timeout", path)
    if data.get("register_model") is not None:
        spec.register_model = parse_register_model(data["register_model"], path)
    validate_placeholders(spec)
    check_command_script(spec.command, spec.code, "command", path)
    return spec


def parse_distribution(value: Any, instance_count: int, path: str = "<job>") -> dict | None:
    """``distribution: {type: pytorch|mpi, process_count_per_instance: K}`` with ``instance_count`` nodes
    (Azure ML v2's shape) → the launch's distribution, or None for a one-process job."""
    if instance_count < 1:
        raise JobSpecError("'resources.instance_count' must be at least 1", "resources.instance_count", path)
    if value is None:
        if instance_count == 1:
            return None
        value = {"type": "pytorch"}
    value = _expect(value, dict, "distribution", path, "a mapping")
    _check_keys(value, DISTRIBUTION_KEYS, "distribution.", path)
    kind = value.get("type", "pytorch")
    if kind not in ("pytorch", "mpi"):
        raise JobSpecError(f"'distribution.type' must be pytorch or mpi, not {kind!r}", "distribution.type", path)
    per = _expect(value.get("process_count_per_instance", 1), int, "distribution.process_count_per_instance",
                  path, "an integer")
    if per < 1:
        raise JobSpecError("'distribution.process_count_per_instance' must be at least 1",
                           "distribution.process_count_per_instance", path)
    return {"type": kind, "instance_count": instance_count, "process_count_per_instance": per}


def check_command_script(command: str, code: Path, key: str, path: str = "<job>") -> None:
    """A command that starts ``python SCRIPT.py`` must find SCRIPT.py in the code directory; the error
    lists the scripts that are there. Other commands (``python -m``, shell pipelines) are not checked."""
    try:
        words = shlex.split(command)
    except ValueError:
        return
    if len(words) < 2 or not PYTHON_RE.fullmatch(Path(words[0]).name) or not words[1].endswith(".py") \
            or "${{" in words[1] or (code / words[1]).is_file():
        return
    scripts = sorted(str(p.relative_to(code)) for p in itertools.islice(code.rglob("*.py"), 200))
    raise JobSpecError(f"the command runs {words[1]!r}, which is not in the code directory {code} "
                       f"(scripts there: {', '.join(scripts[:10]) or 'none'}); fix the script name, or point the "
                       "code directory (job.yml 'code', ScriptRunConfig source_directory) at its folder",
                       key, path)


def check_code_directory(code: Path, key: str, path: str = "<job>") -> None:
    """Refuse a code directory that is the file system root, a home directory or a system directory: its
    snapshot would be the whole machine (and its secrets), not a project."""
    home = Path.home().resolve()
    homes = {home, Path("/home"), Path("/root")}
    if code == Path(code.anchor) or code in homes or code in SYSTEM_ROOTS:
        what = "the file system root" if code == Path(code.anchor) else \
            "a home directory" if code in homes else "a system directory"
        raise JobSpecError(f"'code' points to {code}, {what}; point it at your project's source folder "
                           "(the one with the training script)", key, path)


def check_experiment_name(name: str, path: str = "<job>") -> str:
    if not EXPERIMENT_RE.match(name):
        raise JobSpecError(f"experiment_name {name!r} is invalid: 1-255 characters, starting with a "
                           "letter or digit, then letters, digits, '_' or '-'", "experiment_name", path)
    return name


def _string_map(value: Any, key: str, path: str) -> dict[str, str]:
    value = _expect(value or {}, dict, key, path, "a mapping")
    out = {}
    for k, v in value.items():
        _expect(v, (str, int, float, bool), f"{key}.{k}", path, "a string or number")
        out[str(k)] = str(v)
    return out


def _parse_inputs(value: Any, base: Path, path: str) -> dict[str, InputSpec]:
    value = _expect(value or {}, dict, "inputs", path, "a mapping of name -> value")
    out = {}
    for name, item in value.items():
        key = f"inputs.{name}"
        if isinstance(item, dict) and item.get("type") in LITERAL_TYPES:
            out[name] = _parse_typed_literal(name, item, path)
        elif isinstance(item, dict):
            _check_keys(item, INPUT_KEYS, key + ".", path)
            kind = item.get("type")
            if kind not in INPUT_TYPES:
                raise JobSpecError(f"{key + '.type'!r} must be one of string, integer, number, boolean, uri_file, "
                                   f"uri_folder (got {kind!r})", key + ".type", path)
            if "path" not in item:
                raise JobSpecError(f"{key!r} needs a 'path'", key + ".path", path)
            mode = item.get("mode", DOWNLOAD)
            if mode not in MODES:
                raise JobSpecError(f"{key + '.mode'!r} must be download or ro_mount (got {mode!r})",
                                   key + ".mode", path)
            raw = _expect(item["path"], str, key + ".path", path, "a string")
            out[name] = InputSpec(name, type=kind, path=_resolve_input_path(raw, base), mode=mode)
        else:
            _expect(item, (str, int, float, bool), key, path, "a literal or a uri_file/uri_folder mapping")
            # undeclared: a number may become any number (seed: 0 takes 0.5), text stays text
            inferred = type_of_literal(item)
            out[name] = InputSpec(name, value=item, value_type="number" if inferred == "integer" else inferred)
    return out


def _parse_typed_literal(name: str, item: dict, path: str) -> InputSpec:
    """``{type: integer, default: 3}`` (Azure ML v2's literal inputs; ``value`` is accepted for ``default``)."""
    key = f"inputs.{name}"
    _check_keys(item, LITERAL_KEYS, key + ".", path)
    kind = item["type"]
    if "default" not in item and "value" not in item:
        raise JobSpecError(f"{key!r} needs a 'default' value of type {kind}", key + ".default", path)
    value = item.get("value", item.get("default"))
    if not isinstance(value, LITERAL_TYPES[kind]) or (isinstance(value, bool) and kind != "boolean"):
        hint = " (quote it: YAML reads unquoted 3.10, no or 0755 as other types)" if kind == "string" else ""
        raise JobSpecError(f"{key!r} is declared {kind} but its value {value!r} is a {type_of_literal(value)}"
                           f"{hint}", key, path)
    return InputSpec(name, value=float(value) if kind == "number" else value, value_type=kind)


def _resolve_input_path(raw: str, base: Path) -> str:
    if "://" in raw or raw.startswith(("dataset:", "azureml:")):
        return raw
    return str((base / raw).resolve())


def _parse_environment(value: Any, base: Path, path: str) -> Environment | None:
    if value is None:
        return None
    try:
        _expect(value, dict, "environment", path, "a registered name or a mapping")
        _check_keys(value, ENV_KEYS, "environment.", path)
        name = str(value.get("name") or "job-environment")
        if "conda_file" in value:
            env = Environment.from_conda_specification(name, base / str(value["conda_file"]))
        elif "requirements" in value:
            env = Environment.from_pip_requirements(name, base / str(value["requirements"]))
        elif "image" not in value:
            raise JobSpecError("'environment' needs conda_file, requirements or image", "environment", path)
        else:
            env = Environment(name)
        env.docker.base_image = value.get("image")
        return env
    except EnvironmentError_ as exc:
        raise JobSpecError(str(exc), "environment", path) from None


def parse_register_model(value: Any, path: str) -> dict:
    _expect(value, dict, "register_model", path, "a mapping")
    _check_keys(value, MODEL_KEYS, "register_model.", path)
    for key in ("name", "path"):
        if key not in value:
            raise JobSpecError(f"'register_model' needs {key!r}", f"register_model.{key}", path)
        _expect(value[key], str, f"register_model.{key}", path, "a string")
    return dict(value)


def validate_placeholders(spec: JobSpec) -> None:
    for name, item in spec.inputs.items():
        problem = check_value(name, str(item.value)) if item.is_literal else None
        if problem:
            raise JobSpecError(problem, f"inputs.{name}", spec.source)
    for m in PLACEHOLDER_RE.finditer(spec.command):
        ref = m.group(1).strip()
        kind, _, name = ref.partition(".")
        if kind != "inputs" or not name:
            raise JobSpecError(f"command uses ${{{{{ref}}}}}; only ${{{{inputs.NAME}}}} is supported",
                               "command", spec.source)
        if name not in spec.inputs:
            raise JobSpecError(f"command uses ${{{{inputs.{name}}}}} but there is no input {name!r} "
                               f"(inputs: {', '.join(spec.inputs) or 'none'}); add it under 'inputs'",
                               f"inputs.{name}", spec.source)
