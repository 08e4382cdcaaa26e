"""Node pools as a structured list in stack config (``trainyard:pools``), so a third pool (high memory,
another GPU type) is configuration, not code:

```yaml
trainyard:pools:
  - {name: cpu-pool, count: 2, size: Standard_D2s_v3}
  - {name: gpu-pool, count: 1, hosts: ["ssh://ops@gpu-box"], size: Standard_NC4as_T4_v3}
  - {name: highmem, count: 1, limits: {cpus: 8, memoryMb: 65536}}
```

Keys: ``name`` (the compute's name), ``count`` (1), ``hosts`` (Docker hosts, nodes round-robin; default
``[dockerHost]``), ``size`` (the size table) or ``limits`` (``{cpus, memoryMb, gpus}``), ``gpus`` per node
(overrides the size's), ``baseImage`` (default the CPU or GPU base image). Pulumi.yaml cannot declare an
object-typed key (pulumi/pulumi#11321), so ``pools`` is read from the stack config undeclared. Without it,
the ``cpuPool*``/``gpuPool*`` keys describe the two classic pools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .sizes import NodeSize, resolve_size

if TYPE_CHECKING:
    from .settings import Settings

POOL_KEYS = {"name", "count", "hosts", "size", "limits", "gpus", "baseImage"}
LIMIT_KEYS = {"cpus", "memoryMb", "gpus"}
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
LEGACY_KEYS = {"cpuPoolSize", "gpuPoolSize", "cpuPoolHosts", "gpuPoolHosts", "cpuNodeSize", "gpuNodeSize",
               "gpusPerNode"}


class PoolConfigError(ValueError):
    """A pool entry is invalid (settings turn it into InfraConfigError)."""


@dataclass(frozen=True)
class PoolSpec:
    name: str
    count: int
    hosts: tuple[str, ...]
    limits: NodeSize
    base_image: str
    image: str  # name in the workspace registry

    @property
    def gpus(self) -> int:
        return self.limits.gpus


def parse_pools(settings: Settings) -> list[PoolSpec]:
    """The pools of a stack: ``settings.pools`` when given, else the classic cpu-pool and gpu-pool."""
    if not settings.pools:
        return [_legacy(settings, "cpu"), _legacy(settings, "gpu")]
    if not isinstance(settings.pools, list):
        raise PoolConfigError("trainyard:pools must be a list of pools ({name, count, size|limits, ...})")
    pools = [_parse_pool(settings, i, entry) for i, entry in enumerate(settings.pools)]
    names = [p.name for p in pools]
    if len(set(names)) != len(names):
        raise PoolConfigError(f"trainyard:pools names must be unique; got {', '.join(names)}")
    return pools


def _legacy(settings: Settings, kind: str) -> PoolSpec:
    cpu = kind == "cpu"
    size = resolve_size(settings.cpuNodeSize if cpu else settings.gpuNodeSize)
    limits = size if cpu else NodeSize(size.cpus, size.memory_mb, settings.gpusPerNode or size.gpus)
    hosts = (settings.cpuPoolHosts if cpu else settings.gpuPoolHosts) or [settings.dockerHost]
    return PoolSpec(f"{kind}-pool", settings.cpuPoolSize if cpu else settings.gpuPoolSize, tuple(hosts), limits,
                    settings.cpuBaseImage if cpu else settings.gpuBaseImage,
                    settings.nodeImage + ("" if cpu else "-gpu"))


def _parse_pool(settings: Settings, index: int, entry: Any) -> PoolSpec:
    where = f"trainyard:pools[{index}]"
    if not isinstance(entry, dict):
        raise PoolConfigError(f"{where} must be a mapping with name, count and size or limits")
    unknown = sorted(set(entry) - POOL_KEYS)
    if unknown:
        raise PoolConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(POOL_KEYS))}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise PoolConfigError(f"{where}.name must be lower-case letters, digits and '-' (got {name!r})")
    where = f"trainyard:pools[{name}]"
    count = entry.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise PoolConfigError(f"{where}.count must be an integer, 0 or more (got {count!r})")
    hosts = entry.get("hosts") or [settings.dockerHost]
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise PoolConfigError(f"{where}.hosts must be a list of Docker hosts")
    if "size" in entry and "limits" in entry:
        raise PoolConfigError(f"{where}: give size or limits, not both")
    if "limits" in entry:
        limits = entry["limits"]
        if not isinstance(limits, dict) or set(limits) - LIMIT_KEYS:
            raise PoolConfigError(f"{where}.limits must be {{cpus, memoryMb, gpus}}")
        size = NodeSize(float(limits.get("cpus", 1)), int(limits.get("memoryMb", 1024)), int(limits.get("gpus", 0)))
    else:
        size = resolve_size(str(entry.get("size", settings.cpuNodeSize)))
    gpus = entry.get("gpus", size.gpus)
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise PoolConfigError(f"{where}.gpus must be an integer, 0 or more (got {gpus!r})")
    if size.cpus <= 0 or size.memory_mb <= 0:
        raise PoolConfigError(f"{where}.limits must have positive cpus and memoryMb")
    default_base = settings.gpuBaseImage if gpus else settings.cpuBaseImage
    base = entry.get("baseImage", default_base)
    image = settings.nodeImage + ("-gpu" if gpus else "") if base == default_base else f"{settings.nodeImage}-{name}"
    return PoolSpec(name, count, tuple(hosts), NodeSize(size.cpus, size.memory_mb, gpus), base, image)
