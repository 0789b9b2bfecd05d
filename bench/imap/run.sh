#!/usr/bin/env bash
# bench/imap/run.sh - IMAP: Dovecot vs Wharf on the same mailboxes (issue 4, Benchmark).
#
# Run as root on Debian 12 from anywhere in the repo. Re-running is safe (idempotent).
#
#  1. installs dovecot-imapd (+ ssl-cert) and applies /work/shared/peers/SETUP.md sections
#     1 (package), 2 (vmail user, /var/mail/vhosts) and 4 (/etc/dovecot/users, local.conf) to
#     the system Dovecot, which it does not start. It measures a *private* Dovecot
#     instance (own base_dir, config, log and maildirs under $BENCH_DIR/dovecot, port
#     $IMAP_DOVECOT_PORT) built from the section 4 recipe plus the limits thousands of
#     connections need (see dovecot_conf below), so that it never collides with the system
#     Dovecot or the POP3 benchmark's private instance.
#  2. builds wharf (cargo build --release --bin wharf) and the load generator
#     bench/imap (its own Cargo workspace; shared target dir), makes a fresh data_dir with
#     example.test and the users, and runs `wharf serve` with only an imap listener on
#     127.0.0.1:$IMAP_WHARF_PORT (max_connections_per_ip = 0).
#     Both servers get the same users with the same password *hash*: Wharf's Argon2id
#     PHC string (read from its SQLite database) is written into Dovecot's passwd-file as
#     {ARGON2ID}, so a LOGIN costs the same hashing work on both.
#  3. loads the same messages into both with IMAP APPEND (imapbench load): users
#     u1..u$CLIENTS get $MAILBOX_MSGS messages each, big@ gets $BIG_MSGS (into Dovecot
#     written as maildir files by `imapbench maildir` unless DOVECOT_BIG_LOAD=append).
#  4. measures, one server at a time, alternating: (a) imapbench mixed: $CLIENTS
#     concurrent clients, $MIXED_SECS s, $RUNS runs per server; (b) SEARCH BODY zebrafish
#     over big@'s INBOX ($BIG_MSGS messages, 1 in 1000 matches); (c) memory with
#     $IDLE_STEPS connections in IDLE, step by step, stopping
#     before a step that would take too much of the machine's memory.
#  5. writes the `## IMAP` section of bench/RESULTS.md (only that section).
#
# Environment: CLIENTS [32], MAILBOX_MSGS [200], BIG_MSGS [50000], IDLE_STEPS ["100 1000 5000"],
# IDLE_MEM_CAP_MIB [10240],
# RUNS [2], MIXED_SECS [30], ROUNDS [5], SEARCH_REPS [5], IMAP_WHARF_PORT [12143],
# IMAP_DOVECOT_PORT [11143], BENCH_DIR [/var/lib/wharf-bench-imap], RESULTS [bench/RESULTS.md],
# BENCH_WHARF_BIN [target/release/wharf] BENCH_WHARF_HEAD (not WHARF_*: wharf reads those as settings), SKIP_BUILD=1, SKIP_LOAD=1 (reuse the data of the previous run), RESUME=1 LOAD_SERVERS="wharf"
# (keep the data, load only the servers named), WRITE_RESULTS=0,
# DOVECOT_BIG_LOAD [maildir] (big@'s messages are written into Dovecot's maildir directly
# and indexed with doveadm before timing; "append" loads them with IMAP APPEND, ~45 msg/s),
# SEARCH_EXTRA_WORDS [""] (more SEARCH BODY strings after zebrafish, raw results only),
# ROUNDS_LONG [50], PHASES ["mixed mixed-long search idle"; also "longsession append append-selected"],
# LONG_CLIENTS [10], LONG_USERS [2] (LONG_CLIENTS/LONG_USERS clients share each INBOX),
# LONG_SECS [30], LONG_RUNS [2], APPEND_CLIENTS [10], APPEND_SECS [20], APPEND_MAILBOX [Sent], IDLE_SERVERS ["wharf dovecot"], KEEP_OUT=1 (add to the
# previous run's raw results, e.g. PHASES=idle IDLE_SERVERS=dovecot).
set -euo pipefail

