#!/usr/bin/env bash
# Bulk TCP transfer and small request/response exchanges: direct, haproxy (mode tcp), ProxyMesh (tcp:// listener on its
# own socket transport, the default: plain relays complete on the socket event thread), the same with its relays on the
# thread pool (TcpTransport:InlineCompletions false), with inline completions for every socket of the process
# (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1, which also runs one socket event thread per core), ProxyMesh on Kestrel's socket
# transport (ProxyMesh:TcpTransport:UseKestrel) with default and with inline scheduling; then MongoDB OP_MSG exchanges
# through ProxyMesh without and with the Mongo filter. Self-contained: builds its load tool (tcpbench.c) and ProxyMesh (Release), binds 127.0.0.1 only, stops what
# it starts.
#
#   bench/tcp/run.sh                       # defaults below; about 5 minutes
#   BULK_MB=512 RR_SECONDS=5 ROUNDS=3 bench/tcp/run.sh --out /tmp/tcp.md
#
# Environment: BULK_MB (1024) megabytes each way per bulk run, RR_CONNECTIONS (16), RR_SECONDS (10), RR_SIZE (64 bytes),
# WARMUP_SECONDS (5; every target is warmed equally: JIT tiering makes a cold .NET proxy slow for seconds), ROUNDS (2:
# the targets are measured in turn this many times, and each figure is the median of its rounds, so a burst of load from
# elsewhere on a shared machine hits every target alike).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out="$root/bench/results/tcp.md"
if [[ "${1:-}" == "--out" ]]; then out=$(realpath -m "$2"); fi

BULK_MB=${BULK_MB:-1024}
RR_CONNECTIONS=${RR_CONNECTIONS:-16}
RR_SECONDS=${RR_SECONDS:-10}
RR_SIZE=${RR_SIZE:-64}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
ROUNDS=${ROUNDS:-2}

command -v haproxy >/dev/null || { echo "needs haproxy (apt-get install haproxy)" >&2; exit 1; }
command -v cc >/dev/null || { echo "needs a C compiler (apt-get install gcc)" >&2; exit 1; }

work=$(mktemp -d /tmp/proxymesh-tcp-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 300); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1).close()" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "nothing listens on $1" >&2; exit 1
}

cc -O2 -pthread bench/tcp/tcpbench.c -o "$work/tcpbench"
dotnet publish Proxy/Proxy.csproj -c Release -o "$work/proxymesh" --nologo -v quiet >/dev/null

echo_port=$(free_port); haproxy_port=$(free_port)
"$work/tcpbench" server "$echo_port" & pids+=($!)
wait_port "$echo_port"

cat > "$work/haproxy.cfg" <<CFG
global
  nbthread 2
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen bench
  bind 127.0.0.1:$haproxy_port
  server echo 127.0.0.1:$echo_port
CFG
haproxy -f "$work/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!)
wait_port "$haproxy_port"

# start_mesh NAME KESTREL INLINE [TRANSPORT]: a ProxyMesh with a plain listener and a Mongo-filter listener in front of the echo
# server. KESTREL=true accepts TCP listeners with Kestrel's socket transport instead of ProxyMesh's own; INLINE=true runs
# socket continuations on the I/O threads (ProxyMesh:SocketTransport:UnsafePreferInlineScheduling for Kestrel,
# DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS for every socket); TRANSPORT adds ProxyMesh:TcpTransport settings.
declare -A plain_port mongo_port
start_mesh() {
  local name=$1 kestrel=$2 inline=$3 transport=${4:-} admin
  plain_port[$name]=$(free_port); mongo_port[$name]=$(free_port); admin=$(free_port)
  mkdir -p "$work/$name"
  cat > "$work/$name/appsettings.json" <<JSON
{
  "Logging": { "LogLevel": { "Default": "Warning" } },
  "ProxyMesh": {
    "ServiceName": "bench",
    "Listeners": {
      "bench": { "Url": "tcp://127.0.0.1:${plain_port[$name]}", "Cluster": "echo" },
      "mongo": { "Url": "tcp://127.0.0.1:${mongo_port[$name]}", "Cluster": "echo", "Filters": [ "Mongo" ] }
    },
    "Admin": { "Url": "http://127.0.0.1:$admin" },
    "AccessLog": { "Enabled": false },
    "SocketTransport": { "UnsafePreferInlineScheduling": $inline },
    "TcpTransport": { "UseKestrel": $kestrel${transport:+, $transport} }
  },
  "ReverseProxy": { "Clusters": { "echo": { "Destinations": { "d0": { "Address": "tcp://127.0.0.1:$echo_port" } } } } }
}
JSON
  local inline_env=0; [[ $inline == true ]] && inline_env=1
  (cd "$work/$name" && DOTNET_gcServer=1 DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=$inline_env exec dotnet "$work/proxymesh/ProxyMesh.Proxy.dll") \
    >"$work/$name.log" 2>&1 & pids+=($!)
  wait_port "${plain_port[$name]}"
  wait_port "${mongo_port[$name]}"
}
start_mesh proxymesh false false
start_mesh proxymesh-threadpool false false '"InlineCompletions": false'
start_mesh proxymesh-inline false true
start_mesh proxymesh-kestrel true false
start_mesh proxymesh-kestrel-inline true true

targets=(direct haproxy proxymesh proxymesh-threadpool proxymesh-inline proxymesh-kestrel proxymesh-kestrel-inline)
port_of() {
  case $1 in
    direct) echo "$echo_port" ;;
    haproxy) echo "$haproxy_port" ;;
    proxymesh*) echo "${plain_port[$1]}" ;;
    mongo:*) echo "${mongo_port[${1#mongo:}]}" ;;
    plain:*) echo "${plain_port[${1#plain:}]}" ;;
  esac
}

