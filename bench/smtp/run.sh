#!/usr/bin/env bash
# bench/smtp/run.sh - inbound SMTP throughput: Postfix vs Wharf (issue 2, section 5).
#
# Run as root on a Debian 12 machine (it installs Postfix, creates the vmail user, edits
# /etc/hosts and Postfix's main.cf). Loopback only. Idempotent: re-running it works.
#
#   sudo bench/smtp/run.sh             # 3 runs of smtp-source -s 20 -m 20000 -l 4096 per server
#   RUNS=1 MESSAGES=2000 bench/smtp/run.sh
#
# What it does:
#  1. installs Postfix from Debian's packages and configures it as in the peers recipe
#     (example.test as a virtual mailbox domain, maildirs under /var/mail/vhosts, Postfix's
#     default durability: the queue file is fsynced before 250, the maildir file before the
#     queue file is removed). Postfix listens on 127.0.0.1:25.
#  2. builds Wharf (cargo build --release --bin wharf), makes a fresh data_dir with
#     example.test, alice@ and bob@, and starts `wharf serve` with only an smtp listener on
#     127.0.0.1:$WHARF_PORT. Wharf's data_dir is under /var/lib, on the same filesystem as
#     Postfix's queue and maildirs, so fsync costs the same for both.
#  3. runs Postfix's own smtp-source against both, one server at a time, and times it.
#     For Postfix a second time is taken: until every message is in alice's maildir
#     (Postfix's 250 means "queued"; Wharf's 250 means "in the mailbox").
#  4. peak memory: Wharf = VmHWM of the wharf process; Postfix = the peak, sampled every
#     ~100 ms, of the summed RSS (and PSS) of the master process and all its children.
#  5. checks that exactly $MESSAGES messages arrived (a run that lost mail reports no rate).
#  6. writes the `## SMTP` section of bench/RESULTS.md (other sections are kept).
#
# Environment knobs (defaults in brackets): SESSIONS [20], MESSAGES [20000], SIZE [4096],
# RUNS [3], WHARF_PORT [12525], BENCH_DIR [/var/lib/wharf-bench], RESULTS [bench/RESULTS.md],
# SKIP_BUILD=1 (use the existing target/release/wharf), WRITE_RESULTS=0 (print only),
# ONLY=postfix (measure Postfix only, e.g. while the Wharf tree does not build).
set -euo pipefail

SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-20000}
SIZE=${SIZE:-4096}
RUNS=${RUNS:-3}
WHARF_PORT=${WHARF_PORT:-12525}
BENCH_DIR=${BENCH_DIR:-/var/lib/wharf-bench}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
WRITE_RESULTS=${WRITE_RESULTS:-1}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-1800}

