#!/usr/bin/env bash
# scripts/tick.sh LABEL COMMAND...: run COMMAND; when standard output is not a terminal (CI,
# a log file), also print "LABEL: still running, N s" every 8 seconds until it ends, so a long
# quiet step is never a silent minute. COMMAND runs in the foreground (its stdin and Ctrl-C
# are its own); exits with its status.
set -u
label=$1
shift
[[ -t 1 ]] && exec "$@"
(
    start=$SECONDS
    while sleep 8 >/dev/null 2>&1; do echo "$label: still running, $((SECONDS - start)) s"; done
) &
ticker=$!
"$@"
status=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null
exit "$status"