fmt() { python3 -c "print(f'{$1:.$2f}')"; }
declare -A bulk_runs rr_runs opmsg_runs
for target in "${targets[@]}"; do
  port=$(port_of "$target")
  "$work/tcpbench" rr "$port" "$RR_CONNECTIONS" "$WARMUP_SECONDS" "$RR_SIZE" >/dev/null
  "$work/tcpbench" bulk "$port" 256 >/dev/null
done
for target in plain:proxymesh mongo:proxymesh; do
  "$work/tcpbench" opmsg "$(port_of "$target")" "$RR_CONNECTIONS" "$WARMUP_SECONDS" >/dev/null
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  for target in "${targets[@]}"; do
    port=$(port_of "$target")
    read -r _ bytes seconds < <("$work/tcpbench" bulk "$port" "$BULK_MB")
    bulk=$(python3 -c "print($bytes/$seconds/1e9)")
    bulk_runs[$target]+=" $bulk"
    read -r _ count seconds < <("$work/tcpbench" rr "$port" "$RR_CONNECTIONS" "$RR_SECONDS" "$RR_SIZE")
    rr=$(python3 -c "print($count/$seconds)")
    rr_runs[$target]+=" $rr"
    echo "round $round $target: bulk $(fmt "$bulk" 2) GB/s, $(fmt "$rr" 0) exchanges/s" >&2
  done
  for target in plain:proxymesh mongo:proxymesh; do
    read -r _ count seconds < <("$work/tcpbench" opmsg "$(port_of "$target")" "$RR_CONNECTIONS" "$RR_SECONDS")
    opmsg_runs[$target]+=" $(python3 -c "print($count/$seconds)")"
    echo "round $round $target: $(fmt "$count/$seconds" 0) OP_MSG exchanges/s" >&2
  done
done

median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" $1; }
declare -A bulk_rate rr_rate opmsg_rate
for target in "${targets[@]}"; do
  bulk_rate[$target]=$(median "${bulk_runs[$target]}")
  rr_rate[$target]=$(median "${rr_runs[$target]}")
done
for target in plain:proxymesh mongo:proxymesh; do opmsg_rate[$target]=$(median "${opmsg_runs[$target]}"); done

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
# paired_ratio "A1 A2 ..." "B1 B2 ...": the median of Ai/Bi — each round's targets ran back to back under the same load.
paired_ratio() { python3 -c "import statistics,sys; a=sys.argv[1].split(); b=sys.argv[2].split(); print(f'{statistics.median(float(x)/float(y) for x,y in zip(a,b)):.2f}')" "$1" "$2"; }
{
  echo "# TCP proxy benchmark"
  echo
  echo "\`bench/tcp/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $load_start at the start of the rounds, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "Bulk: one connection, ${BULK_MB} MB each way at once through an echo server. Exchanges: ${RR_CONNECTIONS} connections,"
  echo "${RR_SIZE}-byte request and response, ${RR_SECONDS} s after a ${WARMUP_SECONDS} s warm-up. Targets measured in turn, ${ROUNDS} rounds,"
  echo "median of the rounds. Load tool, echo server and proxies share the machine."
  echo
  echo "| target | bulk GB/s (each way) | exchanges/s | bulk vs haproxy | exchanges vs haproxy | per-round ratios vs haproxy, median: bulk / exchanges | rounds: bulk GB/s | rounds: exchanges/s |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
  for target in "${targets[@]}"; do
    rounds_bulk=$(python3 -c "import sys; print(' / '.join(f'{float(x):.2f}' for x in sys.argv[1:]))" ${bulk_runs[$target]})
    rounds_rr=$(python3 -c "import sys; print(' / '.join(f'{float(x):.0f}' for x in sys.argv[1:]))" ${rr_runs[$target]})
    paired=$(paired_ratio "${bulk_runs[$target]}" "${bulk_runs[haproxy]}")" / "$(paired_ratio "${rr_runs[$target]}" "${rr_runs[haproxy]}")
    echo "| $target | $(fmt "${bulk_rate[$target]}" 2) | $(fmt "${rr_rate[$target]}" 0) | $(ratio "${bulk_rate[$target]}" "${bulk_rate[haproxy]}") | $(ratio "${rr_rate[$target]}" "${rr_rate[haproxy]}") | $paired | $rounds_bulk | $rounds_rr |"
  done
  echo
  echo "MongoDB OP_MSG exchanges (\`tcpbench opmsg\`: a 57-byte \`find\` per exchange, echoed back as its reply), ${RR_CONNECTIONS} connections,"
  echo "through the same ProxyMesh process (default settings):"
  echo
  echo "| listener | OP_MSG exchanges/s | vs plain TCP | rounds |"
  echo "| --- | ---: | ---: | --- |"
  for target in plain:proxymesh mongo:proxymesh; do
    rounds=$(python3 -c "import sys; print(' / '.join(f'{float(x):.0f}' for x in sys.argv[1:]))" ${opmsg_runs[$target]})
    label=$([[ $target == plain:* ]] && echo 'tcp:// (no filter)' || echo 'tcp:// with Filters: ["Mongo"]')
    echo "| $label | $(fmt "${opmsg_rate[$target]}" 0) | $(ratio "${opmsg_rate[$target]}" "${opmsg_rate[plain:proxymesh]}") | $rounds |"
  done
} > "$out"
cat "$out"
