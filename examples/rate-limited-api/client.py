"""A Python test that calls the API REQUESTS times, sharing ptest's limiter through the
coordinator socket (PTEST_SOCKET) directly. Exits 75 on a 429 so the retry policy can retry it."""

import os
import socket
import sys
import urllib.error
import urllib.request


def ptest_send(line):
    """One line to ptest's coordinator, one line back ("ok" or "err ...")."""
    path = os.environ.get("PTEST_SOCKET")
    if not path:
        return "ok"
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall((line + "\n").encode())
        return s.makefile().readline().strip()


def main():
    port = open(os.environ["API_PORT_FILE"]).read().strip()
    use_limiter = os.environ.get("USE_LIMITER", "on") == "on"
    for i in range(int(os.environ.get("REQUESTS", "8"))):
        if use_limiter:
            reply = ptest_send("acquire api")
            assert reply == "ok", reply
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/balance") as r:
                r.read()
        except urllib.error.HTTPError as e:
            if e.code != 429:
                raise
            # Tell ptest: with Retry-After, nobody gets a token until it has passed.
            ptest_send(f"throttled api {e.headers.get('Retry-After', '1')}")
            print(f"request {i + 1}: 429 Too Many Requests")
            sys.exit(75)
        print(f"request {i + 1}: 200")


if __name__ == "__main__":
    main()
