#!/usr/bin/env bash
# A shell test that calls the API $REQUESTS times, sharing ptest's limiter through
# `ptest acquire`. Exits 75 on a 429 so the retry policy can retry it.
set -eu
port=$(cat "$API_PORT_FILE")
for i in $(seq "${REQUESTS:-8}"); do
  if [ "${USE_LIMITER:-on}" = on ]; then
    ptest acquire api
  fi
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /balance HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  status=$(head -n 1 <&3 | cut -d' ' -f2)
  exec 3<&-
  if [ "$status" = 429 ]; then
    echo "request $i: 429 Too Many Requests"
    exit 75
  fi
  echo "request $i: $status"
done
