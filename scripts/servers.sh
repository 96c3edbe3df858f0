#!/usr/bin/env bash
# Starts or stops the local servers on 127.0.0.1 for the demo and `cargo lambda` runs:
# dynalite for the primary (port 8000) and the replica (8001), kinesalite (4567).
# Usage: scripts/servers.sh start|stop
set -euo pipefail
cd "$(dirname "$0")/.."
state=.local
mkdir -p "$state"

start() { # name port command...
  local name=$1 port=$2; shift 2
  if [ -f "$state/$name.pid" ] && kill -0 "$(cat "$state/$name.pid")" 2>/dev/null; then
    echo "$name already running on port $port"; return
  fi
  "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "$name listening on 127.0.0.1:$port"; return; }
    sleep 0.1
  done
  echo "$name did not start; see $state/$name.log" >&2; exit 1
}

case "${1:-}" in
  start)
    dynalite=(node tools/node_modules/dynalite/cli.js --host 127.0.0.1 --createTableMs 0 --deleteTableMs 0 --updateTableMs 0)
    start dynalite-primary 8000 "${dynalite[@]}" --port 8000
    start dynalite-replica 8001 "${dynalite[@]}" --port 8001
    start kinesalite 4567 node tools/kinesalite.js 4567
    ;;
  stop)
    for pid in "$state"/*.pid; do
      [ -e "$pid" ] || continue
      kill "$(cat "$pid")" 2>/dev/null || true
      rm -f "$pid"
    done
    echo "local servers stopped"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
