#!/usr/bin/env bash
# Smoke test of the benchmark tool: starts parleyd on a free port with a temporary data
# directory, runs `parley-bench pairs` for about two seconds with a few pairs, and checks that
# messages were delivered with no errors, none lost. Meant for ctest:
#   bash bench/smoke_test.sh PATH/TO/parleyd PATH/TO/parley-bench
# (or set PARLEYD and PARLEY_BENCH). Exit 0 = pass.
set -euo pipefail

PARLEYD=${1:-${PARLEYD:-build/release/broker/app/parleyd}}
BENCH=${2:-${PARLEY_BENCH:-build/release/bench/parley-bench}}
[[ -x $PARLEYD ]] || { echo "smoke: parleyd not found at $PARLEYD" >&2; exit 1; }
[[ -x $BENCH ]] || { echo "smoke: parley-bench not found at $BENCH" >&2; exit 1; }

DIR=$(mktemp -d /tmp/parley-bench-smoke.XXXXXX)
PID=
cleanup() {
  if [[ -n $PID ]]; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

"$PARLEYD" --bind 127.0.0.1 --port 0 --data-dir "$DIR/data" --port-file "$DIR/port" \
  >"$DIR/parleyd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  [[ -s $DIR/port ]] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -s $DIR/port ]]; then
  echo "smoke: parleyd did not start:" >&2
  cat "$DIR/parleyd.log" >&2
  exit 1
fi
PORT=$(<"$DIR/port")

status=0
json=$(timeout 60 "$BENCH" pairs --port "$PORT" --pairs 4 --duration 2 --drain 5 \
  --broker-pid "$PID" --label smoke) || status=$?
echo "$json"

field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" <<<"$json"; }
delivered=$(field delivered)
errors=$(field errors)
lost=$(field lost)
if [[ $status -ne 0 || -z $delivered || $delivered -le 0 || $errors != 0 || $lost != 0 ]]; then
  echo "smoke: FAILED (exit $status, delivered=${delivered:-?} errors=${errors:-?} lost=${lost:-?})" >&2
  tail -n 20 "$DIR/parleyd.log" >&2
  exit 1
fi
echo "smoke: ok, $delivered messages delivered"
