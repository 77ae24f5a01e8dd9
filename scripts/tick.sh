#!/usr/bin/env bash
# scripts/tick.sh LABEL COMMAND...: run COMMAND; when standard output is not a terminal (CI,
# a log file), also print "LABEL: still running, N s" every 8 seconds until it ends, so a long
# quiet step is never a silent minute. Exits with COMMAND's status.
set -u
label=$1
shift
[[ -t 1 ]] && exec "$@"
"$@" &
pid=$!
(
    start=$SECONDS
    while sleep 8; do echo "$label: still running, $((SECONDS - start)) s"; done
) &
ticker=$!
trap 'kill "$pid" "$ticker" 2>/dev/null' INT TERM
wait "$pid"
status=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null
exit "$status"