CLIENTS=${CLIENTS:-32}
MAILBOX_MSGS=${MAILBOX_MSGS:-200}
BIG_MSGS=${BIG_MSGS:-50000}
IDLE_STEPS=${IDLE_STEPS:-"100 1000 5000"}
IDLE_MEM_CAP_MIB=${IDLE_MEM_CAP_MIB:-10240}
IDLE_USERS=${IDLE_USERS:-$CLIENTS}
RUNS=${RUNS:-2}
MIXED_SECS=${MIXED_SECS:-30}
ROUNDS=${ROUNDS:-5}
ROUNDS_LONG=${ROUNDS_LONG:-50}
SEARCH_REPS=${SEARCH_REPS:-5}
LONG_CLIENTS=${LONG_CLIENTS:-10}
LONG_USERS=${LONG_USERS:-2}
LONG_SECS=${LONG_SECS:-30}
LONG_RUNS=${LONG_RUNS:-2}
APPEND_CLIENTS=${APPEND_CLIENTS:-10}
APPEND_SECS=${APPEND_SECS:-20}
APPEND_MAILBOX=${APPEND_MAILBOX:-Sent}
IMAP_WHARF_PORT=${IMAP_WHARF_PORT:-12143}
IMAP_DOVECOT_PORT=${IMAP_DOVECOT_PORT:-11143}
BENCH_DIR=${BENCH_DIR:-/var/lib/wharf-bench-imap}
PHASES=${PHASES:-"mixed mixed-long search idle"}
DOVECOT_BIG_LOAD=${DOVECOT_BIG_LOAD:-maildir}
SEARCH_EXTRA_WORDS=${SEARCH_EXTRA_WORDS:-}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
WRITE_RESULTS=${WRITE_RESULTS:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
PASS=bench-pw

# BENCH_WHARF_BIN: measure another wharf binary (e.g. one built from an older commit in a
# worktree, for a before/after comparison; BENCH_WHARF_HEAD names its commit in the report).
WHARF_BUILT=${BENCH_WHARF_BIN:-$CARGO_TARGET_DIR/release/wharf}
WHARF_BIN=$BENCH_DIR/wharf
GEN=$CARGO_TARGET_DIR/release/imapbench
WHARF_CONF=$BENCH_DIR/wharf.toml
WHARF_DATA=$BENCH_DIR/wharf-data
WHARF_LOG=$BENCH_DIR/wharf.log
DV=$BENCH_DIR/dovecot
DV_CONF=$DV/dovecot.conf
OUT=$BENCH_DIR/out # raw outputs of this run
WHARF_PID=

log() { printf 'imap-bench: %s\n' "$*" >&2; }
die() { printf 'imap-bench: error: %s\n' "$*" >&2; exit 1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

[ "$(id -u)" = 0 ] || die "run as root (installs and runs Dovecot)"
PATH=$PATH:$HOME/.cargo/bin
# Thousands of connections: the client, wharf and dovecot (children inherit it) need fds.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

stop_wharf() {
    if [ -n "$WHARF_PID" ] && kill -0 "$WHARF_PID" 2>/dev/null; then
        kill -TERM "$WHARF_PID"
        for _ in $(seq 1 400); do kill -0 "$WHARF_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$WHARF_PID" 2>/dev/null && { log "wharf did not exit after SIGTERM + 40 s"; kill -KILL "$WHARF_PID"; }
        wait "$WHARF_PID" 2>/dev/null || true
    fi
    WHARF_PID=
}
stop_dovecot() {
    if [ -f "$DV/run/master.pid" ] && kill -0 "$(cat "$DV/run/master.pid")" 2>/dev/null; then
        doveadm -c "$DV_CONF" stop >/dev/null 2>&1 || kill "$(cat "$DV/run/master.pid")"
        for _ in $(seq 1 100); do [ -f "$DV/run/master.pid" ] || break; sleep 0.1; done
    fi
}
cleanup() {
    set +e
    stop_wharf
    stop_dovecot
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() { # PORT
    for _ in $(seq 1 300); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# 1. Dovecot: SETUP.md sections 1, 2, 4 (system config), then the private instance
# ---------------------------------------------------------------------------------------
setup_dovecot_system() {
    export DEBIAN_FRONTEND=noninteractive
    local need=()
    dpkg -s dovecot-imapd >/dev/null 2>&1 || need+=(dovecot-imapd)
    dpkg -s ssl-cert >/dev/null 2>&1 || need+=(ssl-cert)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        apt-get update -q
        apt-get install -y -q "${need[@]}"
    fi
    # section 2
    getent group vmail >/dev/null || groupadd -g 5000 vmail
    getent passwd vmail >/dev/null || useradd -u 5000 -g vmail -d /var/mail/vhosts -s /usr/sbin/nologin -M vmail
    mkdir -p /var/mail/vhosts/example.test
    chown vmail:vmail /var/mail/vhosts /var/mail/vhosts/example.test
    chmod 770 /var/mail/vhosts
    grep -qE '^127\.0\.0\.1[[:space:]]+mx\.example\.test' /etc/hosts || echo '127.0.0.1 mx.example.test' >>/etc/hosts
    # section 4 (system Dovecot; not started here)
    sed -i 's/^!include auth-system.conf.ext/#!include auth-system.conf.ext  # disabled (see local.conf)/' \
        /etc/dovecot/conf.d/10-auth.conf
    printf 'alice@example.test:{PLAIN}alice-pw-1\nbob@example.test:{PLAIN}bob-pw-2\n' >/etc/dovecot/users
    chown root:dovecot /etc/dovecot/users
    chmod 640 /etc/dovecot/users
    if ! grep -q 'mail_location = maildir:/var/mail/vhosts/%d/%n' /etc/dovecot/local.conf 2>/dev/null; then
        cat >/etc/dovecot/local.conf <<'EOF'
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = </etc/ssl/certs/ssl-cert-snakeoil.pem
ssl_key = </etc/ssl/private/ssl-cert-snakeoil.key
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:/var/mail/vhosts/%d/%n
first_valid_uid = 5000
last_valid_uid = 5000
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u /etc/dovecot/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=/var/mail/vhosts/%d/%n
}
namespace inbox {
  mailbox Drafts {
    auto = create
    special_use = \Drafts
  }
  mailbox Junk {
    auto = create
    special_use = \Junk
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
  mailbox Sent {
    auto = create
    special_use = \Sent
  }
}
log_path = /var/log/dovecot.log
mail_plugins = $mail_plugins quota
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=0
  quota_max_mail_size = 50M
}
EOF
    fi
}

# The private instance: section 4's local.conf (standalone, so the namespace gets
# `inbox = yes` and `separator = /` that Debian's conf.d would give; ssl off like Wharf's
# plain listener), plus the limits for thousands of connections.
dovecot_conf() {
    cat >"$DV_CONF" <<EOF
base_dir = $DV/run
instance_name = wharf-bench-imap
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$DV/mail/%d/%n
first_valid_uid = 5000
last_valid_uid = 5000
passdb {
  driver = passwd-file
  args = username_format=%u $DV/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$DV/mail/%d/%n
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    auto = create
    special_use = \Drafts
  }
  mailbox Junk {
    auto = create
    special_use = \Junk
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
  mailbox Sent {
    auto = create
    special_use = \Sent
  }
}
log_path = $DV/dovecot.log
mail_plugins = \$mail_plugins quota
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=0
  quota_max_mail_size = 50M
}

# ---- limits raised for the benchmark (thousands of connections from one IP) ----
# Dovecot's defaults: default_process_limit 100, default_client_limit 1000,
# mail_max_userip_connections 10 per user+IP, imap-login one process per connection.
default_process_limit = 10000
default_client_limit = 10500
service imap-login {
  inet_listener imap {
    port = $IMAP_DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
  # "high-performance mode": long-lived login processes, each serving many clients
  service_count = 0
  client_limit = 10000
  process_min_avail = 2
  vsz_limit = 1G
}
service imap {
  # Dovecot's standard model: one imap process per connection (client_limit = 1)
  process_limit = 10000
  client_limit = 1
}
service anvil {
  client_limit = 10500
}
service auth {
  client_limit = 10500
}
protocol imap {
  mail_max_userip_connections = 10000
}
EOF
}

# ---------------------------------------------------------------------------------------
# 2. builds
# ---------------------------------------------------------------------------------------
build() {
    mkdir -p "$BENCH_DIR" "$OUT"
    if [ "${KEEP_OUT:-0}" = 1 ]; then # add to the previous run's results, same binary
        [ -x "$WHARF_BIN" ] || die "no $WHARF_BIN"
        return
    fi
    find "$OUT" -maxdepth 1 -type f ! -name 'load-*' -delete
    : >"$OUT/build.txt"
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "building wharf and imapbench (release, target $CARGO_TARGET_DIR)"
        # Other agents edit the tree at the same time: if it does not build right now, the
        # last built binary is used and the report says so.
        if ! (cd "$REPO" && cargo build --release --bin wharf); then
            log "cargo build --release --bin wharf FAILED; using the existing $WHARF_BUILT"
            echo "build-failed: 1" >>"$OUT/build.txt"
        fi
        (cd "$REPO/bench/imap" && cargo build --release)
    fi
    [ -x "$WHARF_BUILT" ] || die "no $WHARF_BUILT"
    [ -x "$GEN" ] || die "no $GEN"
    # A private copy: other agents rebuild target/release/wharf while we run.
    cp "$WHARF_BUILT" "$WHARF_BIN"
    {
        echo "binary-mtime: $(date -u -r "$WHARF_BUILT" '+%Y-%m-%d %H:%M:%S UTC')"
        if [ -n "${BENCH_WHARF_HEAD:-}" ]; then
            echo "head: $BENCH_WHARF_HEAD"
            echo "dirty: 0"
        else
            echo "head: $(git -C "$REPO" rev-parse --short HEAD)"
            echo "dirty: $(git -C "$REPO" status --porcelain --untracked-files=no -- crates | wc -l)"
        fi
        echo "dovecot: $(dovecot --version)"
    } >>"$OUT/build.txt"
}

all_users() {
    echo alice@example.test bob@example.test big@example.test
    for i in $(seq 1 "$CLIENTS"); do echo "u$i@example.test"; done
}

wharf() { "$WHARF_BIN" --config "$WHARF_CONF" "$@"; }

fresh_data() {
    stop_wharf
    stop_dovecot
    rm -rf "$WHARF_DATA" "$DV"
    mkdir -p "$BENCH_DIR" "$DV/run" "$DV/mail" "$OUT"
    cat >"$WHARF_CONF" <<EOF
hostname = "mx.example.test"
data_dir = "$WHARF_DATA"

[listen]
imap = ["127.0.0.1:$IMAP_WHARF_PORT"]

[limits]
max_connections_per_ip = 0
EOF
    wharf domain add example.test >/dev/null
    local u pw
    for u in $(all_users); do
        case $u in alice@*) pw=alice-pw-1 ;; bob@*) pw=bob-pw-2 ;; *) pw=$PASS ;; esac
        printf '%s\n' "$pw" | wharf user add "$u" --password-stdin >/dev/null
    done
    # The same Argon2id hashes for Dovecot (libsodium verifies any m/t with p=1).
    local db=$WHARF_DATA/wharf.db
    [ -f "$db" ] || die "no $db"
    sqlite3 -separator ':' "$db" "SELECT address, '{ARGON2ID}' || password_hash FROM accounts" >"$DV/users"
    [ "$(grep -c 'argon2id' "$DV/users")" -ge "$(all_users | wc -w)" ] || die "unexpected hashes in $DV/users"
    chown root:dovecot "$DV/users"
    chmod 640 "$DV/users"
    chown vmail:vmail "$DV/mail"
    dovecot_conf
}

