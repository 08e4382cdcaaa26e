"""Errors raised by Trainyard. Library code raises; only the CLI turns them into messages.

    TrainyardError                (v1: AzureMLException)
    ├── WorkspaceError            config missing or invalid
    │   └── ComputeTargetException  no compute of that name; provisioning failed (Azure ML v1 name)
    ├── UserErrorException        v1's family for a caller's mistake; what v1 code catches
    │   ├── JobSpecError          job.yml / ScriptRunConfig invalid (carries ``key``)
    │   ├── EnvironmentError_     environment spec invalid, unknown name, build failed
    │   └── DatasetError          unknown dataset, bad source, malformed table (file and line)
    ├── SnapshotError             source directory over a limit, unreadable
    ├── TransportError            talking to a node failed
    │   ├── ConnectError          (issue: SSH pools)
    │   ├── AuthError
    │   ├── HostKeyError
    │   ├── CommandError          a command on the node failed: argv, exit code, stderr tail
    │   ├── NodeStepError         the node helper refused a step (verb, node, message), on any node type
    │   └── TransferError
    ├── RunError                  run failed / not found / bad state (carries ``run_id``)
    │   └── ActivityFailedException  wait_for_completion(raise_on_error=True) on a failed run
    ├── RegistryError             model registry: unknown model, bad name, missing files
    ├── StoreError                a record of the workspace store is unreadable (carries ``path``)
    ├── QueryError                dashboard: a runs filter or sort it cannot parse
    ├── PortError                 `trainyard port`: unreadable file or notebook
    ├── TemplateError             scaffolder: unknown template, bad variable, target not empty
    └── WebserviceException       web service: deploy, reach, change (Azure ML v1 name)
"""

from __future__ import annotations


class TrainyardError(Exception):
    """Base class: every error Trainyard raises on purpose derives from it."""


class WorkspaceError(TrainyardError):
    pass


class ComputeTargetException(WorkspaceError):
    pass


class UserErrorException(TrainyardError):
    """A mistake of the caller (v1 name): v1 code catches this around lookups such as get_by_name."""


class JobSpecError(UserErrorException):
    def __init__(self, message: str, key: str | None = None, path: str | None = None):
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{message}")
        self.key = key
        self.path = path


class SnapshotError(TrainyardError):
    pass


class EnvironmentError_(UserErrorException):
    pass


class TransportError(TrainyardError):
    pass


class ConnectError(TransportError):
    pass


class AuthError(TransportError):
    pass


class HostKeyError(TransportError):
    pass


class CommandError(TransportError):
    def __init__(self, argv: list[str], exit_code: int, stderr: str):
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        super().__init__(f"command {' '.join(argv)!r} exited with {exit_code}: {tail}")
        self.argv = argv
        self.exit_code = exit_code
        self.stderr = stderr


class NodeStepError(TransportError):
    def __init__(self, node: str, verb: str, message: str, kind: str | None = None):
        super().__init__(f"{node}: step {verb!r} failed: {message}")
        self.node = node
        self.verb = verb
        self.kind = kind  # the node-side error class, e.g. "NodeError", "CorruptObjectError"


class TransferError(TransportError):
    pass


class RunError(TrainyardError):
    def __init__(self, message: str, run_id: str | None = None):
        super().__init__(message)
        self.run_id = run_id


class ActivityFailedException(RunError):
    def __init__(self, message: str, run_id: str | None = None, exit_code: int | None = None):
        super().__init__(message, run_id)
        self.exit_code = exit_code


class RegistryError(TrainyardError):
    pass


class DatasetError(UserErrorException):
    pass


class PortError(TrainyardError):
    pass


class QueryError(TrainyardError):
    pass
class StoreError(TrainyardError):
    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class UnreadableRecordWarning(UserWarning):
    """A listing skipped a record it could not read (the CLI prints these as warnings)."""


_OS_HINTS = {28: "free disk space there and try again", 30: "the file system is read-only; point the "
             "workspace at a writable directory", 13: "check the permissions of that path",
             1: "check the permissions of that path", 122: "the disk quota is exceeded; free space"}


def describe_os_error(exc: OSError) -> str:
    """One line for an I/O error: what failed on which path, and what to do (pure)."""
    path = f" {exc.filename}" if exc.filename else ""
    hint = _OS_HINTS.get(exc.errno or 0, "check that path")
    return f"I/O error on{path}: {exc.strerror or exc}; {hint}"


class TemplateError(TrainyardError):
    pass


class WebserviceException(TrainyardError):
    """A web service could not be deployed, reached or changed (v1's name)."""
