echo "$SERVICE: index 100 documents"
"${PYTHON:-python3}" -c 'import os, urllib.request; urllib.request.urlopen(os.environ["SERVICE_URL"] + "/", timeout=10).read()'
sleep 0.4
echo "$SERVICE: 5 passed"
