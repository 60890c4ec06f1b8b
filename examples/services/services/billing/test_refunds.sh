echo "$SERVICE: partial refund of a paid invoice"
sleep 0.2
echo "$SERVICE: 2 passed"
