#!/usr/bin/env bash
# bench/relay/run.sh - outbound relay throughput: Postfix vs Wharf (issue 5's benchmark).
#
# Run as root on a Debian 12 machine (it installs Postfix and runs a private Postfix
# instance). Loopback only. Idempotent: re-running it works.
#
#   sudo bench/relay/run.sh                       # 10000 messages, 3 runs per server
#   sudo RUNS=1 MESSAGES=2000 bench/relay/run.sh  # a quick check
#
# What it does:
#  1. installs Postfix from Debian's packages if missing, and sets up a *separate* Postfix
#     instance for this benchmark: config in /etc/postfix-relaybench, queue in
#     /var/spool/postfix-relaybench, data in /var/lib/postfix-relaybench, smtpd on
#     127.0.0.1:$PF_PORT, relaying for mynetworks = 127.0.0.0/8, and a transport map
#     `remote.test smtp:[127.0.0.1]:$SINK_PORT`. Postfix's default durability (cleanup
#     fsyncs the queue file before 250) and default concurrency and connection caching.
#     The default instance (/etc/postfix, used by bench/smtp and the peers recipe) is not
#     touched, neither its config nor its queue nor port 25; it may even be running.
#  2. builds Wharf (cargo build --release --bin wharf); per run a fresh data_dir with
#     example.test and alice@example.test, `wharf serve` with only a submission listener
#     on 127.0.0.1:$SUBMISSION_PORT and `[outbound] routes = { "remote.test" =
#     "127.0.0.1:$SINK_PORT" }` (other [outbound] keys at their defaults: concurrency 16).
#  3. per run, a fresh Postfix `smtp-sink` on 127.0.0.1:$SINK_PORT (dump file on tmpfs)
#     plays the remote server for remote.test. bench/relay/submit.py (the same for both)
#     submits $MESSAGES messages of $SIZE bytes, one recipient at remote.test each, over
#     $SESSIONS concurrent connections, $PER_CONN messages per connection; Wharf with AUTH
#     PLAIN as alice@example.test (loopback plaintext AUTH), Postfix without AUTH (port
#     $PF_PORT relays for mynetworks). It times the first connection -> the last 250
#     (accepted), and -> smtp-sink has received $MESSAGES messages (delivered); then it
#     checks the dump: exactly $MESSAGES messages, each X-Bench-Seq once.
#  4. peak memory: Wharf = VmHWM of the wharf process; Postfix = the peak, sampled every
#     ~100 ms, of the summed RSS (and PSS) of the master process and all its children
#     (and OpenDKIM's, when it signs). CPU seconds of the server over the run.
#  Each round runs four configurations: Postfix and Postfix + OpenDKIM (Debian's opendkim
#  as Postfix's signing milter, RSA-2048, the usual way Postfix DKIM-signs), Wharf with its
#  default DKIM signing and Wharf with `dkim_sign = false`: signing is compared with
#  signing, not signing with not signing. Runs that sign are checked to carry one
#  rsa-sha256 DKIM-Signature per message at the sink.
#  5. writes the `## Relay` section of bench/RESULTS.md (other sections are kept).
#
# Environment knobs (defaults in brackets): MESSAGES [10000], SESSIONS [10], PER_CONN [100],
# SIZE [4096], RUNS [3], PF_PORT [10025], SINK_PORT [10026], SUBMISSION_PORT [12587],
# BENCH_DIR [/var/lib/wharf-bench-relay], SINK_DIR [/dev/shm/wharf-relay-sink],
# RESULTS [bench/RESULTS.md], PYTHON [python3], SKIP_BUILD=1 (use the existing
# target/release/wharf), WRITE_RESULTS=0 (print only), ONLY=postfix|wharf (measure one
# server; the section is only written when both were measured), OUT_CONCURRENCY (set
# [outbound] concurrency; unset = Wharf's default), NODKIM [1] (each round also runs Wharf with
# `[mailauth] dkim_sign = false`, the same work as this Postfix, which signs nothing; 0 = skip),
# DKIM_PEER [1] (each round also runs Postfix with OpenDKIM signing; 0 = skip),
# DELIVERY_TIMEOUT [1800], BIN (a wharf binary to use instead of building one, e.g. one built
# from a clean export of a commit while the working tree has others' edits; BIN_VERSION then
# names it in the results).
set -euo pipefail
# wharf reads WHARF_* variables from the environment and refuses unknown ones: keep this
# script's own variables out of the environment of the processes it starts
export -n WHARF_BIN WHARF_CONF WHARF_DATA WHARF_LOGFILE WHARF_PID WHARF_VERSION 2>/dev/null || true

MESSAGES=${MESSAGES:-10000}
SESSIONS=${SESSIONS:-10}
PER_CONN=${PER_CONN:-100}
SIZE=${SIZE:-4096}
RUNS=${RUNS:-3}
PF_PORT=${PF_PORT:-10025}
SINK_PORT=${SINK_PORT:-10026}
SUBMISSION_PORT=${SUBMISSION_PORT:-12587}
BENCH_DIR=${BENCH_DIR:-/var/lib/wharf-bench-relay}
SINK_DIR=${SINK_DIR:-/dev/shm/wharf-relay-sink}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
WRITE_RESULTS=${WRITE_RESULTS:-1}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-1800}
PYTHON=${PYTHON:-python3}
ONLY=${ONLY:-}
OUT_CONCURRENCY=${OUT_CONCURRENCY:-}
NODKIM=${NODKIM:-1}
DKIM_PEER=${DKIM_PEER:-1}
ODK_CONF=/etc/opendkim-relaybench
ODK_PID=

