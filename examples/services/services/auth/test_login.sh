echo "$SERVICE: POST /login with a good password"
sleep 0.3
echo "$SERVICE: 4 passed"
