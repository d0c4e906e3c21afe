"""rawhttp.py - one HTTP exchange as raw bytes, for requests http.client will not send.

The integration scripts use it for malformed framing, odd request targets
and bodies that disagree with their headers (lib.sh puts tests/ on
PYTHONPATH).
"""
import socket


def read_all(host, port, data, timeout=10):
    """Send data as is (raising on a reset), read until the server closes:
    every byte of the answer."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(data)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out


def exchange(host, port, data, timeout=10):
    """read_all(), split: (status, body bytes)."""
    head, _, body = read_all(host, port, data, timeout).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
