#!/usr/bin/env bash
# Runs parley-bench's scenarios against parleyd and its peers — Mosquitto, NATS server in MQTT
# mode and (when FLASHMQ_BIN points to a binary) FlashMQ — one broker at a time on this machine,
# each with a fresh temporary data directory, bound to 127.0.0.1 only. Repeats everything
# BENCH_REPS times, alternating the broker order between repetitions, and prints a markdown
# table: median, spread (min–max) and the parley/peer ratio of each scenario's figures.
#
# Usage: bash bench/compare.sh            (see bench/README.md for the knobs below)
#   BENCH_REPS=3  BENCH_DURATION=5  BENCH_SCENARIOS="pairs durable latency fanin fanout group idle catchup storm"
#   BENCH_BROKERS="parleyd mosquitto nats flashmq"  BENCH_OUT=dir  PARLEYD=path  PARLEY_BENCH=path
#   PARLEYD_THREADS=n  PARLEY_DURABILITY=sync|batched|none  FLASHMQ_BIN=path
#   BENCH_LATENCY_RATE=half|<msgs/s>  BENCH_FANOUT_SUBSCRIBERS=2000  BENCH_IDLE_CONNECTIONS=10000
#   BENCH_CATCHUP_MESSAGES=100000  BENCH_PROTOCOL=3.1.1
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${BENCH_REPS:-3}
DURATION=${BENCH_DURATION:-5}
SCENARIOS=${BENCH_SCENARIOS:-"pairs durable latency fanin fanout group idle catchup storm"}
BROKERS=${BENCH_BROKERS:-"parleyd mosquitto nats flashmq"}
PROTOCOL=${BENCH_PROTOCOL:-3.1.1}
# "half": each broker's latency run is paced at half the pairs throughput it reached in the same
# repetition (the product's "p99 at half of peak load"); a number: that rate for every broker.
LATENCY_RATE=${BENCH_LATENCY_RATE:-half}
declare -A PEAK=()
FANOUT_SUBSCRIBERS=${BENCH_FANOUT_SUBSCRIBERS:-2000}
IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-10000}
CATCHUP_MESSAGES=${BENCH_CATCHUP_MESSAGES:-100000}
PARLEY_DURABILITY=${PARLEY_DURABILITY:-sync}

log() { echo "compare: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# ---- binaries ---------------------------------------------------------------------------------
# BENCH_TABLE_ONLY=results.jsonl: only print the table of an earlier run's results.
TABLE_ONLY=${BENCH_TABLE_ONLY:-}
if [[ -n $TABLE_ONLY ]]; then
  [[ -r $TABLE_ONLY ]] || die "cannot read $TABLE_ONLY"
  ACTIVE=()
  for b in $BROKERS; do grep -q "\"broker\":\"$b\"" "$TABLE_ONLY" && ACTIVE+=("$b"); done
else
  # Without PARLEYD / PARLEY_BENCH, build both into build/release (the tree tools/run.sh uses).
  if [[ -z ${PARLEYD:-} || -z ${PARLEY_BENCH:-} ]]; then
    log "building parleyd and parley-bench in build/release"
    cmake -S "$ROOT" -B "$ROOT/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DPARLEY_TESTS=OFF >/dev/null
    cmake --build "$ROOT/build/release" --target parleyd parley-bench -j2 >/dev/null
  fi
  PARLEYD=${PARLEYD:-$ROOT/build/release/broker/app/parleyd}
  BENCH=${PARLEY_BENCH:-$ROOT/build/release/bench/parley-bench}
  [[ -x $BENCH ]] || die "parley-bench not found at $BENCH"

  # Keep only the brokers that can run here.
  ACTIVE=()
  for b in $BROKERS; do
    case $b in
      parleyd) [[ -x $PARLEYD ]] && ACTIVE+=(parleyd) || log "skipping parleyd: no $PARLEYD" ;;
      mosquitto) command -v mosquitto >/dev/null && ACTIVE+=(mosquitto) || log "skipping mosquitto: not installed" ;;
      nats) command -v nats-server >/dev/null && ACTIVE+=(nats) || log "skipping nats: nats-server not installed" ;;
      flashmq) [[ -n ${FLASHMQ_BIN:-} && -x ${FLASHMQ_BIN:-} ]] && ACTIVE+=(flashmq) ;;
      *) die "unknown broker '$b'" ;;
    esac
  done
