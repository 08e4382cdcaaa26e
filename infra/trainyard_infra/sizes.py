"""Node sizes people know from Azure ML, mapped to Docker limits (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeSize:
    cpus: float
    memory_mb: int
    gpus: int = 0
    note: str = ""


# Azure sizes the v1 samples and current docs use. NC (K80) was retired in 2022 and NCv3 in 2025; they stay
# here so old stack files keep meaning something, with the current equivalent in the note.
SIZES: dict[str, NodeSize] = {
    "STANDARD_D2_V2": NodeSize(2, 7 * 1024),
    "STANDARD_D3_V2": NodeSize(4, 14 * 1024),
    "STANDARD_D4_V2": NodeSize(8, 28 * 1024),
    "STANDARD_D2S_V3": NodeSize(2, 8 * 1024),
    "STANDARD_D4S_V3": NodeSize(4, 16 * 1024),
    "STANDARD_D8S_V3": NodeSize(8, 32 * 1024),
    "STANDARD_NC4AS_T4_V3": NodeSize(4, 28 * 1024, 1),
    "STANDARD_NC8AS_T4_V3": NodeSize(8, 56 * 1024, 1),
    "STANDARD_NC16AS_T4_V3": NodeSize(16, 110 * 1024, 1),
    "STANDARD_NC64AS_T4_V3": NodeSize(64, 440 * 1024, 4),
    "STANDARD_NC6": NodeSize(6, 56 * 1024, 1, "retired in 2022; use Standard_NC4as_T4_v3"),
    "STANDARD_NC6S_V3": NodeSize(6, 112 * 1024, 1, "retired in 2025; use Standard_NC4as_T4_v3"),
}


def resolve_size(name: str) -> NodeSize:
    """The limits for a size name (case-insensitive); ValueError listing the known names otherwise."""
    try:
        return SIZES[name.upper()]
    except KeyError:
        raise ValueError(f"unknown node size {name!r}; known sizes: {', '.join(sorted(SIZES))}, or set "
                         "explicit cpus/memoryMb/gpus limits instead") from None
