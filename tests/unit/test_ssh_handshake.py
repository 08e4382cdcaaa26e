"""A peer that accepts TCP but never completes the SSH handshake gets one message, whichever way paramiko
gives up (it either returns with no session or raises "Error reading SSH protocol banner", by timing)."""

from __future__ import annotations

import socket

import paramiko
import pytest

from trainyard.errors import ConnectError
from trainyard.transport.ssh import _open_transport


@pytest.mark.parametrize("gives_up", ["silently", "banner"])
def test_no_handshake_is_one_message_whichever_way_paramiko_gives_up(monkeypatch, gives_up):
    def start_client(self, event=None, timeout=None):
        if gives_up == "banner":  # as paramiko's banner read does when its timeout passes
            try:
                raise TimeoutError()
            except TimeoutError:
                raise paramiko.SSHException("Error reading SSH protocol banner") from None

    monkeypatch.setattr(paramiko.Transport, "start_client", start_client)
    ours, _peer = socket.socketpair()
    with pytest.raises(ConnectError, match="completed no SSH handshake within 1 s"):
        _open_transport("10.0.0.9", 22, 1.0, ours)


def test_a_peer_that_closes_at_once_is_said_in_one_line():
    """Real paramiko against a peer that hangs up before its banner: a ConnectError saying it could not
    connect (not that the host hung), never a raw SSHException."""
    ours, peer = socket.socketpair()
    peer.close()
    with pytest.raises(ConnectError, match="cannot connect to 10.0.0.9:22") as raised:
        _open_transport("10.0.0.9", 22, 1.0, ours)
    assert "hung" not in str(raised.value)


def test_a_silent_peer_times_out_as_no_handshake():
    """Real paramiko against a peer that never speaks: "no SSH handshake within 1 s"."""
    ours, _peer = socket.socketpair()
    with pytest.raises(ConnectError, match="completed no SSH handshake within 1 s"):
        _open_transport("10.0.0.9", 22, 1.0, ours)