fi
((${#ACTIVE[@]} > 0)) || die "no broker to run"

OUT=${BENCH_OUT:-$(mktemp -d /tmp/parley-compare.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
if [[ -n $TABLE_ONLY ]]; then
  [[ $(realpath "$TABLE_ONLY") == $(realpath -m "$RESULTS") ]] || cp "$TABLE_ONLY" "$RESULTS"
else
  : >"$RESULTS"
fi
WORK=$(mktemp -d /tmp/parley-compare-run.XXXXXX)

# ---- process bookkeeping: every process we start is killed by PID on exit --------------------
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port below the ephemeral range, so it never collides with client source ports.
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 10000))
    port_in_use "$p" || {
      echo "$p"
      return
    }
  done
  die "no free port found"
}

wait_port() { # port pid
  local i
  for ((i = 0; i < 200; i++)); do
    port_in_use "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

durability_of() {
  case $1 in
    parleyd)
      case $PARLEY_DURABILITY in
        sync) echo "sync: fsync, group-commit" ;;
        batched) echo "batched: periodic fsync" ;;
        *) echo "$PARLEY_DURABILITY: no fsync" ;;
      esac
      ;;
    mosquitto) echo "in-memory, autosave every 1800 s" ;;
    nats) echo "JetStream file store" ;;
    flashmq) echo "none (in memory)" ;;
  esac
}

BROKER_PID=
BROKER_PORT=
start_broker() { # name dir
  local name=$1 dir=$2 port
  mkdir -p "$dir/data"
  case $name in
    parleyd)
      local threads=()
      [[ -n ${PARLEYD_THREADS:-} ]] && threads=(--threads "$PARLEYD_THREADS")
      "$PARLEYD" --bind 127.0.0.1 --port 0 --data-dir "$dir/data" --port-file "$dir/port" \
        --durability "$PARLEY_DURABILITY" "${threads[@]}" >"$dir/log" 2>&1 &
      BROKER_PID=$!
      PIDS+=("$BROKER_PID")
      local i
      for ((i = 0; i < 200; i++)); do
        [[ -s $dir/port ]] && break
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.05
      done
      [[ -s $dir/port ]] || return 1
      port=$(<"$dir/port")
      ;;
    mosquitto)
      port=$(free_port)
      cat >"$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence true
persistence_location $dir/data/
autosave_interval 1800
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 100
max_connections -1
user $(id -un)
log_dest file $dir/log
log_type error
log_type warning
EOF
      mosquitto -c "$dir/mosquitto.conf" >"$dir/stdout" 2>&1 &
      BROKER_PID=$!
      PIDS+=("$BROKER_PID")
      ;;
    nats)
      port=$(free_port)
      cat >"$dir/nats.conf" <<EOF
server_name: parley_compare
listen: 127.0.0.1:$(free_port)
jetstream {
  store_dir: "$dir/data"
}
mqtt {
  listen: 127.0.0.1:$port
}
EOF
      nats-server -c "$dir/nats.conf" >"$dir/log" 2>&1 &
      BROKER_PID=$!
      PIDS+=("$BROKER_PID")
      ;;
    flashmq)
      port=$(free_port)
      # inet_protocol ip4: without it FlashMQ also listens on [::] (all IPv6 addresses).
      # Its per-client QoS queue is capped at 65,535 messages (16-bit packet ids), so catchup
      # of more messages loses the rest; the table's notes say how many.
      cat >"$dir/flashmq.conf" <<EOF
allow_anonymous true
log_file $dir/log
log_level warning
max_qos_msg_pending_per_client 65535
max_qos_bytes_pending_per_client 268435456
listen {
  protocol mqtt
  inet_protocol ip4
  inet4_bind_address 127.0.0.1
  port $port
  tcp_nodelay true
}
EOF
      "$FLASHMQ_BIN" --config-file "$dir/flashmq.conf" >"$dir/stdout" 2>&1 &
      BROKER_PID=$!
      PIDS+=("$BROKER_PID")
      ;;
  esac
  BROKER_PORT=$port
  wait_port "$port" "$BROKER_PID"
}

stop_broker() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

latency_rate() { # broker
  if [[ $LATENCY_RATE != half ]]; then
    echo "$LATENCY_RATE"
  elif [[ -n ${PEAK[$1]:-} ]]; then
    awk -v x="${PEAK[$1]}" 'BEGIN { r = int(x / 2); print (r < 100 ? 100 : r) }'
  else
    echo 5000 # no pairs run to take the peak from
  fi
}