SENDER=alice@example.test
SENDER_PW=alice-relay-pw-1
SUBMIT=$REPO/bench/relay/submit.py
PF_CONF=/etc/postfix-relaybench
PF_QUEUE=/var/spool/postfix-relaybench
PF_DATA=/var/lib/postfix-relaybench
PF_LOG=/var/log/postfix-relaybench.log
PF_PIDFILE=$PF_QUEUE/pid/master.pid
SINK_DUMP=$SINK_DIR/dump
WHARF_BIN=${BIN:-$REPO/target/release/wharf}
WHARF_CONF=$BENCH_DIR/wharf.toml
WHARF_DATA=$BENCH_DIR/data
WHARF_LOGFILE=$BENCH_DIR/wharf.log
WHARF_PID=
SINK_PID=
SAMPLER_PID=

log() { printf 'bench: %s\n' "$*" >&2; }
# stop_proc VAR: SIGTERM the process whose PID the variable VAR holds, reap it, clear VAR
stop_proc() {
    local pid=${!1}
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    printf -v "$1" '%s' ''
}
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
# rate COUNT SECONDS -> messages/s with 1 decimal
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }
# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# col_median FILE N / col_max FILE N: median / highest of column N of a results file
col_median() { median $(awk -v c="$2" '{ print $c }' "$1"); }
col_max() { awk -v c="$2" 'max < $c { max = $c } END { print max }' "$1"; }
per_msg() { awk -v c="$1" -v n="$MESSAGES" 'BEGIN { printf "%.2f", c * 1000 / n }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
json() { "$PYTHON" -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print("" if v is None else v)' "$1" "$2"; }

[ "$(id -u)" = 0 ] || die "run as root (installs Postfix and runs a Postfix instance)"

cleanup() {
    set +e
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=
    stop_wharf
    stop_postfix
    stop_opendkim
    stop_sink
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# 1. Postfix: a private instance (its own config, queue and data directories)
# ---------------------------------------------------------------------------------------
setup_postfix() {
    export DEBIAN_FRONTEND=noninteractive
    local need=()
    dpkg -s postfix >/dev/null 2>&1 || need+=(postfix)
    command -v ps >/dev/null 2>&1 || need+=(procps)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        # the same debconf answers as bench/smtp and the peers recipe
        echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
        echo "postfix postfix/mailname string mx.example.test" | debconf-set-selections
        apt-get update -q
        apt-get install -y -q "${need[@]}"
    fi

    mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA"
    chown postfix: "$PF_DATA"
    # Debian's master.cf (chroot = y for most services), with smtpd on 127.0.0.1:$PF_PORT
    # instead of port 25.
    cp /usr/share/postfix/master.cf.dist "$PF_CONF/master.cf"
    cp /etc/postfix/dynamicmaps.cf "$PF_CONF/"
    [ -d /etc/postfix/dynamicmaps.cf.d ] && cp -r /etc/postfix/dynamicmaps.cf.d "$PF_CONF/"
    printf 'compatibility_level = 3.6\nqueue_directory = %s\ndata_directory = %s\n' "$PF_QUEUE" "$PF_DATA" >"$PF_CONF/main.cf"
    postconf -c "$PF_CONF" -e \
        'myhostname = relay.example.test' 'mydomain = example.test' 'myorigin = $myhostname' \
        'mydestination =' 'local_recipient_maps =' 'alias_maps =' 'alias_database =' 'biff = no' \
        'inet_interfaces = 127.0.0.1' 'inet_protocols = ipv4' 'mynetworks = 127.0.0.0/8' \
        'smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination' \
        "transport_maps = hash:$PF_CONF/transport" \
        "maillog_file = $PF_LOG" 'syslog_name = postfix-relaybench'
    postconf -c "$PF_CONF" -M# smtp/inet
    postconf -c "$PF_CONF" -Me "127.0.0.1:$PF_PORT/inet = 127.0.0.1:$PF_PORT inet n - y - - smtpd"
    echo "remote.test smtp:[127.0.0.1]:$SINK_PORT" >"$PF_CONF/transport"
    postmap "$PF_CONF/transport"
    # What Debian's configure-instance.sh does for the default instance: the files the
    # chrooted daemons need.
    local f
    mkdir -p "$PF_QUEUE/etc"
    for f in localtime services resolv.conf hosts host.conf nsswitch.conf; do
        [ -f "/etc/$f" ] && cp "/etc/$f" "$PF_QUEUE/etc/$f"
    done
    postfix -c "$PF_CONF" check
}

# OpenDKIM as Postfix's signing milter (only for the "Postfix + OpenDKIM" runs): Debian's
# package, its own config in $ODK_CONF, an RSA-2048 key for example.test made by
# opendkim-genkey, relaxed/relaxed like Wharf's signatures; not started at boot. The milter
# socket is a Unix socket inside Postfix's chroot, as Debian sets it up (postfix in the
# opendkim group). Measured: over TCP (inet:127.0.0.1:port) each message took ~90 ms in
# one session instead of ~20 ms.
ODK_DIR=$PF_QUEUE/opendkim
ODK_SOCK=$ODK_DIR/opendkim.sock
setup_opendkim() {
    export DEBIAN_FRONTEND=noninteractive
    if ! command -v opendkim >/dev/null 2>&1 || ! command -v opendkim-genkey >/dev/null 2>&1; then
        log "installing opendkim opendkim-tools"
        apt-get install -y -q opendkim opendkim-tools
    fi
    mkdir -p "$ODK_CONF"
    [ -f "$ODK_CONF/bench.private" ] ||
        opendkim-genkey --bits=2048 --domain=example.test --selector=bench --directory="$ODK_CONF"
    cat >"$ODK_CONF/opendkim.conf" <<EOF
Syslog no
Mode s
Socket local:$ODK_SOCK
UMask 007
Domain example.test
Selector bench
KeyFile $ODK_CONF/bench.private
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
UserID opendkim
InternalHosts 127.0.0.1
Background no
EOF
    chown -R opendkim: "$ODK_CONF"
    mkdir -p "$ODK_DIR"
    chown opendkim:postfix "$ODK_DIR"
    chmod 750 "$ODK_DIR"
    id -nG postfix | grep -qw opendkim || usermod -a -G opendkim postfix
}

start_opendkim() {
    stop_opendkim
    rm -f "$ODK_SOCK"
    opendkim -x "$ODK_CONF/opendkim.conf" </dev/null >"$BENCH_DIR/opendkim.out" 2>&1 &
    ODK_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -S "$ODK_SOCK" ] && return 0
        kill -0 "$ODK_PID" 2>/dev/null || { cat "$BENCH_DIR/opendkim.out" >&2; die "opendkim exited"; }
        sleep 0.1
    done
    die "opendkim does not listen on $ODK_SOCK"
}

stop_opendkim() { stop_proc ODK_PID; }

# postfix_milter on|off: Postfix's smtpd hands mail to OpenDKIM (tempfail if it is down)
postfix_milter() {
    if [ "$1" = on ]; then
        # the path is inside smtpd's chroot ($PF_QUEUE)
        postconf -c "$PF_CONF" -e 'smtpd_milters = unix:/opendkim/opendkim.sock' 'milter_default_action = tempfail'
    else
        postconf -c "$PF_CONF" -X smtpd_milters milter_default_action 2>/dev/null || true
    fi
}

# check_signed NAME: dies unless the sink's dump has one rsa-sha256 DKIM-Signature per message
check_signed() {
    local n
    n=$(grep -c '^DKIM-Signature: v=1; a=rsa-sha256' "$SINK_DUMP" || true)
    [ "$n" = "$MESSAGES" ] || die "$1: $n rsa-sha256 DKIM signatures at the sink for $MESSAGES messages"
}

pf_running() { postfix -c "$PF_CONF" status >/dev/null 2>&1; }

stop_postfix() {
    if pf_running; then postfix -c "$PF_CONF" stop >/dev/null 2>&1; fi
}

pf_queue_count() { # messages anywhere in the instance's queue
    find "$PF_QUEUE"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | wc -l
}

start_postfix() {
    stop_postfix
    postsuper -c "$PF_CONF" -d ALL >/dev/null 2>&1 || true
    [ "$(pf_queue_count)" = 0 ] || die "the relaybench Postfix queue does not empty"
    postfix -c "$PF_CONF" start >/dev/null 2>&1 || { tail -5 "$PF_LOG" >&2; die "postfix -c $PF_CONF start failed"; }
    wait_for_port "$PF_PORT"
}

wait_for_port() { # PORT: until something answers 220 there
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 3 <&3 | grep -q 220 && printf 'QUIT\r\n' >&3) 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "nothing answers 220 on 127.0.0.1:$1"
}

# Peak of the summed RSS and PSS (kB) of Postfix's master and all its children, sampled
# every ~100 ms until killed. Writes "RSS PSS PROCS" (the peaks) to $1 after each sample.
postfix_mem_sampler() {
    local out=$1 master kids rss pss n max_rss=0 max_pss=0 max_n=0
    set +e
    while :; do
        master=$(cat "$PF_PIDFILE" 2>/dev/null | tr -d ' ')
        if [ -n "$master" ]; then
            kids=$(ps -o pid= --ppid "$master" 2>/dev/null | tr '\n' ' ')
            read -r rss pss n < <(
                for p in $master $kids $ODK_PID; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
                    awk '/^Rss:/ { r += $2; n++ } /^Pss:/ { p += $2 } END { print r + 0, p + 0, n + 0 }'
            )
            [ "$rss" -gt "$max_rss" ] && max_rss=$rss
            [ "$pss" -gt "$max_pss" ] && max_pss=$pss
            [ "$n" -gt "$max_n" ] && max_n=$n
            echo "$max_rss $max_pss $max_n" >"$out.tmp" && mv "$out.tmp" "$out"
        fi
        sleep 0.1
    done
}

# CPU ticks (user + system, own + reaped children) of Postfix's master and its live
# children: children that exit are reaped by master and land in its cutime/cstime; and
# of OpenDKIM when it runs.
postfix_cpu_ticks() {
    local master kids p
    master=$(tr -d ' ' <"$PF_PIDFILE")
    kids=$(ps -o pid= --ppid "$master" | tr '\n' ' ')
    for p in $master $kids $ODK_PID; do cat "/proc/$p/stat" 2>/dev/null; echo; done |
        awk 'NF { sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}

# user + system ticks of one process (all its threads)
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
ticks_to_s() { awk -v a="$1" -v b="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }'; }

# Disk sync latency right now (ms per synchronous 4 KiB write, 100 writes with O_DSYNC
# on the benchmark's filesystem): other work on the machine shows up here.
fsync_probe() {
    local f=$BENCH_DIR/fsync-probe s
    s=$(LC_ALL=C dd if=/dev/zero of="$f" bs=4k count=100 oflag=dsync 2>&1 | awk '/copied/ { print $(NF - 3) }')
    rm -f "$f"
    awk -v s="${s:-0}" 'BEGIN { printf "%.2f", s * 10 }'
}

# ---------------------------------------------------------------------------------------
# 2. smtp-sink, the remote server (fresh per run)
# ---------------------------------------------------------------------------------------
SMTP_SINK=
start_sink() {
    stop_sink
    # another listener on the port (e.g. a sink left over from an interrupted run) would
    # take part of the mail
    if ss -Hltn "sport = :$SINK_PORT" 2>/dev/null | grep -q .; then
        die "something already listens on port $SINK_PORT: $(ss -Hltnp "sport = :$SINK_PORT" | head -1)"
    fi
    rm -rf "$SINK_DIR"
    mkdir -p "$SINK_DIR"
    chown nobody "$SINK_DIR"
    # -D: every message is appended to one dump file when its final "." has been read
    # (before the 250), behind the start string (four \001 and a newline) that submit.py
    # counts. The dump is on tmpfs so that the sink's writes cost no disk syncs.
    (cd "$SINK_DIR" && exec setsid "$SMTP_SINK" -u nobody -S '\001\001\001\001\n' -D "$SINK_DUMP" \
        "127.0.0.1:$SINK_PORT" 1024 </dev/null >"$BENCH_DIR/smtp-sink.out" 2>&1) &
    SINK_PID=$!
    wait_for_port "$SINK_PORT"
}

stop_sink() { stop_proc SINK_PID; }

SUBMIT_CMD=()
SUBMIT_OUT=
# submit PORT TAG [AUTH]: runs submit.py; its JSON in SUBMIT_OUT, its exit status in SUBMIT_RC
submit() {
    local port=$1 tag=$2 auth=${3:-}
    SUBMIT_CMD=("$PYTHON" "$SUBMIT" --port "$port" --sessions "$SESSIONS" --messages "$MESSAGES"
        --per-conn "$PER_CONN" --size "$SIZE" --sender "$SENDER" --rcpt-domain remote.test
        --tag "$tag" --sink-dump "$SINK_DUMP" --timeout "$DELIVERY_TIMEOUT")
    [ -n "$auth" ] && SUBMIT_CMD+=(--auth "$auth")
    SUBMIT_RC=0
    "${SUBMIT_CMD[@]}" >"$BENCH_DIR/submit.json" || SUBMIT_RC=$?
    SUBMIT_OUT=$(cat "$BENCH_DIR/submit.json")
}

# check_run NAME JSON: dies unless every message was accepted and arrived exactly once
check_run() {
    local name=$1 out=$2
    if [ "$SUBMIT_RC" != 0 ]; then
        printf '%s\n' "$out" >&2
        die "$name: not every message was accepted, or smtp-sink did not get exactly $MESSAGES unique messages (see the JSON above)"
    fi
}

# run_postfix N [dkim]: one measured run; appends a result line to $PF_RESULTS (to
# $PD_RESULTS with OpenDKIM signing)
run_postfix() {
    local run=$1 dkim=${2:-} memfile=$BENCH_DIR/postfix-mem out load cpu0 cpu1 cpu probe
    local results=$PF_RESULTS what=Postfix
    if [ "$dkim" = dkim ]; then results=$PD_RESULTS what="Postfix + OpenDKIM"; fi
    probe=$(fsync_probe)
    start_sink
    if [ "$dkim" = dkim ]; then
        start_opendkim
        postfix_milter on
    else
        postfix_milter off
    fi
    start_postfix
    rm -f "$memfile"
    postfix_mem_sampler "$memfile" &
    SAMPLER_PID=$!
    sleep 0.3
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    cpu0=$(postfix_cpu_ticks)
    log "$what run $run: submit.py --port $PF_PORT (no AUTH), $MESSAGES messages"
    submit "$PF_PORT" "pf$run"
    out=$SUBMIT_OUT
    cpu1=$(postfix_cpu_ticks)
    cpu=$(ticks_to_s "$cpu0" "$cpu1")
    sleep 0.3
    kill "$SAMPLER_PID" 2>/dev/null
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    check_run "$what" "$out"
    [ "$dkim" != dkim ] || check_signed "$what"
    # the queue files are removed right after the sink's 250; allow for that
    local i
    for i in $(seq 1 100); do
        [ "$(pf_queue_count)" = 0 ] && break
        sleep 0.1
    done
    [ "$(pf_queue_count)" = 0 ] || die "$what: mail left in the queue after delivery ($(pf_queue_count) files)"
    read -r mrss mpss mprocs <"$memfile"
    local acc del conns
    acc=$(json "$out" t_accepted)
    del=$(json "$out" t_delivered)
    conns=$(json "$out" connections)
    log "$what run $run: accepted in ${acc}s ($(rate "$MESSAGES" "$acc")/s), all at smtp-sink after ${del}s ($(rate "$MESSAGES" "$del")/s); peak RSS sum $(mib "$mrss") MiB, PSS sum $(mib "$mpss") MiB ($mprocs processes at most); CPU ${cpu}s"
    echo "$run $acc $del $mrss $mpss $mprocs $cpu $probe $conns $load" >>"$results"
    stop_postfix
    stop_opendkim
    postfix_milter off
    stop_sink
    rm -rf "$SINK_DIR"
}

# ---------------------------------------------------------------------------------------
# 3. Wharf
# ---------------------------------------------------------------------------------------
build_wharf() {
    if [ -n "${BIN:-}" ]; then
        [ -x "$BIN" ] || die "BIN=$BIN is not an executable"
        return 0
    fi
    if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$WHARF_BIN" ]; then
        return 0
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] || die "cargo not found: install Rust >= 1.95 (https://rustup.rs) and re-run"
        export PATH=$HOME/.cargo/bin:$PATH
    fi
    command -v cc >/dev/null 2>&1 || apt-get install -y -q build-essential
    log "building wharf (release)"
    (cd "$REPO" && cargo build --release --bin wharf) >&2
}

stop_wharf() { stop_proc WHARF_PID; }

wharf() { "$WHARF_BIN" --config "$WHARF_CONF" "$@"; }

# start_wharf [DKIM_SIGN]: fresh data_dir, `wharf serve`; DKIM_SIGN = true/false sets
# [mailauth] dkim_sign (unset: Wharf's default)
start_wharf() {
    stop_wharf
    rm -rf "$WHARF_DATA"
    mkdir -p "$BENCH_DIR"
    {
        echo 'hostname = "relay.example.test"'
        echo "data_dir = \"$WHARF_DATA\""
        echo
        echo '[listen]'
        echo "submission = [\"127.0.0.1:$SUBMISSION_PORT\"]"
        echo
        echo '[outbound]'
        echo "routes = { \"remote.test\" = \"127.0.0.1:$SINK_PORT\" }"
        [ -z "$OUT_CONCURRENCY" ] || echo "concurrency = $OUT_CONCURRENCY"
        if [ -n "${1:-}" ]; then
            echo
            echo '[mailauth]'
            echo "dkim_sign = $1"
        fi
    } >"$WHARF_CONF"
    wharf domain add example.test
    echo "$SENDER_PW" | wharf user add "$SENDER" --password-stdin
    # The domain's DKIM keys, generated as an administrator does when publishing the DNS
    # record, not by the first message of the measured run.
    [ "${1:-}" = false ] || wharf dkim show example.test >/dev/null
    "$WHARF_BIN" --config "$WHARF_CONF" serve >"$WHARF_LOGFILE" 2>&1 &
    WHARF_PID=$!
    local i
    for i in $(seq 1 100); do
        if grep -q 'wharf: submission listening on' "$WHARF_LOGFILE"; then
            wait_for_port "$SUBMISSION_PORT"
            return 0
        fi
        kill -0 "$WHARF_PID" 2>/dev/null || { cat "$WHARF_LOGFILE" >&2; die "wharf serve exited"; }
        sleep 0.1
    done
    cat "$WHARF_LOGFILE" >&2
    die "wharf serve did not start listening"
}

wharf_queue_count() { wharf queue list 2>/dev/null | grep -c . || true; }

# run_wharf N [DKIM_SIGN]: one measured run; appends a result line to $WH_RESULTS (to
# $WN_RESULTS with DKIM_SIGN = false)
run_wharf() {
    local run=$1 dkim=${2:-} out hwm cpu0 cpu1 cpu load probe results=$WH_RESULTS what=Wharf
    if [ "$dkim" = false ]; then results=$WN_RESULTS what="Wharf (dkim_sign = false)"; fi
    probe=$(fsync_probe)
    start_sink
    start_wharf "$dkim"
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    cpu0=$(proc_ticks "$WHARF_PID")
    log "$what run $run: submit.py --port $SUBMISSION_PORT --auth $SENDER:..., $MESSAGES messages"
    submit "$SUBMISSION_PORT" "wh$run" "$SENDER:$SENDER_PW"
    out=$SUBMIT_OUT
    cpu1=$(proc_ticks "$WHARF_PID")
    cpu=$(ticks_to_s "$cpu0" "$cpu1")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$WHARF_PID/status")
    check_run "$what" "$out"
    [ "$dkim" = false ] || check_signed "$what"
    # the queue entry is removed once the sink's 250 is recorded; allow for that
    local i n
    for i in $(seq 1 100); do
        n=$(wharf_queue_count)
        [ "$n" = 0 ] && break
        sleep 0.1
    done
    [ "$n" = 0 ] || { wharf queue list | head -5 >&2; die "$what: $n lines in \`wharf queue list\` after delivery"; }
    stop_wharf
    local acc del conns
    acc=$(json "$out" t_accepted)
    del=$(json "$out" t_delivered)
    conns=$(json "$out" connections)
    log "$what run $run: accepted in ${acc}s ($(rate "$MESSAGES" "$acc")/s), all at smtp-sink after ${del}s ($(rate "$MESSAGES" "$del")/s); VmHWM $(mib "$hwm") MiB; CPU ${cpu}s"
    echo "$run $acc $del $hwm $cpu $probe $conns $load" >>"$results"
    stop_sink
    rm -rf "$SINK_DIR"
}

# ---------------------------------------------------------------------------------------
# 4. Results
# ---------------------------------------------------------------------------------------
write_section() {
    local out=$1
    local pf_acc pf_del wh_acc wh_del pf_cpu wh_cpu pf_rss pf_pss wh_hwm
    pf_acc=$(col_median "$PF_RESULTS" 2)
    pf_del=$(col_median "$PF_RESULTS" 3)
    pf_cpu=$(col_median "$PF_RESULTS" 7)
    pf_rss=$(col_max "$PF_RESULTS" 4)
    pf_pss=$(col_max "$PF_RESULTS" 5)
    wh_acc=$(col_median "$WH_RESULTS" 2)
    wh_del=$(col_median "$WH_RESULTS" 3)
    wh_cpu=$(col_median "$WH_RESULTS" 5)
    wh_hwm=$(col_max "$WH_RESULTS" 4)
    local pf_del_rate wh_del_rate ratio ratio_acc verdict
    pf_del_rate=$(rate "$MESSAGES" "$pf_del")
    wh_del_rate=$(rate "$MESSAGES" "$wh_del")
    ratio=$(awk -v a="$wh_del_rate" -v b="$pf_del_rate" 'BEGIN { printf "%.2f", a / b }')
    ratio_acc=$(awk -v a="$(rate "$MESSAGES" "$wh_acc")" -v b="$(rate "$MESSAGES" "$pf_acc")" 'BEGIN { printf "%.2f", a / b }')
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 2 ? "met" : "not met") }')
    local have_wn=0 wn_acc wn_del wn_cpu wn_hwm wn_del_rate wn_ratio
    if [ -s "$WN_RESULTS" ]; then
        have_wn=1
        wn_acc=$(col_median "$WN_RESULTS" 2)
        wn_del=$(col_median "$WN_RESULTS" 3)
        wn_cpu=$(col_median "$WN_RESULTS" 5)
        wn_hwm=$(col_max "$WN_RESULTS" 4)
        wn_del_rate=$(rate "$MESSAGES" "$wn_del")
        wn_ratio=$(awk -v a="$wn_del_rate" -v b="$pf_del_rate" 'BEGIN { printf "%.2f", a / b }')
    fi
    local have_pd=0 pd_acc pd_del pd_cpu pd_rss pd_pss pd_del_rate pd_ratio pd_verdict wn_verdict
    if [ -s "$PD_RESULTS" ]; then
        have_pd=1
        pd_acc=$(col_median "$PD_RESULTS" 2)
        pd_del=$(col_median "$PD_RESULTS" 3)
        pd_cpu=$(col_median "$PD_RESULTS" 7)
        pd_rss=$(col_max "$PD_RESULTS" 4)
        pd_pss=$(col_max "$PD_RESULTS" 5)
        pd_del_rate=$(rate "$MESSAGES" "$pd_del")
        pd_ratio=$(awk -v a="$wh_del_rate" -v b="$pd_del_rate" 'BEGIN { printf "%.2f", a / b }')
        pd_verdict=$(awk -v r="$pd_ratio" 'BEGIN { print (r >= 2 ? "met" : "not met") }')
    fi
    [ "$have_wn" = 1 ] && wn_verdict=$(awk -v r="$wn_ratio" 'BEGIN { print (r >= 2 ? "met" : "not met") }')
    local concurrency=${OUT_CONCURRENCY:-16 (default)}
    {
        echo "## Relay"
        echo
        echo "Outbound relay (issue 5): \`bench/relay/submit.py\` submits $MESSAGES messages of $SIZE bytes,"
        echo "one recipient at remote.test each, over $SESSIONS concurrent connections ($PER_CONN messages per"
        echo "connection), alternately to Postfix and to Wharf; each relays them to Postfix's \`smtp-sink\`"
        echo "on 127.0.0.1:$SINK_PORT, on loopback. Generated by \`bench/relay/run.sh\` on"
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $RUNS run(s) per server, the median is reported."
        echo
        echo "| | delivered messages/s (median) | accepted messages/s (median) | CPU seconds (median; per message) | peak memory (highest run) |"
        echo "|---|---|---|---|---|"
        echo "| Postfix $PF_VERSION (250 = queued, fsynced queue file; relays from port $PF_PORT, no AUTH), no signing | $pf_del_rate | $(rate "$MESSAGES" "$pf_acc") | $pf_cpu; $(per_msg "$pf_cpu") ms | $(mib "$pf_rss") MiB summed RSS of all Postfix processes ($(mib "$pf_pss") MiB summed PSS) |"
        if [ "$have_pd" = 1 ]; then
            echo "| Postfix + OpenDKIM $ODK_VERSION (signing milter, RSA-2048) | $pd_del_rate | $(rate "$MESSAGES" "$pd_acc") | $pd_cpu; $(per_msg "$pd_cpu") ms (Postfix + opendkim) | $(mib "$pd_rss") MiB summed RSS ($(mib "$pd_pss") MiB summed PSS) |"
        fi
        echo "| Wharf $WHARF_VERSION, default settings: DKIM-signs every message (RSA-2048 + Ed25519) (250 = queued: the SQLite commit holding the body, WAL fsynced; submission with AUTH PLAIN) | $wh_del_rate | $(rate "$MESSAGES" "$wh_acc") | $wh_cpu; $(per_msg "$wh_cpu") ms | $(mib "$wh_hwm") MiB (VmHWM of the wharf process) |"
        if [ "$have_wn" = 1 ]; then
            echo "| Wharf, \`[mailauth] dkim_sign = false\` (no signing, like plain Postfix) | $wn_del_rate | $(rate "$MESSAGES" "$wn_acc") | $wn_cpu; $(per_msg "$wn_cpu") ms | $(mib "$wn_hwm") MiB |"
        fi
        echo
        echo "Wharf / Postfix, delivered rate, the same work on both sides (target: at least 2x):"
        echo
        if [ "$have_pd" = 1 ]; then
            echo "- DKIM-signing every message (Wharf's default; Postfix with OpenDKIM): **${pd_ratio}x** ($pd_verdict);"
            echo "  CPU per message $(awk -v a="$wh_cpu" -v b="$pd_cpu" 'BEGIN { printf "%.2f", a / b }')x Postfix + OpenDKIM's."
        fi
        if [ "$have_wn" = 1 ]; then
            echo "- not signing (\`dkim_sign = false\`; plain Postfix): **${wn_ratio}x** ($wn_verdict);"
            echo "  CPU per message $(awk -v a="$wn_cpu" -v b="$pf_cpu" 'BEGIN { printf "%.2f", a / b }')x Postfix's."
        fi
        echo
        echo "Across the two (Wharf signing, Postfix not): ${ratio}x the delivered rate, ${ratio_acc}x the"
        echo "acceptance rate ($verdict as a 2x target, with Wharf doing more work)."
        echo "Every run checked that every message was accepted, that smtp-sink received exactly $MESSAGES"
        echo "messages with each \`X-Bench-Seq\` exactly once (none lost, none duplicated), and that the"
        echo "server's queue was empty afterwards."
        echo
        echo "Runs, in the order they ran (seconds from the first connection; accepted = last 250 to the"
        echo "submitter, delivered = smtp-sink has all $MESSAGES; sync write = ms per O_DSYNC 4 KiB write"
        echo "just before the run, and load average at its start: both show other work on the machine):"
        echo
        echo "| server | run | accepted (s) | delivered (s) | peak memory | CPU (s) | sync write (ms) | load average |"
        echo "|---|---|---|---|---|---|---|---|"
        local i
        for i in $(seq 1 "$RUNS"); do
            awk -v r="$i" -v n="$MESSAGES" '$1 == r {
                printf "| Postfix | %s | %s (%.1f/s) | %s (%.1f/s) | RSS sum %.1f MiB, PSS sum %.1f MiB, %s processes | %s | %s | %s %s %s |\n",
                    $1, $2, n / $2, $3, n / $3, $4 / 1024, $5 / 1024, $6, $7, $8, $10, $11, $12 }' "$PF_RESULTS"
            awk -v r="$i" -v n="$MESSAGES" '$1 == r {
                printf "| Postfix + OpenDKIM | %s | %s (%.1f/s) | %s (%.1f/s) | RSS sum %.1f MiB, PSS sum %.1f MiB, %s processes | %s | %s | %s %s %s |\n",
                    $1, $2, n / $2, $3, n / $3, $4 / 1024, $5 / 1024, $6, $7, $8, $10, $11, $12 }' "$PD_RESULTS"
            awk -v r="$i" -v n="$MESSAGES" '$1 == r {
                printf "| Wharf | %s | %s (%.1f/s) | %s (%.1f/s) | VmHWM %.1f MiB | %s | %s | %s %s %s |\n",
                    $1, $2, n / $2, $3, n / $3, $4 / 1024, $5, $6, $8, $9, $10 }' "$WH_RESULTS"
            awk -v r="$i" -v n="$MESSAGES" '$1 == r {
                printf "| Wharf, no DKIM | %s | %s (%.1f/s) | %s (%.1f/s) | VmHWM %.1f MiB | %s | %s | %s %s %s |\n",
                    $1, $2, n / $2, $3, n / $3, $4 / 1024, $5, $6, $8, $9, $10 }' "$WN_RESULTS"
        done
        echo
        echo "Commands (\`bench/relay/run.sh\` runs them; Postfix and Wharf never run at the same time; a"
        echo "fresh smtp-sink for every run):"
        echo
        echo '```sh'
        echo "$SMTP_SINK -u nobody -S '\\001\\001\\001\\001\\n' -D $SINK_DUMP 127.0.0.1:$SINK_PORT 1024   # the remote server"
        echo "python3 bench/relay/submit.py --port $PF_PORT --sessions $SESSIONS --messages $MESSAGES --per-conn $PER_CONN --size $SIZE --sender $SENDER --rcpt-domain remote.test --tag pfN --sink-dump $SINK_DUMP   # Postfix (with and without OpenDKIM)"
        echo "opendkim -x $ODK_CONF/opendkim.conf   # Postfix + OpenDKIM runs; smtpd_milters = unix:/opendkim/opendkim.sock"
        echo "python3 bench/relay/submit.py --port $SUBMISSION_PORT --sessions $SESSIONS --messages $MESSAGES --per-conn $PER_CONN --size $SIZE --sender $SENDER --rcpt-domain remote.test --tag whN --sink-dump $SINK_DUMP --auth $SENDER:PASSWORD   # Wharf"
        echo '```'
        echo
        echo "How it is measured:"
        echo
        echo "- submit.py (Python smtplib, one thread per connection; MAIL, RCPT, DATA per message, no"
        echo "  pipelining) times from its first connection to the last 250 (accepted) and to the moment"
        echo "  smtp-sink's dump holds $MESSAGES messages (delivered; the dump file is tailed every 20 ms,"
        echo "  smtp-sink appends a message when its final \".\" arrives, before answering 250). The dump is"
        echo "  then checked for lost and duplicated messages (\`X-Bench-Seq\` header)."
        echo "- Postfix: Debian's package, a private instance (\`postfix -c $PF_CONF\`, queue in"
        echo "  $PF_QUEUE, the default instance untouched) with Debian's master.cf, smtpd on"
        echo "  127.0.0.1:$PF_PORT relaying for \`mynetworks = 127.0.0.0/8\`, \`transport_maps\` sending"
        echo "  remote.test to \`smtp:[127.0.0.1]:$SINK_PORT\`, and defaults otherwise: durability (cleanup"
        echo "  fsyncs the queue file before 250), destination concurrency (20), SMTP connection caching."
        echo "  Its memory is the peak, sampled every ~100 ms, of the summed RSS of master and all its"
        echo "  children (smtpd, cleanup, qmgr, trivial-rewrite, smtp, ...); summed RSS counts shared pages"
        echo "  once per process, so the summed PSS is given too."
        echo "- Postfix + OpenDKIM: the same instance with \`smtpd_milters = unix:/opendkim/opendkim.sock\`"
        echo "  (a Unix socket in smtpd's chroot, as Debian sets it up; over TCP each message took"
        echo "  ~90 ms instead of ~20 ms in one session),"
        echo "  \`milter_default_action = tempfail\`, and Debian's opendkim (Mode s, Domain example.test, an"
        echo "  RSA-2048 key from opendkim-genkey, relaxed/relaxed, signs mail from 127.0.0.1); its CPU and"
        echo "  memory are counted with Postfix's. It makes one rsa-sha256 signature per message, Wharf"
        echo "  two (rsa-sha256 and ed25519-sha256). Every signing run (both servers) is checked for one"
        echo "  rsa-sha256 \`DKIM-Signature\` per message at the sink."
        echo "- Wharf: release build, \`wharf serve\` with only \`[listen] submission = [\"127.0.0.1:$SUBMISSION_PORT\"]\`"
        echo "  and \`[outbound] routes = { \"remote.test\" = \"127.0.0.1:$SINK_PORT\" }\`, concurrency $concurrency,"
        echo "  default settings otherwise (info logging to a file), a fresh data_dir under $BENCH_DIR"
        echo "  (same ext4 filesystem as Postfix's queue), alice@example.test created with \`wharf user"
        echo "  add\`; every connection logs in with AUTH PLAIN (an Argon2id check the first time, then the"
        echo "  auth cache, \`[limits] auth_cache_secs\`) before its $PER_CONN"
        echo "  messages, which Postfix's port $PF_PORT does not ask for. Wharf's default \`[mailauth]\`"
        echo "  DKIM-signs submitted mail for its own domains (rsa-sha256 and ed25519-sha256 signatures, keys"
        echo "  generated in the data_dir before \`wharf serve\` starts, by \`wharf dkim show example.test\`, as"
        echo "  an administrator publishing the DNS record does), compared with Postfix + OpenDKIM; the"
        echo "  \"no DKIM\" runs set \`[mailauth] dkim_sign = false\`, compared with plain Postfix. Memory = VmHWM from"
        echo "  /proc/PID/status after the run."
        echo "- CPU = user + system seconds of the server from before the first connection until smtp-sink"
        echo "  has every message: for Wharf the wharf process (all threads); for Postfix master and its"
        echo "  children, including children that exited (reaped into master's cutime/cstime). The"
        echo "  submitter's and smtp-sink's CPU are not counted for either."
        echo
        echo "Machine:"
        echo
        echo '```'
        echo "nproc: $(nproc)    CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        free -h
        echo "$(. /etc/os-release && echo "$PRETTY_NAME") (Debian $(cat /etc/debian_version)), kernel $(uname -r)"
        echo "filesystem: $(df -T "$BENCH_DIR" | awk 'NR == 2 { print $2 " on " $1 }'); smtp-sink's dump on $(df -T "$(dirname "$SINK_DIR")" | awk 'NR == 2 { print $2 }')"
        echo "Postfix $PF_VERSION (Debian package $(dpkg-query -W -f '${Version}' postfix))${ODK_VERSION:+; OpenDKIM $ODK_VERSION}"
        echo "Wharf $WHARF_VERSION, $RUSTC_VERSION; $("$PYTHON" --version 2>&1)"
        echo '```'
        echo
    } >"$out"
}

