# job.sh NAME SECONDS pass|fail: stands in for a build or test step.
echo "$1: working on worker $PTEST_WORKER"
sleep "$2"
if [ "$3" = fail ]; then
  echo "$1: failed on purpose (--set fail=$1)" >&2
  exit 1
fi
echo "$1: ok"
