#!/usr/bin/env bash
# bench/imap/delivery_cost.sh - what the body index costs SMTP acceptance.
#
#   bench/imap/delivery_cost.sh WHARF_BIN [LABEL]
#
# Starts WHARF_BIN with only an smtp listener on a fresh data_dir, sends with Postfix's
# smtp-source (SESSIONS parallel sessions, MESSAGES messages of SIZE bytes to one local
# user), prints messages/s. With MSG_FILE=path, smtp-source is not used: a Python client
# sends that message file instead (smtp-source's body is one repeated character, which
# is the cheapest possible text to index). Run it for the binary before and after a
# change, alternately, on a quiet machine. With the body index, it also waits for the
# indexer to catch up and says how long that took (wharf CPU then includes indexing).
#
# Environment: SESSIONS [20], MESSAGES [5000], SIZE [4096], PORT [12525],
# DIR [/tmp/wharf-delivery-cost], MSG_FILE (optional).
set -euo pipefail
BIN=${1:?usage: delivery_cost.sh WHARF_BIN [LABEL]}
LABEL=${2:-$(basename "$BIN")}
SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-5000}
SIZE=${SIZE:-4096}
PORT=${PORT:-12525}
DIR=${DIR:-/tmp/wharf-delivery-cost}
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)

rm -rf "$DIR"
mkdir -p "$DIR"
cat >"$DIR/wharf.toml" <<EOF
hostname = "mx.example.test"
data_dir = "$DIR/data"

[listen]
smtp = ["127.0.0.1:$PORT"]

[limits]
max_connections_per_ip = 0
EOF
w() { "$BIN" --config "$DIR/wharf.toml" "$@"; }
w domain add example.test >/dev/null
echo alice-pw-1 | w user add alice@example.test --password-stdin >/dev/null
"$BIN" --config "$DIR/wharf.toml" serve >"$DIR/wharf.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
    sleep 0.1
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s.%N)
if [ -n "${MSG_FILE:-}" ]; then
    python3 - "$PORT" "$SESSIONS" "$MESSAGES" "$MSG_FILE" <<'EOF'
import smtplib, sys, threading
port, sessions, messages, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
raw = open(path, "rb").read()
lock = threading.Lock()
left = [messages]
def worker():
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        with smtplib.SMTP("127.0.0.1", port) as s:  # one message per connection, as smtp-source
            s.sendmail("s@remote.test", ["alice@example.test"], raw)
ts = [threading.Thread(target=worker) for _ in range(sessions)]
[t.start() for t in ts]
[t.join() for t in ts]
EOF
else
    "$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f s@remote.test -t alice@example.test "127.0.0.1:$PORT"
fi
t1=$(date +%s.%N)
# With the body index (schema 3): how long the indexer takes to catch up afterwards.
catchup=""
if sqlite3 "$DIR/data/wharf.db" "SELECT text_state FROM blobs LIMIT 0" 2>/dev/null; then
    while [ "$(sqlite3 "$DIR/data/wharf.db" "SELECT count(*) FROM blobs WHERE text_state = 0" 2>/dev/null || echo 1)" != 0 ]; do
        sleep 0.2
    done
    catchup="; body index caught up $(echo "$(date +%s.%N) - $t1" | bc) s after the last message"
fi
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$PID/stat")
kill -TERM $PID
wait $PID 2>/dev/null || true
trap - EXIT
count=$(w user list | tr '\t' '\n' | awk -F= '/^messages=/ { sub(/\/.*/, "", $2); print $2 }')
db=$(du -sk "$DIR/data/wharf.db"* | awk '{ s += $1 } END { print s }')
echo "$LABEL: $MESSAGES messages (${MSG_FILE:-smtp-source -l $SIZE}) over $SESSIONS sessions in $(echo "$t1 - $t0" | bc) s: $(echo "scale=1; $MESSAGES / ($t1 - $t0)" | bc) msg/s; wharf CPU ${cpu} s; stored $count; database ${db} KiB$catchup; load average at start $load"