SENDER=sender@remote.test
RCPT=alice@example.test
MAILDIR=/var/mail/vhosts/example.test/alice
PF_PIDFILE=/var/spool/postfix/pid/master.pid
WHARF_BIN=$REPO/target/release/wharf
WHARF_CONF=$BENCH_DIR/wharf.toml
WHARF_DATA=$BENCH_DIR/data
WHARF_LOG=$BENCH_DIR/wharf.log
WHARF_PID=
SAMPLER_PID=
PF_STARTED_BY_US=0
WHARF_NO_SMTP=0

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
# elapsed START END -> seconds with 3 decimals
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# rate COUNT SECONDS -> messages/s with 1 decimal
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }
# median of the arguments (numbers)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
per_msg() { awk -v c="$1" -v n="$MESSAGES" 'BEGIN { printf "%.2f", c * 1000 / n }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

[ "$(id -u)" = 0 ] || die "run as root (installs and configures Postfix)"

cleanup() {
    set +e
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=
    stop_wharf
    if [ "$PF_STARTED_BY_US" = 1 ]; then
        postfix stop >/dev/null 2>&1
        PF_STARTED_BY_US=0
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# 1. Postfix, per /work/shared/peers/SETUP.md sections 1-3 (Postfix part only)
# ---------------------------------------------------------------------------------------
setup_postfix() {
    export DEBIAN_FRONTEND=noninteractive
    local need=()
    dpkg -s postfix >/dev/null 2>&1 || need+=(postfix)
    dpkg -s ssl-cert >/dev/null 2>&1 || need+=(ssl-cert)
    command -v ps >/dev/null 2>&1 || need+=(procps)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
        echo "postfix postfix/mailname string mx.example.test" | debconf-set-selections
        apt-get update -q
        apt-get install -y -q "${need[@]}"
    fi

    getent group vmail >/dev/null || groupadd -g 5000 vmail
    getent passwd vmail >/dev/null || useradd -u 5000 -g vmail -d /var/mail/vhosts -s /usr/sbin/nologin -M vmail
    mkdir -p /var/mail/vhosts/example.test
    chown -R vmail:vmail /var/mail/vhosts
    chmod 770 /var/mail/vhosts
    grep -qE '^127\.0\.0\.1[[:space:]]+mx\.example\.test' /etc/hosts || echo '127.0.0.1 mx.example.test' >>/etc/hosts
    echo mx.example.test >/etc/mailname

    postconf -e \
        'myhostname = mx.example.test' 'mydomain = example.test' 'myorigin = $myhostname' \
        'mydestination = $myhostname, localhost' \
        'inet_interfaces = loopback-only' 'inet_protocols = ipv4' \
        'mynetworks = 192.0.2.1/32' \
        'smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination' \
        'virtual_mailbox_domains = example.test' 'virtual_mailbox_base = /var/mail/vhosts' \
        'virtual_mailbox_maps = hash:/etc/postfix/vmailbox' 'virtual_alias_maps = hash:/etc/postfix/virtual' \
        'virtual_uid_maps = static:5000' 'virtual_gid_maps = static:5000' 'virtual_minimum_uid = 5000' \
        'smtputf8_enable = yes' 'message_size_limit = 10240000' \
        'smtpd_tls_security_level = may' 'smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem' \
        'smtpd_tls_key_file = /etc/ssl/private/ssl-cert-snakeoil.key' \
        'smtpd_forbid_bare_newline = normalize' 'smtpd_forbid_bare_newline_exclusions =' \
        'maillog_file = /var/log/postfix.log'
    printf 'alice@example.test example.test/alice/\nbob@example.test example.test/bob/\n' >/etc/postfix/vmailbox
    printf 'team@example.test alice@example.test,bob@example.test\n' >/etc/postfix/virtual
    postmap /etc/postfix/vmailbox
    postmap /etc/postfix/virtual
    postfix check
}

start_postfix() {
    /usr/lib/postfix/configure-instance.sh - # Debian: copy hosts/resolv.conf etc. into the chroot
    if postfix status >/dev/null 2>&1; then
        log "Postfix was already running: reloading it (it will be left running)"
        postfix reload >/dev/null 2>&1
    else
        postfix start >/dev/null 2>&1
        PF_STARTED_BY_US=1
    fi
    wait_for_port 25
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

maildir_count() { # messages in alice's maildir (new + cur)
    if [ -d "$MAILDIR" ]; then
        find "$MAILDIR/new" "$MAILDIR/cur" -maxdepth 1 -type f 2>/dev/null | wc -l
    else
        echo 0
    fi
}

reset_postfix() {
    postsuper -d ALL >/dev/null 2>&1 || true
    rm -rf /var/mail/vhosts/example.test/alice /var/mail/vhosts/example.test/bob
    local i
    for i in $(seq 1 100); do
        postqueue -p 2>/dev/null | grep -q 'Mail queue is empty' && return 0
        sleep 0.1
    done
    die "Postfix's queue does not empty"
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
                for p in $master $kids; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
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
# children: children that exit are reaped by master and land in its cutime/cstime.
postfix_cpu_ticks() {
    local master kids p
    master=$(tr -d ' ' <"$PF_PIDFILE")
    kids=$(ps -o pid= --ppid "$master" | tr '\n' ' ')
    for p in $master $kids; do cat "/proc/$p/stat" 2>/dev/null; echo; done |
        awk 'NF { sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}

# Disk sync latency right now (ms per synchronous 4 KiB write, 100 writes with O_DSYNC
# on the benchmark's filesystem): other work on the machine shows up here.
fsync_probe() {
    local f=$BENCH_DIR/fsync-probe s
    s=$(LC_ALL=C dd if=/dev/zero of="$f" bs=4k count=100 oflag=dsync 2>&1 | awk '/copied/ { print $(NF - 3) }')
    rm -f "$f"
    awk -v s="${s:-0}" 'BEGIN { printf "%.2f", s * 10 }'
}

SMTP_SOURCE=

# run_postfix N: one measured run; appends a result line to $PF_RESULTS
run_postfix() {
    local run=$1 memfile=$BENCH_DIR/postfix-mem t0 t1 t2 count load out cpu0 cpu1 cpu probe
    start_postfix
    reset_postfix
    rm -f "$memfile"
    probe=$(fsync_probe)
    postfix_mem_sampler "$memfile" &
    SAMPLER_PID=$!
    sleep 0.3
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    cpu0=$(postfix_cpu_ticks)
    log "Postfix run $run: $SMTP_SOURCE -s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RCPT 127.0.0.1:25"
    t0=$(now)
    if ! out=$("$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" -t "$RCPT" 127.0.0.1:25 2>&1); then
        printf '%s\n' "$out" >&2
        die "smtp-source against Postfix failed"
    fi
    t1=$(now)
    [ -z "$out" ] || printf '%s\n' "$out" >&2
    # wait until every message is in the maildir
    while :; do
        count=$(maildir_count)
        [ "$count" -ge "$MESSAGES" ] && break
        if [ "$(elapsed "$t1" "$(now)" | cut -d. -f1)" -ge "$DELIVERY_TIMEOUT" ]; then
            die "Postfix delivered only $count of $MESSAGES messages within ${DELIVERY_TIMEOUT}s; see /var/log/postfix.log"
        fi
        sleep 0.1
    done
    t2=$(now)
    cpu1=$(postfix_cpu_ticks)
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
    sleep 0.5
    kill "$SAMPLER_PID" 2>/dev/null
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    count=$(maildir_count)
    [ "$count" -eq "$MESSAGES" ] || die "Postfix: $count messages in $MAILDIR, expected exactly $MESSAGES"
    postqueue -p | grep -q 'Mail queue is empty' || die "Postfix: mail left in the queue after delivery"
    read -r mrss mpss mprocs <"$memfile"
    local acc del
    acc=$(elapsed "$t0" "$t1")
    del=$(elapsed "$t0" "$t2")
    log "Postfix run $run: accepted in ${acc}s ($(rate "$MESSAGES" "$acc")/s), all in the maildir after ${del}s ($(rate "$MESSAGES" "$del")/s); peak RSS sum $(mib "$mrss") MiB, PSS sum $(mib "$mpss") MiB ($mprocs processes at most); CPU ${cpu}s"
    echo "$run $acc $del $mrss $mpss $mprocs $cpu $probe $load" >>"$PF_RESULTS"
    reset_postfix
    if [ "$PF_STARTED_BY_US" = 1 ]; then
        postfix stop >/dev/null 2>&1
        PF_STARTED_BY_US=0
    fi
}

# ---------------------------------------------------------------------------------------
# 2. Wharf
# ---------------------------------------------------------------------------------------
build_wharf() {
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

stop_wharf() {
    if [ -n "$WHARF_PID" ] && kill -0 "$WHARF_PID" 2>/dev/null; then
        kill -TERM "$WHARF_PID"
        wait "$WHARF_PID" 2>/dev/null || true
    fi
    WHARF_PID=
}

# start_wharf: fresh data_dir, domain and users, `wharf serve`; sets WHARF_NO_SMTP=1 if the
# binary does not serve SMTP yet.
start_wharf() {
    stop_wharf
    rm -rf "$WHARF_DATA"
    mkdir -p "$BENCH_DIR"
    cat >"$WHARF_CONF" <<EOF
hostname = "mx.example.test"
data_dir = "$WHARF_DATA"

[listen]
smtp = ["127.0.0.1:$WHARF_PORT"]
EOF
    # The script's own WHARF_PORT / WHARF_LOG knobs are not wharf settings: if the caller
    # exported them, wharf would refuse WHARF_PORT as an unknown key and read WHARF_LOG
    # as its log filter. Keep them out of its environment.
    local w=(env -u WHARF_PORT -u WHARF_LOG "$WHARF_BIN" --config "$WHARF_CONF")
    "${w[@]}" domain add example.test
    echo alice-pw-1 | "${w[@]}" user add alice@example.test --password-stdin
    echo bob-pw-2 | "${w[@]}" user add bob@example.test --password-stdin
    "${w[@]}" serve >"$WHARF_LOG" 2>&1 &
    WHARF_PID=$!
    local i
    for i in $(seq 1 100); do
        if grep -q 'wharf: smtp listening on' "$WHARF_LOG"; then
            wait_for_port "$WHARF_PORT"
            return 0
        fi
        if grep -q 'wharf: smtp is not implemented yet' "$WHARF_LOG"; then
            stop_wharf
            WHARF_NO_SMTP=1
            return 0
        fi
        kill -0 "$WHARF_PID" 2>/dev/null || { cat "$WHARF_LOG" >&2; die "wharf serve exited"; }
        sleep 0.1
    done
    cat "$WHARF_LOG" >&2
    die "wharf serve did not start listening"
}

wharf_count() { # alice's message count per `wharf user list`
    "$WHARF_BIN" --config "$WHARF_CONF" user list |
        awk -F'\t' -v u="$RCPT" '$1 == u { for (i = 2; i <= NF; i++) if ($i ~ /^messages=/) { sub(/^messages=/, "", $i); sub(/\/.*/, "", $i); print $i } }'
}

# run_wharf N: one measured run; appends a result line to $WH_RESULTS
run_wharf() {
    local run=$1 t0 t1 count hwm cpu load out probe
    probe=$(fsync_probe)
    start_wharf
    [ "$WHARF_NO_SMTP" = 0 ] || return 0
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    log "Wharf run $run: $SMTP_SOURCE -s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RCPT 127.0.0.1:$WHARF_PORT"
    t0=$(now)
    if ! out=$("$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" -t "$RCPT" "127.0.0.1:$WHARF_PORT" 2>&1); then
        printf '%s\n' "$out" >&2
        die "smtp-source against Wharf failed (log: $WHARF_LOG)"
    fi
    t1=$(now)
    [ -z "$out" ] || printf '%s\n' "$out" >&2
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$WHARF_PID/status")
    # user + system CPU seconds of the wharf process (fields 14 and 15 of /proc/PID/stat)
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$WHARF_PID/stat")
    count=$(wharf_count)
    stop_wharf
    [ "$count" = "$MESSAGES" ] || die "Wharf: alice has ${count:-?} messages, expected exactly $MESSAGES"
    local acc
    acc=$(elapsed "$t0" "$t1")
    log "Wharf run $run: accepted and stored in ${acc}s ($(rate "$MESSAGES" "$acc")/s); VmHWM $(mib "$hwm") MiB; CPU ${cpu}s"
    echo "$run $acc $hwm $cpu $probe $load" >>"$WH_RESULTS"
}

# ---------------------------------------------------------------------------------------
# 6. Results
# ---------------------------------------------------------------------------------------
write_section() {
    local out=$1 wharf_ok=$2
    local pf_acc pf_del wh_acc pf_acc_rate pf_del_rate wh_rate
    pf_acc=$(median $(awk '{ print $2 }' "$PF_RESULTS"))
    pf_del=$(median $(awk '{ print $3 }' "$PF_RESULTS"))
    pf_acc_rate=$(rate "$MESSAGES" "$pf_acc")
    pf_del_rate=$(rate "$MESSAGES" "$pf_del")
    local pf_rss pf_pss pf_cpu
    pf_cpu=$(median $(awk '{ print $7 }' "$PF_RESULTS"))
    pf_rss=$(awk 'max < $4 { max = $4 } END { print max }' "$PF_RESULTS")
    pf_pss=$(awk 'max < $5 { max = $5 } END { print max }' "$PF_RESULTS")
    {
        echo "## SMTP"
        echo
        echo "Inbound SMTP (issue 2 section 5): Postfix's own \`smtp-source\` sends $MESSAGES messages of"
        echo "$SIZE bytes over $SESSIONS parallel sessions (one message per connection, smtp-source's"
        echo "default) to one local mailbox, alternately to Postfix and to Wharf, on loopback. Generated by"
        echo "\`bench/smtp/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $RUNS run(s) per server, the median is reported."
        echo
        if [ "$wharf_ok" = 1 ]; then
            wh_acc=$(median $(awk '{ print $2 }' "$WH_RESULTS"))
            wh_rate=$(rate "$MESSAGES" "$wh_acc")
            local wh_hwm ratio_acc ratio_del wh_cpu
            wh_cpu=$(median $(awk '{ print $4 }' "$WH_RESULTS"))
            wh_hwm=$(awk 'max < $3 { max = $3 } END { print max }' "$WH_RESULTS")
            ratio_acc=$(awk -v a="$wh_rate" -v b="$pf_acc_rate" 'BEGIN { printf "%.2f", a / b }')
            ratio_del=$(awk -v a="$wh_rate" -v b="$pf_del_rate" 'BEGIN { printf "%.2f", a / b }')
            echo "| | messages/s (median) | CPU seconds (median; per message) | peak memory (highest run) |"
            echo "|---|---|---|---|"
            echo "| Postfix $PF_VERSION, 250 = queued (fsynced queue file) | $pf_acc_rate | $pf_cpu; $(per_msg "$pf_cpu") ms | $(mib "$pf_rss") MiB summed RSS of all Postfix processes ($(mib "$pf_pss") MiB summed PSS) |"
            echo "| Postfix, until every message is in the maildir | $pf_del_rate | (same runs) | (same runs) |"
            echo "| Wharf $WHARF_VERSION, 250 = in the mailbox (fsynced body + SQLite commit) | $wh_rate | $wh_cpu; $(per_msg "$wh_cpu") ms | $(mib "$wh_hwm") MiB (VmHWM of the wharf process) |"
            echo
            echo "**Wharf / Postfix: ${ratio_acc}x** Postfix's acceptance rate, ${ratio_del}x its delivery-to-maildir rate"
            echo "(target: 2x, with every message durable). CPU per message: Wharf uses"
            echo "$(awk -v a="$wh_cpu" -v b="$pf_cpu" 'BEGIN { printf "%.2f", a / b }')x Postfix's (median CPU seconds, Wharf / Postfix)."
            echo "Every run checked that exactly $MESSAGES messages arrived (Postfix: files in alice's maildir; Wharf: \`wharf user list\` → \`messages=$MESSAGES/-\`)."
        else
            echo "| | messages/s (median) | CPU seconds (median; per message) | peak memory (highest run) |"
            echo "|---|---|---|---|"
            echo "| Postfix $PF_VERSION, 250 = queued (fsynced queue file) | $pf_acc_rate | $pf_cpu; $(per_msg "$pf_cpu") ms | $(mib "$pf_rss") MiB summed RSS of all Postfix processes ($(mib "$pf_pss") MiB summed PSS) |"
            echo "| Postfix, until every message is in the maildir | $pf_del_rate | (same runs) | (same runs) |"
            echo "| Wharf $WHARF_VERSION | not measured (this build does not serve SMTP yet, or ONLY=postfix) | | |"
        fi
        echo
        echo "Runs, in the order they ran (seconds from the first connection; sync write = ms per O_DSYNC"
        echo "4 KiB write just before the run, and load average at its start: both show other work on"
        echo "the machine):"
        echo
        echo "| server | run | accepted (s) | in maildir (s) | peak memory | CPU (s) | sync write (ms) | load average |"
        echo "|---|---|---|---|---|---|---|---|"
        local i
        for i in $(seq 1 "$RUNS"); do
            awk -v r="$i" -v n="$MESSAGES" '$1 == r {
                printf "| Postfix | %s | %s (%.1f/s) | %s (%.1f/s) | RSS sum %.1f MiB, PSS sum %.1f MiB, %s processes | %s | %s | %s %s %s |\n",
                    $1, $2, n / $2, $3, n / $3, $4 / 1024, $5 / 1024, $6, $7, $8, $9, $10, $11 }' "$PF_RESULTS"
            awk -v r="$i" -v n="$MESSAGES" '$1 == r {
                printf "| Wharf | %s | %s (%.1f/s) | (same) | VmHWM %.1f MiB | %s | %s | %s %s %s |\n",
                    $1, $2, n / $2, $3 / 1024, $4, $5, $6, $7, $8 }' "$WH_RESULTS"
        done
        echo
        echo "Commands (\`bench/smtp/run.sh\` runs them; Postfix and Wharf never run at the same time):"
        echo
        echo '```sh'
        echo "$SMTP_SOURCE -s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RCPT 127.0.0.1:25      # Postfix"
        echo "$SMTP_SOURCE -s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RCPT 127.0.0.1:$WHARF_PORT   # Wharf"
        echo '```'
        echo
        echo "How it is measured:"
        echo
        echo "- Wall clock around \`smtp-source\`, which exits after the last 250 and QUIT. For Postfix"
        echo "  a second clock runs until \`find $MAILDIR/{new,cur} -type f | wc -l\`"
        echo "  reaches $MESSAGES (polled every 100 ms)."
        echo "- Postfix: Debian's package with the peers recipe (example.test a virtual mailbox domain,"
        echo "  virtual(8) writing maildirs, \`smtpd_forbid_bare_newline = normalize\`) and default"
        echo "  durability (queue file fsynced before 250; virtual(8) fsyncs the maildir file). Its memory is"
        echo "  the peak, sampled every ~100 ms, of the summed RSS of master and all its children (smtpd,"
        echo "  cleanup, qmgr, trivial-rewrite, virtual, ...); summed RSS counts shared pages (libc, the"
        echo "  Postfix libraries) once per process, so the summed PSS is given too."
        echo "- Wharf: release build, \`wharf serve\` with only \`[listen] smtp = [\"127.0.0.1:$WHARF_PORT\"]\`,"
        echo "  default settings otherwise (info logging to a file), a fresh data_dir under $BENCH_DIR"
        echo "  (same ext4 filesystem as Postfix's queue and maildirs), users created with"
        echo "  \`wharf user add\`. Memory = VmHWM from /proc/PID/status after the run."
        echo "- CPU = user + system seconds of the server over the run: for Wharf the wharf process (all"
        echo "  threads); for Postfix master and its children, including children that exited (reaped into"
        echo "  master's cutime/cstime), from before smtp-source until the last message is in the maildir."
        echo "  smtp-source's own CPU is not counted for either."
        echo "- Both servers log one line per message (Postfix to /var/log/postfix.log)."
        echo
        echo "Machine:"
        echo
        echo '```'
        echo "nproc: $(nproc)    CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        free -h
        echo "$(. /etc/os-release && echo "$PRETTY_NAME") (Debian $(cat /etc/debian_version)), kernel $(uname -r)"
        echo "filesystem: $(df -T "$BENCH_DIR" | awk 'NR == 2 { print $2 " on " $1 }')"
        echo "Postfix $PF_VERSION (Debian package $(dpkg-query -W -f '${Version}' postfix))"
        echo "Wharf $WHARF_VERSION, $RUSTC_VERSION"
        echo '```'
        echo
    } >"$out"
}

# Replace (or append) the `## SMTP` section of $RESULTS with the file $1.
update_results() {
    local section=$1 tmp
    if [ ! -f "$RESULTS" ]; then
        printf '# Wharf benchmarks\n\nEach section is written by the script named in it; re-run the script to refresh it.\n\n' >"$RESULTS"
    fi
    tmp=$(mktemp "$RESULTS.XXXXXX")
    awk -v sect="$section" '
        function emit() { while ((getline l < sect) > 0) print l; done = 1 }
        /^## / { if (skip) skip = 0; if ($0 == "## SMTP") { emit(); skip = 1; next } }
        !skip { print }
        END { if (!done) { print ""; emit() } }
    ' "$RESULTS" >"$tmp"
    # squeeze runs of blank lines left by the splice
    cat -s "$tmp" >"$RESULTS"
    rm -f "$tmp"
    log "wrote the ## SMTP section of $RESULTS"
}

# ---------------------------------------------------------------------------------------
main() {
    mkdir -p "$BENCH_DIR"
    PF_RESULTS=$BENCH_DIR/postfix.runs
    WH_RESULTS=$BENCH_DIR/wharf.runs
    : >"$PF_RESULTS"
    : >"$WH_RESULTS"

    setup_postfix
    SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
    [ -x "$SMTP_SOURCE" ] || die "smtp-source not found (it ships in Debian's postfix package)"
    PF_VERSION=$(postconf -h mail_version)

    ONLY=${ONLY:-}
    [ "$ONLY" = postfix ] || build_wharf
    WHARF_VERSION=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(cd "$REPO" && git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
        WHARF_VERSION="$WHARF_VERSION (+ uncommitted changes)"
    fi
    RUSTC_VERSION=$(rustc --version 2>/dev/null || echo "rustc ?")

    # Runs alternate (Postfix 1, Wharf 1, Postfix 2, ...) so that other load on the machine
    # falls on both alike; only one server runs at a time.
    local i wharf_ok=1
    [ "$ONLY" = postfix ] && WHARF_NO_SMTP=1 && wharf_ok=0
    for i in $(seq 1 "$RUNS"); do
        run_postfix "$i"
        [ "$wharf_ok" = 1 ] || continue
        run_wharf "$i"
        if [ "$WHARF_NO_SMTP" = 1 ]; then
            wharf_ok=0
            log "this wharf binary does not serve SMTP yet ('wharf: smtp is not implemented yet'): Postfix measured only"
        fi
    done

    local section=$BENCH_DIR/section.md
    write_section "$section" "$wharf_ok"
    cat "$section"
    if [ "$WRITE_RESULTS" = 1 ]; then update_results "$section"; fi
    [ "$wharf_ok" = 1 ] || exit 2
}

main "$@"