# parley-bench arguments per scenario name (the table's "latency" is pairs at a fixed rate).
scenario_args() {
  case $1 in
    pairs) echo "pairs --pairs 10 --duration $DURATION" ;;
    durable) echo "pairs --pairs 10 --persistent --duration $DURATION" ;;
    latency) echo "pairs --pairs 10 --rate $(latency_rate "$2") --duration $DURATION" ;;
    fanin) echo "fanin --publishers 100 --subscribers 1 --duration $DURATION" ;;
    fanout) echo "fanout --publishers 1 --subscribers $FANOUT_SUBSCRIBERS --rate 10 --duration $DURATION" ;;
    group) echo "group --groups 10 --group-size 100 --rate 200 --duration $DURATION" ;;
    idle) echo "idle --connections $IDLE_CONNECTIONS --settle 2 --duration 2" ;;
    catchup) echo "catchup --messages $CATCHUP_MESSAGES --catchup-timeout 30" ;;
    storm) echo "storm --duration $DURATION" ;;
    *) die "unknown scenario '$1'" ;;
  esac
}

# Figures reported per scenario: json_key|label|scale (the value is divided by it).
scenario_metrics() {
  case $1 in
    pairs | durable | fanin) printf '%s\n' "throughput_msgs_s|msgs/s (higher is better)|1" \
      "cpu_us_per_msg|broker CPU µs/msg (lower is better)|1" ;;
    latency) printf '%s\n' "lat_p50_us|p50 ms (lower is better)|1000" \
      "lat_p99_us|p99 ms (lower is better)|1000" "lat_p999_us|p99.9 ms (lower is better)|1000" ;;
    fanout | group) printf '%s\n' "last_p99_us|p99 ms to last subscriber (lower is better)|1000" \
      "cpu_us_per_msg|broker CPU µs/delivery (lower is better)|1" ;;
    idle) printf '%s\n' "rss_per_conn_bytes|broker RSS bytes/connection (lower is better)|1" ;;
    catchup) printf '%s\n' "catchup_msgs_s|msgs/s (higher is better)|1" ;;
    storm) printf '%s\n' "connects_per_s|connects/s (higher is better)|1" ;;
  esac
}

jget() { # json key -> value (numbers and strings; flat objects only)
  sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" <<<"$1" | tr -d '"'
}

