echo "$SERVICE: issue and void an invoice"
"${PYTHON:-python3}" -c 'import os, urllib.request; urllib.request.urlopen(os.environ["SERVICE_URL"] + "/", timeout=10).read()'
sleep 0.3
echo "$SERVICE: 6 passed"