start_wharf() {
    stop_wharf
    env ${WHARF_ENV:-} "$WHARF_BIN" --config "$WHARF_CONF" serve >>"$WHARF_LOG" 2>&1 &
    WHARF_PID=$!
    wait_for_port "$IMAP_WHARF_PORT" || die "wharf does not answer on $IMAP_WHARF_PORT (log $WHARF_LOG)"
}
start_dovecot() {
    stop_dovecot
    dovecot -c "$DV_CONF" || die "dovecot did not start (log $DV/dovecot.log)"
    wait_for_port "$IMAP_DOVECOT_PORT" || die "dovecot does not answer on $IMAP_DOVECOT_PORT (log $DV/dovecot.log)"
}

# Memory of a server now: "rss_kib pss_kib nprocs"
dovecot_pids() {
    local m
    m=$(cat "$DV/run/master.pid")
    echo "$m"
    # every descendant of the master (its children are the services)
    ps -e -o pid=,ppid= | awk -v m="$m" '$2 == m { print $1 }'
}
mem_of() { # PIDS... -> rss pss n (KiB, KiB, processes); one awk for all (thousands of pids)
    local p files=()
    for p in "$@"; do [ -r "/proc/$p/smaps_rollup" ] && files+=("/proc/$p/smaps_rollup"); done
    [ ${#files[@]} -gt 0 ] || { echo "0 0 0"; return; }
    # cat goes on past a process that has just exited (awk would stop at the first error)
    cat "${files[@]}" 2>/dev/null | awk '/^Rss:/ { r += $2 } /^Pss:/ { s += $2; n++ } END { print r + 0, s + 0, n + 0 }'
}
mem_server() { # wharf|dovecot
    if [ "$1" = wharf ]; then mem_of "$WHARF_PID"; else mem_of $(dovecot_pids); fi
}
port_of() { if [ "$1" = wharf ]; then echo "$IMAP_WHARF_PORT"; else echo "$IMAP_DOVECOT_PORT"; fi; }

# Wharf indexes message bodies for SEARCH BODY/TEXT in the background after they are
# stored (schema 3); wait until it has caught up, as Dovecot's index is built before
# timing too. Records how long that took after loading ended.
wait_wharf_index() {
    local db=$WHARF_DATA/wharf.db t0 n
    sqlite3 "$db" "SELECT text_state FROM blobs LIMIT 0" 2>/dev/null || return 0
    t0=$(date +%s.%N)
    while :; do
        n=$(sqlite3 "$db" "PRAGMA busy_timeout = 5000; SELECT count(*) FROM blobs b WHERE b.text_state = 0 AND EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.id)" | tail -1)
        [ "$n" = 0 ] && break
        sleep 1
    done
    echo "wharf-index-catchup: $(echo "$(date +%s.%N) - $t0" | bc) s" | tee -a "$OUT/load-big-wharf.txt"
}

# ---------------------------------------------------------------------------------------
# 3. load
# ---------------------------------------------------------------------------------------
load_server() { # wharf|dovecot
    local port
    port=$(port_of "$1")
    if [ "$1" = dovecot ] && [ "$DOVECOT_BIG_LOAD" = maildir ]; then
        # Dovecot's APPEND into one mailbox runs at ~45 msg/s here: write big@'s maildir
        # directly (the same generated messages, LF line ends as Dovecot stores them),
        # then let Dovecot index it before anything is timed.
        if [ "${LOAD_BIG_ONLY:-0}" != 1 ]; then
            log "$1: APPEND $MAILBOX_MSGS messages to each of u1..u$CLIENTS"
            "$GEN" load --addr "127.0.0.1:$port" --users u --first 1 --count "$CLIENTS" --pass "$PASS" \
                --per-user "$MAILBOX_MSGS" --conc 4 | tee "$OUT/load-small-$1.txt"
        fi
        local md=$DV/mail/example.test/big t0
        log "$1: writing $BIG_MSGS messages into $md (maildir, not APPEND)"
        "$GEN" maildir --dir "$md" --first 1 --count "$BIG_MSGS" | tee "$OUT/load-big-$1.txt"
        chown -R vmail:vmail "$DV/mail"
        t0=$(date +%s.%N)
        doveadm -c "$DV_CONF" mailbox status -u big@example.test messages INBOX | tee -a "$OUT/load-big-$1.txt"
        echo "dovecot-index: $(echo "$(date +%s.%N) - $t0" | bc) s" | tee -a "$OUT/load-big-$1.txt"
        return
    fi
    if [ "${LOAD_BIG_ONLY:-0}" = 1 ]; then
        log "$1: APPEND $BIG_MSGS messages to big@example.test"
        "$GEN" load --addr "127.0.0.1:$port" --user big@example.test --pass "$PASS" \
            --per-user "$BIG_MSGS" --conc 16 | tee "$OUT/load-big-$1.txt"
        return
    fi
    log "$1: APPEND $MAILBOX_MSGS messages to each of u1..u$CLIENTS"
    "$GEN" load --addr "127.0.0.1:$port" --users u --first 1 --count "$CLIENTS" --pass "$PASS" \
        --per-user "$MAILBOX_MSGS" --conc 4 | tee "$OUT/load-small-$1.txt"
    log "$1: APPEND $BIG_MSGS messages to big@example.test"
    "$GEN" load --addr "127.0.0.1:$port" --user big@example.test --pass "$PASS" \
        --per-user "$BIG_MSGS" --conc 16 | tee "$OUT/load-big-$1.txt"
}

# ---------------------------------------------------------------------------------------
# 4. measurements
# ---------------------------------------------------------------------------------------
mixed_run() { # server run
    local port la
    port=$(port_of "$1")
    la=$(loadavg)
    log "$1: mixed run $2 ($CLIENTS clients, $MIXED_SECS s; load average $la)"
    "$GEN" mixed --addr "127.0.0.1:$port" --users u --first 1 --count "$CLIENTS" --pass "$PASS" \
        --secs "$MIXED_SECS" --rounds "$ROUNDS" >"$OUT/mixed-$1-$2.txt"
    echo "loadavg: $la" >>"$OUT/mixed-$1-$2.txt"
    cat "$OUT/mixed-$1-$2.txt" >&2
}

search_run() { # server
    local port la
    port=$(port_of "$1")
    la=$(loadavg)
    log "$1: SEARCH BODY zebrafish x$SEARCH_REPS (load average $la)"
    "$GEN" search --addr "127.0.0.1:$port" --user big@example.test --pass "$PASS" --word zebrafish \
        --reps "$SEARCH_REPS" >"$OUT/search-$1.txt"
    echo "loadavg: $la" >>"$OUT/search-$1.txt"
    cat "$OUT/search-$1.txt" >&2
    local w
    for w in $SEARCH_EXTRA_WORDS; do
        la=$(loadavg)
        log "$1: SEARCH BODY $w x$SEARCH_REPS (load average $la)"
        "$GEN" search --addr "127.0.0.1:$port" --user big@example.test --pass "$PASS" --word "$w" \
            --reps "$SEARCH_REPS" >"$OUT/search-$1-$w.txt"
        echo "loadavg: $la" >>"$OUT/search-$1-$w.txt"
        cat "$OUT/search-$1-$w.txt" >&2
    done
}

# Issue 11: long sessions (no re-login) on shared INBOXes, and pure APPEND. Each writes
# per-command lines (`*-op: NAME count= per_s= mean_ms= p50_ms= p99_ms= failed=`) and a
# `*-check: ... consistent=true|false` line (message counts before and after).
longsession_run() { # server run
    local port la
    port=$(port_of "$1")
    la=$(loadavg)
    log "$1: long sessions run $2 ($LONG_CLIENTS clients on $LONG_USERS INBOXes, $LONG_SECS s; load average $la)"
    "$GEN" longsession --addr "127.0.0.1:$port" --users u --first 1 --count "$LONG_USERS" --pass "$PASS" \
        --clients "$LONG_CLIENTS" --secs "$LONG_SECS" >"$OUT/longsession-$1-$2.txt"
    echo "loadavg: $la" >>"$OUT/longsession-$1-$2.txt"
    echo "loadavg-end: $(loadavg)" >>"$OUT/longsession-$1-$2.txt"
    cat "$OUT/longsession-$1-$2.txt" >&2
}
append_run() { # server run [select: 0|1] (1: every client has the mailbox selected)
    local port la sel=${3:-0} kind=append
    [ "$sel" = 1 ] && kind=appendsel
    port=$(port_of "$1")
    la=$(loadavg)
    log "$1: APPEND run $2 ($APPEND_CLIENTS clients into $APPEND_MAILBOX of $LONG_USERS users, selected=$sel, $APPEND_SECS s; load average $la)"
    "$GEN" append --addr "127.0.0.1:$port" --users u --first 1 --count "$LONG_USERS" --pass "$PASS" \
        --clients "$APPEND_CLIENTS" --secs "$APPEND_SECS" --mailbox "$APPEND_MAILBOX" --select "$sel" \
        | sed "s/^append/$kind/" >"$OUT/$kind-$1-$2.txt"
    echo "loadavg: $la" >>"$OUT/$kind-$1-$2.txt"
    echo "loadavg-end: $(loadavg)" >>"$OUT/$kind-$1-$2.txt"
    cat "$OUT/$kind-$1-$2.txt" >&2
}

mem_avail_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }

# idle_run SERVER LABEL: for each N of $IDLE_STEPS, memory before, N connections in IDLE,
# memory with them, release. A step is skipped (and said so) if the memory it would take
# at the per-connection cost of the previous step would leave the machine short: more than
# $IDLE_MEM_CAP_MIB for the server, or less than 4 GiB available afterwards.
idle_run() {
    local server=$1 label=$2 port la base loaded ready gpid n per=0 need avail cur
    port=$(port_of "$server")
    rm -f "$OUT/idle-$label.txt"
    for n in $IDLE_STEPS; do
        sleep 2
        base=$(mem_server "$server")
        # PSS: Dovecot's summed RSS counts its shared libraries once per process
        cur=$(echo "$base" | cut -d' ' -f2)
        avail=$(mem_avail_kib)
        need=$((per * n))
        if [ "$per" -gt 0 ] && { [ $((cur + need)) -gt $((IDLE_MEM_CAP_MIB * 1024)) ] || [ $((avail - need)) -lt $((4 * 1024 * 1024)) ]; }; then
            log "$label: skipping $n connections: at $per KiB each they would need $((need / 1024)) MiB (server now $((cur / 1024)) MiB, cap $IDLE_MEM_CAP_MIB MiB, available $((avail / 1024)) MiB)"
            echo "$n skipped $per $need $cur $avail" >>"$OUT/idle-$label.txt"
            break
        fi
        la=$(loadavg)
        log "$label: memory before: $base (rss KiB, pss KiB, processes); opening $n IDLE connections (load average $la)"
        ready=$OUT/idle-ready-$label-$n
        rm -f "$ready"
        "$GEN" idle --addr "127.0.0.1:$port" --users u --first 1 --count "$IDLE_USERS" --pass "$PASS" \
            --conns "$n" --par 16 --hold 3600 --ready-file "$ready" >"$OUT/idle-$label-$n.log" 2>&1 &
        gpid=$!
        while [ ! -f "$ready" ] && kill -0 "$gpid" 2>/dev/null; do sleep 1; done
        sleep 5 # let the servers settle
        loaded=$(mem_server "$server")
        kill -TERM "$gpid" 2>/dev/null || true
        wait "$gpid" 2>/dev/null || true
        sleep 3
        after=$(mem_server "$server")
        log "$label: $n: with the connections idle: $loaded; after they closed: $after"
        cat "$OUT/idle-$label-$n.log" >&2
        # step: n ok-count base(rss pss procs) loaded(rss pss procs) after(rss pss procs) loadavg
        echo "$n $(cut -d' ' -f1 "$ready" 2>/dev/null || echo 0) $base $loaded $after $la" >>"$OUT/idle-$label.txt"
        per=$(( ($(echo "$loaded" | cut -d' ' -f2) - $(echo "$base" | cut -d' ' -f2)) / n ))
        [ "$per" -gt 0 ] || per=1
    done
}

# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------
setup_dovecot_system
build
if [ "${SKIP_LOAD:-0}" != 1 ]; then
    if [ "${RESUME:-0}" != 1 ]; then
        fresh_data
        rm -f "$WHARF_LOG"
    else
        dovecot_conf # RESUME=1: keep both data dirs, load only the servers in LOAD_SERVERS
    fi
    start_wharf
    start_dovecot
    for s in ${LOAD_SERVERS:-dovecot wharf}; do load_server "$s"; done
    wait_wharf_index
else
    mkdir -p "$OUT"
    dovecot_conf
    start_wharf
    start_dovecot
fi
# Warm up: one SELECT per mailbox on each server (Dovecot builds its index on the first).
for s in dovecot wharf; do
    "$GEN" mixed --addr "127.0.0.1:$(port_of $s)" --users u --first 1 --count "$CLIENTS" --pass "$PASS" \
        --secs 1 --rounds 1 >"$OUT/warmup-$s.txt" || true
done

for phase in $PHASES; do
    case $phase in
    mixed)
        for r in $(seq 1 "$RUNS"); do
            mixed_run dovecot "$r"
            mixed_run wharf "$r"
        done
        ;;
    mixed-long)
        # The same workload with $ROUNDS_LONG rounds per session: one LOGIN per
        # 2 + 7 x $ROUNDS_LONG + 1 commands instead of one per 38.
        for s in dovecot wharf; do
            la=$(loadavg)
            log "$s: mixed, $ROUNDS_LONG rounds per session (load average $la)"
            "$GEN" mixed --addr "127.0.0.1:$(port_of $s)" --users u --first 1 --count "$CLIENTS" --pass "$PASS" \
                --secs "$MIXED_SECS" --rounds "$ROUNDS_LONG" >"$OUT/mixedlong-$s.txt"
            echo "loadavg: $la" >>"$OUT/mixedlong-$s.txt"
            cat "$OUT/mixedlong-$s.txt" >&2
        done
        ;;
    longsession)
        for r in $(seq 1 "$LONG_RUNS"); do
            longsession_run dovecot "$r"
            longsession_run wharf "$r"
        done
        ;;
    append)
        for r in $(seq 1 "$LONG_RUNS"); do
            append_run dovecot "$r"
            append_run wharf "$r"
        done
        ;;
    append-selected)
        for r in $(seq 1 "$LONG_RUNS"); do
            append_run dovecot "$r" 1
            append_run wharf "$r" 1
        done
        ;;
    search)
        search_run dovecot
        search_run wharf
        ;;
    idle)
        case " ${IDLE_SERVERS:-wharf dovecot} " in *" wharf "*) idle_run wharf wharf ;; esac
        case " ${IDLE_SERVERS:-wharf dovecot} " in *" dovecot "*) idle_run dovecot dovecot ;; esac
        # Diagnostic, only if Wharf had to stop early: the same with glibc malloc limited
        # to one arena.
        if grep -q skipped "$OUT/idle-wharf.txt" 2>/dev/null; then
            stop_wharf
            WHARF_ENV="MALLOC_ARENA_MAX=1" start_wharf
            idle_run wharf wharf-arena1
        fi
        ;;
    esac
done

if ! kill -0 "$WHARF_PID" 2>/dev/null; then
    log "WHARF EXITED during the benchmark (log $WHARF_LOG)"
fi
log "raw results in $OUT"
if [ "$WRITE_RESULTS" = 1 ]; then
    # Only the issue-11 phases: splice their subsection into the existing `## IMAP` section.
    long_only=1
    for phase in $PHASES; do case $phase in longsession | append | append-selected) ;; *) long_only=0 ;; esac; done
    LONG_ONLY=$long_only python3 "$REPO/bench/imap/report.py" "$OUT" "$RESULTS" \
        "clients=$CLIENTS mailbox=$MAILBOX_MSGS big=$BIG_MSGS idle_steps=$IDLE_STEPS runs=$RUNS secs=$MIXED_SECS rounds=$ROUNDS rounds_long=$ROUNDS_LONG reps=$SEARCH_REPS long_clients=$LONG_CLIENTS long_users=$LONG_USERS long_secs=$LONG_SECS long_runs=$LONG_RUNS append_clients=$APPEND_CLIENTS append_secs=$APPEND_SECS append_mailbox=$APPEND_MAILBOX phases=${PHASES// /,}"
fi
