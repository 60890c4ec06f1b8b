echo "$SERVICE: index 100 documents"
sleep 0.4
echo "$SERVICE: 5 passed"
