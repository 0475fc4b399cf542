#!/usr/bin/env bash
# Bulk TCP transfer and small request/response exchanges: direct, haproxy (mode tcp), ProxyMesh (tcp:// listener).
# Self-contained: builds its load tool (tcpbench.c) and ProxyMesh (Release), binds 127.0.0.1 only, stops what it starts.
#
#   bench/tcp/run.sh                       # defaults below; about 2 minutes
#   BULK_MB=512 RR_SECONDS=5 bench/tcp/run.sh --out /tmp/tcp.md
#
# Environment: BULK_MB (1024) megabytes each way per bulk run, RR_CONNECTIONS (16), RR_SECONDS (10), RR_SIZE (64 bytes),
# WARMUP_SECONDS (5; every target is warmed equally: JIT tiering makes a cold .NET proxy slow for seconds).
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

echo_port=$(free_port); haproxy_port=$(free_port); mesh_port=$(free_port); admin_port=$(free_port)
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

mkdir -p "$work/mesh"
cat > "$work/mesh/appsettings.json" <<JSON
{
  "Logging": { "LogLevel": { "Default": "Warning" } },
  "ProxyMesh": {
    "ServiceName": "bench",
    "Listeners": { "bench": { "Url": "tcp://127.0.0.1:$mesh_port", "Cluster": "echo" } },
    "Admin": { "Url": "http://127.0.0.1:$admin_port" },
    "AccessLog": { "Enabled": false }
  },
  "ReverseProxy": { "Clusters": { "echo": { "Destinations": { "d0": { "Address": "tcp://127.0.0.1:$echo_port" } } } } }
}
JSON
(cd "$work/mesh" && DOTNET_gcServer=1 exec dotnet "$work/proxymesh/ProxyMesh.Proxy.dll") >"$work/mesh.log" 2>&1 & pids+=($!)
wait_port "$mesh_port"

declare -A bulk_rate rr_rate
for target in direct haproxy proxymesh; do
  case $target in
    direct) port=$echo_port ;;
    haproxy) port=$haproxy_port ;;
    proxymesh) port=$mesh_port ;;
  esac
  "$work/tcpbench" rr "$port" "$RR_CONNECTIONS" "$WARMUP_SECONDS" "$RR_SIZE" >/dev/null
  "$work/tcpbench" bulk "$port" 256 >/dev/null
  read -r _ bytes seconds < <("$work/tcpbench" bulk "$port" "$BULK_MB")
  bulk_rate[$target]=$(python3 -c "print(f'{$bytes/$seconds/1e9:.2f}')")
  read -r _ count seconds < <("$work/tcpbench" rr "$port" "$RR_CONNECTIONS" "$RR_SECONDS" "$RR_SIZE")
  rr_rate[$target]=$(python3 -c "print(f'{$count/$seconds:.0f}')")
  echo "$target: bulk ${bulk_rate[$target]} GB/s each way, ${rr_rate[$target]} exchanges/s" >&2
done

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
  echo "# TCP proxy benchmark"
  echo
  echo "\`bench/tcp/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "Bulk: one connection, ${BULK_MB} MB each way at once through an echo server. Exchanges: ${RR_CONNECTIONS} connections,"
  echo "${RR_SIZE}-byte request and response, ${RR_SECONDS} s after a ${WARMUP_SECONDS} s warm-up. Load tool, echo server and proxy share the machine."
  echo
  echo "| target | bulk GB/s (each way) | exchanges/s | bulk vs haproxy | exchanges vs haproxy |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for target in direct haproxy proxymesh; do
    echo "| $target | ${bulk_rate[$target]} | ${rr_rate[$target]} | $(ratio "${bulk_rate[$target]}" "${bulk_rate[haproxy]}") | $(ratio "${rr_rate[$target]}" "${rr_rate[haproxy]}") |"
  done
} > "$out"
cat "$out"
