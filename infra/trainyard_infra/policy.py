"""Policy rules over resources as Pulumi sees them (type token, camelCase inputs, options).

Each rule returns a list of violations (empty = compliant). They are plain functions so tests can run
them over mocked resources; a CrossGuard pack would call the same functions from its
``ResourceValidationPolicy.validate`` (packs need the Pulumi CLI, which these machines cannot download).
"""

from __future__ import annotations

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"


def _labels(props: dict) -> dict[str, str]:
    return {item["label"]: item["value"] for item in props.get("labels") or []}


def ssh_not_open_to_world(resource_type: str, name: str, props: dict, allow_public: bool = False) -> list[str]:
    """No published port may listen on all interfaces unless the stack says so."""
    if resource_type != CONTAINER or allow_public:
        return []
    return [f"{name}: port {p.get('internal')} published on {p.get('ip') or '0.0.0.0'} (every interface); "
            "set trainyard:bindAddress to a private address"
            for p in props.get("ports") or [] if (p.get("ip") or "0.0.0.0") in ("0.0.0.0", "::")]


def gpu_nodes_request_gpus(resource_type: str, name: str, props: dict) -> list[str]:
    """GPU-pool containers request GPUs; CPU-pool containers do not."""
    if resource_type != CONTAINER or "trainyard.gpu" not in _labels(props):
        return []
    is_gpu = _labels(props)["trainyard.gpu"] == "true"
    requests = props.get("deviceRequests") or []
    if is_gpu and not any("gpu" in (r.get("capabilities") or []) for r in requests):
        return [f"{name}: a GPU-pool node without a GPU device request"]
    if not is_gpu and requests:
        return [f"{name}: a CPU-pool node requests devices"]
    return []


def storage_protected(resource_type: str, name: str, props: dict, protect: bool, retain_on_delete: bool) -> list[str]:
    """The storage volume is protected and retained on delete."""
    if resource_type != VOLUME or _labels(props).get("trainyard.role") != "storage":
        return []
    return [] if protect and retain_on_delete else [f"{name}: storage volume must be protected and retained"]
