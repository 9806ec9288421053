"""Keeps a Python that the runtime's tests start offline: every connection beyond
127.0.0.1 is refused (a download test serves its files on the loopback interface).
clean_env() in test_nb2svc_runtime.py puts this folder first on PYTHONPATH."""

import ipaddress
import socket

_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"the runtime's tests are offline: refused {address!r}")
    return _connect(self, address)


socket.socket.connect = _loopback_only
