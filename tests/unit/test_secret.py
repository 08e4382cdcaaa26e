"""Secrets: credential files by name and common secrets by content stay out of snapshots; old blobs are found."""

from __future__ import annotations

import json

import pytest

from tests.conftest import write
from trainers.objects import ObjectStore
from trainyard.secret import find_secret, find_secret_blobs, is_secret_name
from trainyard.snapshot import take_snapshot

AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"
CREDENTIAL_FILES = {
    ".aws/credentials": "[default]\naws_secret_access_key = x\n",
    ".aws/config": "[default]\nregion = eu-west-1\n",
    ".docker/config.json": '{"auths": {"r": {"auth": "eDp5"}}}',
    ".npmrc": "registry=https://r\n",
    ".git-credentials": "https://u:p@github.com\n",
    ".kube/config": "apiVersion: v1\n",
    "deploy/kubeconfig": "apiVersion: v1\n",
    "certs/client.p12": "x",
    "certs/client.pfx": "x",
}
CONTENT = {
    "sa.json": json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIV", "client_email": "a@b"}),
    "settings.py": f"AWS_ACCESS_KEY_ID = '{AWS_KEY}'\n",
    "notes.txt": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
    "ci.yml": "token: ghp_" + "a" * 36 + "\n",
}


def test_credential_files_and_secret_contents_are_left_out_with_a_warning(tmp_path):
    """Each credential file (by name) and each file holding a secret (by content) is left out, with a warning."""
    src = tmp_path / "src"
    for rel, text in {**CREDENTIAL_FILES, **CONTENT}.items():
        write(src / rel, text)
    write(src / "train.py", "print('AKIA is a prefix, not a key')\n")
    snap = take_snapshot(src, ObjectStore(tmp_path / "o"))
    assert [f.path for f in snap.files] == ["train.py"]
    assert len(snap.warnings) == len(CREDENTIAL_FILES) + len(CONTENT)
    assert all("looks like a secret" in w for w in snap.warnings)


@pytest.mark.parametrize("data", [b"x = 1\n", b"AKIAshort", b'{"type": "service_account"}', b"BEGIN PUBLIC KEY"])
def test_ordinary_content_is_not_a_secret(data):
    """No false alarm on ordinary text, a too-short key prefix, or a service-account JSON without a key."""
    assert find_secret(data) is None


def test_names_match_in_any_folder():
    """Credential file names match wherever they sit; ordinary names do not."""
    assert is_secret_name("a/b/.aws/credentials") and is_secret_name("x/.env.local")
    assert not is_secret_name("aws/credentials.py") and not is_secret_name("config.json")


def test_blobs_stored_before_the_rules_are_found(tmp_path):
    """Secret blobs already in a store are found by the name they were snapshotted under or by content."""
    store = ObjectStore(tmp_path / "objects")
    npmrc, _ = store.add_bytes(b"registry=https://r\n")
    key, _ = store.add_bytes(f"KEY={AWS_KEY}\n".encode())
    plain, _ = store.add_bytes(b"print('hi')\n")
    write(tmp_path / "experiments" / "e" / "runs" / "e_1_aa" / "snapshot.json",
          json.dumps({"files": [{"path": ".npmrc", "oid": npmrc}, {"path": "train.py", "oid": plain}]}))
    found = dict(find_secret_blobs(tmp_path))
    assert set(found) == {npmrc, key} and "credential file" in found[npmrc] and "AWS" in found[key]
