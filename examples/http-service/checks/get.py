"""GET a path of the server ptest started (BASE_URL) and check that the answer holds a text
(or, for a number like 404, that the status is that number)."""
import os
import sys
import urllib.error
import urllib.request

path, expect = sys.argv[1], sys.argv[2]
url = os.environ["BASE_URL"] + path
try:
    with urllib.request.urlopen(url, timeout=10) as r:
        status, body = r.status, r.read().decode()
except urllib.error.HTTPError as e:
    status, body = e.code, ""
print("GET %s -> %d" % (url, status))
if expect.isdigit():
    ok = status == int(expect)
else:
    ok = status == 200 and expect in body
sys.exit(0 if ok else 1)
