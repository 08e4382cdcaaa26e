"""SSH authentication against the real sshd: ssh-agent, default keys, IdentityFile from ~/.ssh/config,
passphrase-protected keys (asked on a terminal, else left to the agent)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import wait_until
from trainyard.errors import AuthError
from trainyard.transport import sshconfig
from trainyard.transport.ssh import NodeConfig, SSHNode

PASSPHRASE = "correct horse battery staple"


def authorized_key(ssh_env, path: Path, passphrase: str = "") -> Path:
    """A new ed25519 key pair at ``path`` whose public half the test servers accept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "auth-test", "-f", str(path)],
                   check=True)
    with open(ssh_env["base"] / "authorized_keys", "a") as fh:
        fh.write(Path(str(path) + ".pub").read_text())
    return path


def node(pool, **changes) -> SSHNode:
    cfg = {**pool["config"]["computes"]["pool"]["nodes"][0], **changes}
    return SSHNode(NodeConfig.from_dict({k: v for k, v in cfg.items() if v is not None}))


def agent_answers(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(sock))
            return True
        except OSError:
            return False


@pytest.fixture
def agent(tmp_path, monkeypatch):
    """A real ssh-agent on a socket in the test's tmp dir (SSH_AUTH_SOCK points at it)."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    wait_until(lambda: agent_answers(sock) or proc.poll() is not None, timeout=30, what="ssh-agent to listen")
    assert proc.poll() is None, f"ssh-agent exited with {proc.returncode}"
    monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
    yield sock
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait()


def ssh_add(key: Path, passphrase: str, tmp_path: Path) -> None:
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{passphrase}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    subprocess.run(["ssh-add", str(key)], check=True, env=env, stdin=subprocess.DEVNULL, capture_output=True)


def test_default_key_in_home(pool, ssh_env, tmp_path, monkeypatch):
    """With nothing configured and no agent, ~/.ssh/id_ed25519 logs in."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    authorized_key(ssh_env, tmp_path / "home" / ".ssh" / "id_ed25519")
    assert node(pool, identity_file=None).call("info", {})["python"]


def test_agent_holds_the_key(pool, ssh_env, tmp_path, agent):
    """With no identity file and no default key, the agent's key logs in."""
    key = authorized_key(ssh_env, tmp_path / "keys" / "agent_only")
    ssh_add(key, "", tmp_path)
    key.unlink()
    assert node(pool, identity_file=None).call("info", {})["python"]


def test_identity_file_from_ssh_config(pool, ssh_env, tmp_path, monkeypatch):
    """IdentityFile in ~/.ssh/config is used when the workspace config names no key."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = authorized_key(ssh_env, tmp_path / "keys" / "from_config")
    (tmp_path / "home" / ".ssh").mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / ".ssh" / "config").write_text(f"Host 127.0.0.1\n  IdentityFile {key}\n")
    assert node(pool, identity_file=None).call("info", {})["python"]


def test_passphrase_key_without_terminal_or_agent_says_what_to_do(pool, ssh_env, tmp_path, monkeypatch):
    """A passphrase key with no terminal and no agent is an AuthError saying to ssh-add it."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setattr(sshconfig, "PASSPHRASE_PROMPT", None)
    key = authorized_key(ssh_env, tmp_path / "keys" / "locked", PASSPHRASE)
    with pytest.raises(AuthError, match=f"ssh-add {key}"):
        node(pool, identity_file=str(key)).call("info", {})


def test_passphrase_key_asked_on_terminal(pool, ssh_env, tmp_path, monkeypatch):
    """A passphrase key is unlocked by the prompt the CLI installs on a terminal."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    asked = []
    monkeypatch.setattr(sshconfig, "PASSPHRASE_PROMPT", lambda path: asked.append(path) or PASSPHRASE)
    key = authorized_key(ssh_env, tmp_path / "keys" / "locked", PASSPHRASE)
    assert node(pool, identity_file=str(key)).call("info", {})["python"]
    assert asked == [str(key)]


def test_passphrase_key_through_the_agent(pool, ssh_env, tmp_path, agent, monkeypatch):
    """Without a terminal, a passphrase key loaded into ssh-agent logs in."""
    monkeypatch.setattr(sshconfig, "PASSPHRASE_PROMPT", None)
    key = authorized_key(ssh_env, tmp_path / "keys" / "locked", PASSPHRASE)
    ssh_add(key, PASSPHRASE, tmp_path)
    assert node(pool, identity_file=str(key)).call("info", {})["python"]


def test_cli_asks_for_the_passphrase_on_a_terminal(pool, ssh_env, tmp_path, monkeypatch):
    """`trainyard compute status` on a terminal prompts for the key's passphrase and connects."""
    from tests.conftest import run_on_terminal

    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = authorized_key(ssh_env, tmp_path / "keys" / "locked", PASSPHRASE)
    config = pool["config"]
    config["computes"]["pool"]["nodes"] = [{**config["computes"]["pool"]["nodes"][0], "identity_file": str(key)}]
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(config))
    code, text = run_on_terminal("compute", "status", "pool", cwd=tmp_path, prompt=b"passphrase", reply=PASSPHRASE)
    assert code == 0 and "passphrase for" in text and "yes" in text.split("n1", 1)[1], text
