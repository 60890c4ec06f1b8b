echo "$SERVICE: phrase and prefix queries"
sleep 0.2
echo "$SERVICE: 7 passed"
