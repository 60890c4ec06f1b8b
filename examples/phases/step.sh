# step.sh WHAT SECONDS: stands in for a real test; says where it runs, then takes its time.
echo "[$PTEST_PHASE] $PTEST_SUITE on worker $PTEST_WORKER of $PTEST_WORKERS: $1"
sleep "$2"
echo "[$PTEST_PHASE] $PTEST_SUITE: ok"
