# step.sh SECONDS WHAT...: say what runs where (which shard, which worker), then sleep.
secs=$1
shift
for what in "$@"; do
  echo "$what on shard ${PTEST_SHARD:-(none)}, worker ${PTEST_WORKER:-?}"
done
sleep "$secs"
