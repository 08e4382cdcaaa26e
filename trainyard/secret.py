"""Secrets that must never reach a node or the store: credential files by name, and common secrets by content.

``is_secret_name(rel)`` matches credential files wherever they sit in a source tree (``.env``, keys and
certificates, ``.aws/credentials``, ``.docker/config.json``, ``.npmrc``, kubeconfigs …);
``find_secret(data)`` names the kind of secret found in a file's bytes (private key blocks, cloud access
keys, a GCP service-account JSON, tokens), or None. The snapshot leaves such files out with a warning;
``find_secret_blobs`` finds blobs that were stored before a rule existed, for ``trainyard check --repair``
(and ``gc``) to purge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pathspec

SECRET_NAMES = [".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "id_rsa", "id_dsa",
                "id_ecdsa", "id_ed25519", ".netrc", "_netrc", ".pypirc", ".git-credentials", ".npmrc", ".pgpass",
                "**/.aws/credentials", "**/.aws/config", "**/.docker/config.json", "**/.kube/config", "kubeconfig",
                "*.kubeconfig", "**/.config/gcloud/**"]
SCAN_BYTES = 256 * 1024  # content checks read at most this much of each file
CONTENT_RULES = [
    ("a private key", re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")),
    ("an AWS access key", re.compile(rb"(?<![A-Z0-9])(AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(rb"\b(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b")),
    ("a Slack token", re.compile(rb"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("an npm token", re.compile(rb"_authToken\s*=\s*\S{8,}")),
    ("a kubeconfig client key", re.compile(rb"client-key-data:\s*\S{16,}")),
]
SERVICE_ACCOUNT = re.compile(rb'"type"\s*:\s*"service_account"')

_NAMES = pathspec.GitIgnoreSpec.from_lines(SECRET_NAMES)


def is_secret_name(rel: str) -> bool:
    """Whether the relative path ``rel`` names a credential file (pure)."""
    return _NAMES.match_file(rel)


def find_secret(data: bytes) -> str | None:
    """The kind of secret in ``data`` (the start of a file), or None (pure)."""
    for kind, pattern in CONTENT_RULES:
        if pattern.search(data):
            return kind
    if SERVICE_ACCOUNT.search(data) and b'"private_key"' in data:
        return "a GCP service-account key"
    return None


def scan_file(path: str | Path) -> str | None:
    """``find_secret`` over the first SCAN_BYTES of the file at ``path`` (None if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return find_secret(fh.read(SCAN_BYTES))
    except OSError:
        return None


def find_secret_blobs(root: Path) -> Iterator[tuple[str, str]]:
    """(oid, why) of blobs in a workspace store at ``root`` that hold secrets: named as credential files in
    some run's snapshot, or secret by content."""
    named = {}
    for snap in sorted(root.glob("experiments/*/runs/*/snapshot.json")):
        try:
            files = json.loads(snap.read_bytes()).get("files", [])
        except (OSError, ValueError, AttributeError):
            continue
        for entry in files if isinstance(files, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str) and is_secret_name(entry["path"]):
                named.setdefault(str(entry.get("oid")), f"stored as {entry['path']}, a credential file")
    for blob in sorted((root / "objects").glob("??/*")):
        oid = blob.parent.name + blob.name
        if not blob.is_file() or blob.name.startswith("."):
            continue
        why = named.get(oid) or (f"contains {kind}" if (kind := scan_file(blob)) else None)
        if why:
            yield oid, why


PURGED = ".purged-secrets"  # oids removed as secrets; snapshots naming them are not reported as broken


def record_purged(root: Path, oid: str) -> None:
    """Remember that the blob ``oid`` of the store at ``root`` was removed as a secret."""
    with open(Path(root) / "objects" / PURGED, "a") as fh:
        fh.write(oid + "\n")


def purged_oids(root: Path) -> set[str]:
    try:
        return set((Path(root) / "objects" / PURGED).read_text().split())
    except OSError:
        return set()