# ---- run ---------------------------------------------------------------------------------------
read -r -a SCEN <<<"$SCENARIOS"
elapsed=0
[[ -n $TABLE_ONLY ]] && REPS=$(grep -o '"rep":[0-9]*' "$RESULTS" | sort -u | wc -l)
if [[ -z $TABLE_ONLY ]]; then
total=$((REPS * ${#SCEN[@]} * ${#ACTIVE[@]}))
n=0
started=$(date +%s)
log "brokers: ${ACTIVE[*]}; scenarios: ${SCEN[*]}; $REPS repetitions; results in $OUT"
for ((rep = 1; rep <= REPS; rep++)); do
  order=("${ACTIVE[@]}")
  if ((rep % 2 == 0)); then # alternate the order between repetitions
    order=()
    for ((i = ${#ACTIVE[@]} - 1; i >= 0; i--)); do order+=("${ACTIVE[i]}"); done
  fi
  for scenario in "${SCEN[@]}"; do
    for broker in "${order[@]}"; do
      n=$((n + 1))
      dir=$WORK/$broker-$scenario-$rep
      if ! start_broker "$broker" "$dir"; then
        log "[$n/$total] $broker did not start; see $dir/log"
        cp -r "$dir" "$OUT/" 2>/dev/null || true
        echo "{\"scenario\":\"$scenario\",\"broker\":\"$broker\",\"rep\":$rep,\"error\":\"broker did not start\"}" >>"$RESULTS"
        [[ -n $BROKER_PID ]] && stop_broker "$BROKER_PID"
        continue
      fi
      # shellcheck disable=SC2046
      json=$(timeout 300 "$BENCH" $(scenario_args "$scenario" "$broker") --protocol "$PROTOCOL" \
        --port "$BROKER_PORT" --broker-pid "$BROKER_PID" --label "$broker" -q 2>"$dir/bench.err" |
        tail -n 1) || true
      stop_broker "$BROKER_PID"
      [[ $json == '{'* ]] || json="{\"error\":\"parley-bench produced no result\"}"
      echo "{\"broker\":\"$broker\",\"rep\":$rep,\"table_scenario\":\"$scenario\",${json#\{}" >>"$RESULTS"
      if [[ $scenario == pairs ]]; then
        peak=$(jget "$json" throughput_msgs_s)
        [[ -n $peak && $peak != null ]] && PEAK[$broker]=$peak
      fi
      summary=$(jget "$json" summary)
      err=$(jget "$json" error)
      log "[$n/$total] rep $rep $scenario $broker: ${summary:-FAILED $err}"
      rm -rf "$dir/data"
    done
  done
done
elapsed=$(($(date +%s) - started))
fi

# ---- table -------------------------------------------------------------------------------------
median_spread() { # values... -> "median min max" (nothing when no values)
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) exit
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m, v[1], v[NR] }'
}
fmtnum() { awk -v x="$1" 'BEGIN {
  a = x < 0 ? -x : x
  if (a >= 1000) printf "%.0f", x; else if (a >= 10) printf "%.1f", x; else if (a >= 1) printf "%.2f", x; else printf "%.3f", x }'; }

# One row per (broker, table scenario, key, value) from the flat JSON lines, in one awk pass.
flatten() {
  awk '{
    line = $0; b = ""; sc = ""; n = 0
    while (match(line, /"[A-Za-z0-9_]+":("[^"]*"|[^,}]*)/)) {
      kv = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
      k = kv; sub(/":.*/, "", k); sub(/^"/, "", k)
      v = kv; sub(/^"[A-Za-z0-9_]+":/, "", v); gsub(/"/, "", v)
      if (k == "broker") b = v
      if (k == "table_scenario") sc = v
      keys[++n] = k; vals[n] = v
    }
    for (i = 1; i <= n; i++) print b "\t" sc "\t" keys[i] "\t" vals[i]
  }' "$1"
}

table() {
  echo "| scenario | figure | broker | durability | median | spread (min–max) | parley/peer | notes |"
  echo "|---|---|---|---|---|---|---|---|"
  local flat scenario key label scale broker parley_median ratio med lo hi
  flat=$(flatten "$RESULTS")
  # parleyd first, so its median is known when the peers' ratios are computed.
  local order=() b
  for b in "${ACTIVE[@]}"; do [[ $b == parleyd ]] && order+=("$b"); done
  for b in "${ACTIVE[@]}"; do [[ $b != parleyd ]] && order+=("$b"); done
  for scenario in "${SCEN[@]}"; do
    while IFS='|' read -r key label scale; do
      parley_median=
      for broker in "${order[@]}"; do
        local rows vals=() notes=() lost errs failed runs rates=()
        rows=$(awk -F'\t' -v b="$broker" -v s="$scenario" '$1 == b && $2 == s' <<<"$flat")
        runs=$(awk -F'\t' '$3 == "rep"' <<<"$rows" | wc -l)
        mapfile -t vals < <(awk -F'\t' -v k="$key" -v sc="$scale" '$3 == k && $4 != "null" && $4 != "" { print $4 / sc }' <<<"$rows")
        lost=$(awk -F'\t' '$3 == "lost" && $4 > m { m = $4 } END { print m + 0 }' <<<"$rows")
        errs=$(awk -F'\t' '$3 == "errors" && $4 > m { m = $4 } END { print m + 0 }' <<<"$rows")
        failed=$((runs - ${#vals[@]}))
        ((lost > 0)) && notes+=("lost up to $lost")
        ((errs > 0)) && notes+=("errors up to $errs")
        ((failed > 0)) && notes+=("$failed of $runs runs failed")
        if [[ $scenario == latency ]]; then
          mapfile -t rates < <(awk -F'\t' '$3 == "rate_target" { print $4 }' <<<"$rows")
          if ((${#rates[@]} > 0)); then
            read -r _ lo hi < <(median_spread "${rates[@]}")
            notes+=("at $(fmtnum "$lo")–$(fmtnum "$hi") msgs/s")
          fi
        fi
        med= lo= hi=
        ((${#vals[@]} > 0)) && read -r med lo hi < <(median_spread "${vals[@]}")
        ratio="—"
        if [[ $broker == parleyd ]]; then
          parley_median=$med
        elif [[ -n $parley_median && -n $med ]]; then
          ratio=$(awk -v p="$parley_median" -v q="$med" 'BEGIN { if (q == 0) print "—"; else printf "%.2f", p / q }')
        fi
        if [[ -n $med ]]; then
          echo "| $scenario | $label | $broker | $(durability_of "$broker") | $(fmtnum "$med") | $(fmtnum "$lo")–$(fmtnum "$hi") | $ratio | ${notes[*]+"${notes[*]}"} |"
        else
          echo "| $scenario | $label | $broker | $(durability_of "$broker") | n/a | — | — | ${notes[*]+"${notes[*]}"} |"
        fi
      done
    done < <(scenario_metrics "$scenario")
  done
}

{
  echo "## Parley vs peers ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r))"
  echo
  echo "MQTT $PROTOCOL, QoS 1, 64-byte payloads, $REPS repetitions (broker order alternating), ${DURATION} s per load run, $((elapsed / 60)) min $((elapsed % 60)) s in all."
  echo "parleyd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(mosquitto -h 2>/dev/null | head -n 1 || true), $(nats-server --version 2>/dev/null || true)${FLASHMQ_BIN:+, FlashMQ $FLASHMQ_BIN}."
  echo
  table
  echo
  echo "Raw results: $RESULTS"
} | tee "$OUT/table.md"
