"""A small HTTP API on 127.0.0.1 that allows RATE requests per second (burst BURST) across all
clients and answers 429 with a Retry-After when called faster. Writes its port to PORT_FILE."""

import http.server
import os
import signal
import sys
import threading
import time

RATE = float(os.environ.get("API_RATE", "20"))
BURST = float(os.environ.get("API_BURST", "10"))


class Bucket:
    def __init__(self):
        self.tokens = BURST
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            now = time.monotonic()
            self.tokens = min(BURST, self.tokens + (now - self.last) * RATE)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


BUCKET = Bucket()
COUNTS = {"ok": 0, "429": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if BUCKET.take():
            COUNTS["ok"] += 1
            body = b'{"balance": 42}\n'
            self.send_response(200)
        else:
            COUNTS["429"] += 1
            body = b"Too Many Requests\n"
            self.send_response(429)
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    print(f"api listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    # Bounded life: the teardown phase stops it, and it never outlives a forgotten run by long.
    timer = threading.Timer(float(os.environ.get("API_LIFETIME", "300")), server.shutdown)
    timer.daemon = True
    timer.start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    print(f"api served {COUNTS['ok']} requests and refused {COUNTS['429']}", flush=True)


if __name__ == "__main__":
    main()
