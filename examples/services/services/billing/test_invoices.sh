echo "$SERVICE: issue and void an invoice"
sleep 0.3
echo "$SERVICE: 6 passed"