# Replace (or append) the `## Relay` section of $RESULTS with the file $1.
update_results() {
    local section=$1 tmp
    if [ ! -f "$RESULTS" ]; then
        printf '# Wharf benchmarks\n\nEach section is written by the script named in it; re-run the script to refresh it.\n\n' >"$RESULTS"
    fi
    tmp=$(mktemp "$RESULTS.XXXXXX")
    awk -v sect="$section" '
        function emit() { while ((getline l < sect) > 0) print l; done = 1 }
        /^## / { if (skip) skip = 0; if ($0 == "## Relay") { emit(); skip = 1; next } }
        !skip { print }
        END { if (!done) { print ""; emit() } }
    ' "$RESULTS" >"$tmp"
    # squeeze runs of blank lines left by the splice
    cat -s "$tmp" >"$RESULTS"
    rm -f "$tmp"
    log "wrote the ## Relay section of $RESULTS"
}

# ---------------------------------------------------------------------------------------
main() {
    mkdir -p "$BENCH_DIR"
    PF_RESULTS=$BENCH_DIR/postfix.runs
    WH_RESULTS=$BENCH_DIR/wharf.runs
    WN_RESULTS=$BENCH_DIR/wharf-nodkim.runs
    : >"$WN_RESULTS"
    PD_RESULTS=$BENCH_DIR/postfix-opendkim.runs
    : >"$PD_RESULTS"
    : >"$PF_RESULTS"
    : >"$WH_RESULTS"

    setup_postfix
    SMTP_SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
    [ -x "$SMTP_SINK" ] || die "smtp-sink not found (it ships in Debian's postfix package)"
    PF_VERSION=$(postconf -h mail_version)
    ODK_VERSION=
    if [ "$DKIM_PEER" = 1 ] && [ "$ONLY" != wharf ]; then
        setup_opendkim
        ODK_VERSION="$(opendkim -V | awk 'NR == 1 { print $NF }') (Debian package $(dpkg-query -W -f '${Version}' opendkim))"
    fi

    [ "$ONLY" = postfix ] || build_wharf
    if [ -n "${BIN:-}" ]; then
        WHARF_VERSION=${BIN_VERSION:-"(binary $BIN)"}
    else
        WHARF_VERSION=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [ -n "$(cd "$REPO" && git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
            WHARF_VERSION="$WHARF_VERSION (+ uncommitted changes)"
        fi
    fi
    RUSTC_VERSION=$(rustc --version 2>/dev/null || echo "rustc ?")

    # Runs alternate (Postfix 1, Wharf 1, Postfix 2, ...) so that other load on the machine
    # falls on both alike; only one server runs at a time.
    local i
    for i in $(seq 1 "$RUNS"); do
        [ "$ONLY" = wharf ] || run_postfix "$i"
        [ "$ONLY" = wharf ] || [ "$DKIM_PEER" != 1 ] || run_postfix "$i" dkim
        [ "$ONLY" = postfix ] || run_wharf "$i"
        [ "$ONLY" = postfix ] || [ "$NODKIM" != 1 ] || run_wharf "$i" false
    done

    if [ -n "$ONLY" ]; then
        log "ONLY=$ONLY: results in $PF_RESULTS / $WH_RESULTS; the section is written only when both servers ran"
        return 0
    fi
    local section=$BENCH_DIR/section.md
    write_section "$section"
    cat "$section"
    if [ "$WRITE_RESULTS" = 1 ]; then update_results "$section"; fi
}

main "$@"
