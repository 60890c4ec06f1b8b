"""A minimal Redis client over a socket (RESP, no library needed), given to every test as the
`redis` fixture, connected to the server ptest started for this worker (REDIS_URL)."""
import os
import socket
from urllib.parse import urlparse

import pytest


class Redis:
    def __init__(self, url):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        self.file = self.sock.makefile("rb")
        db = (u.path or "/0").lstrip("/") or "0"
        self.call("SELECT", db)

    def call(self, *args):
        parts = [str(a).encode() for a in args]
        wire = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self.sock.sendall(wire)
        return self._reply()

    def _reply(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode()
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise RuntimeError("unexpected reply %r" % line)

    def close(self):
        self.sock.close()


@pytest.fixture
def redis():
    client = Redis(os.environ["REDIS_URL"])
    yield client
    client.close()


@pytest.fixture
def worker():
    return os.environ["PTEST_WORKER"]
