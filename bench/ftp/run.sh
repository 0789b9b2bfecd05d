#!/usr/bin/env bash
# bench/ftp/run.sh - FTP: vsftpd vs Wharf on the same files over loopback (issue 6).
#
# Run as root on a Debian 12 machine (it installs vsftpd and creates the system user
# `ftpbench`). Loopback only. Re-running it is safe.
#
#   sudo bench/ftp/run.sh                         # 3 runs per server, 1 GiB file, 200 clients
#   sudo RUNS=1 BIG_MB=256 CLIENTS=50 bench/ftp/run.sh   # a quick check
#
# What it measures, per server, one server at a time (runs alternate vsftpd, Wharf, ...):
#  1. RETR of a BIG_MB MiB file with curl (passive, binary, to /dev/null): MiB/s;
#  2. STOR of the same file with curl: MiB/s until the server's 226 (Wharf's 226 means
#     fsynced and renamed into place; vsftpd's means written, not fsynced); the uploaded
#     file is compared with the source;
#  3. CLIENTS concurrent clients (bench/ftp/load.py, Python ftplib) that each log in, wait
#     until all are logged in, fetch a SMALL_KB KiB file and stay connected until all have
#     it: wall time, and the server's peak memory (sampled every ~100 ms: summed RSS and
#     PSS of the vsftpd listener and all its session processes; the wharf process's RSS,
#     and its VmHWM at the end),
#     on a freshly started server.
# Then it writes the `## FTP` section of bench/RESULTS.md (other sections are kept).
#
# Environment knobs [defaults]: BIG_MB [1024], SMALL_KB [1024], CLIENTS [200], RUNS [3],
# VSFTPD_PORT [12021], WHARF_PORT [12121], BENCH_DIR [/var/lib/wharf-bench-ftp],
# RESULTS [bench/RESULTS.md], SKIP_BUILD=1 (use the existing target/release/wharf),
# WRITE_RESULTS=0 (print the section only), SERVE_ENV (extra environment for `wharf serve`,
# e.g. "MALLOC_MMAP_THRESHOLD_=1048576"; recorded in the results).
set -euo pipefail

BIG_MB=${BIG_MB:-1024}
SMALL_KB=${SMALL_KB:-1024}
CLIENTS=${CLIENTS:-200}
RUNS=${RUNS:-3}
VSFTPD_PORT=${VSFTPD_PORT:-12021}
WHARF_PORT=${WHARF_PORT:-12121}
BENCH_DIR=${BENCH_DIR:-/var/lib/wharf-bench-ftp}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RESULTS=${RESULTS:-$REPO/bench/RESULTS.md}
WRITE_RESULTS=${WRITE_RESULTS:-1}
SERVE_ENV=${SERVE_ENV:-}

FTP_USER=ftpbench
FTP_PASS=ftpbench-pw-1
WHARF_USER=alice@example.test
WHARF_PASS=alice-pw-1
FILES=$BENCH_DIR/files
VS_HOME=$BENCH_DIR/vsftpd-home
VS_CONF=$BENCH_DIR/vsftpd.conf
VS_LOG=$BENCH_DIR/vsftpd.log
WHARF_BIN=$REPO/target/release/wharf
WHARF_CONF=$BENCH_DIR/wharf.toml
WHARF_DATA=$BENCH_DIR/wharf-data
WHARF_LOG=$BENCH_DIR/wharf.log
VS_PID=
WHARF_PID=
SAMPLER_PID=

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mibps() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.1f", m / s }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

[ "$(id -u)" = 0 ] || die "run as root (installs vsftpd, creates a system user)"

cleanup() {
    set +e
    stop_sampler
    stop_vsftpd
    stop_wharf
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
setup() {
    export DEBIAN_FRONTEND=noninteractive
    local need=()
    dpkg -s vsftpd >/dev/null 2>&1 || need+=(vsftpd)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    command -v ps >/dev/null 2>&1 || need+=(procps)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        apt-get update -q
        apt-get install -y -q "${need[@]}"
    fi
    # Debian's package starts vsftpd on port 21; we run our own instance on VSFTPD_PORT.
    mkdir -p "$BENCH_DIR" "$FILES" "$VS_HOME" /var/run/vsftpd/empty
    getent passwd "$FTP_USER" >/dev/null ||
        useradd -d "$VS_HOME/$FTP_USER" -s /bin/sh -M "$FTP_USER"
    echo "$FTP_USER:$FTP_PASS" | chpasswd
    mkdir -p "$VS_HOME/$FTP_USER"
    chown "$FTP_USER:" "$VS_HOME/$FTP_USER"
    cat >"$VS_CONF" <<EOF
# vsftpd for the benchmark: local users, chrooted, writable; no TLS, no logging.
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$VSFTPD_PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
seccomp_sandbox=NO
max_clients=0
max_per_ip=0
xferlog_enable=NO
ssl_enable=NO
EOF
    # The test files, made once.
    if [ ! -f "$FILES/big" ] || [ "$(stat -c %s "$FILES/big")" != $((BIG_MB << 20)) ]; then
        log "making a $BIG_MB MiB test file"
        head -c $((BIG_MB << 20)) /dev/urandom >"$FILES/big"
    fi
    if [ ! -f "$FILES/small" ] || [ "$(stat -c %s "$FILES/small")" != $((SMALL_KB << 10)) ]; then
        head -c $((SMALL_KB << 10)) /dev/urandom >"$FILES/small"
    fi
    chmod 644 "$FILES/big" "$FILES/small"
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

# PID and all its descendants.
pid_tree() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            keep[root] = 1; print root
            do { added = 0
                 for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; added = 1 }
            } while (added)
        }'
}

# Peak summed RSS and PSS (kB) of process $1 and its descendants, every ~100 ms, until
# killed; writes "RSS PSS PROCS" (peaks) to $2.
mem_sampler() {
    local root=$1 out=$2 rss pss n max_rss=0 max_pss=0 max_n=0
    set +e
    while :; do
        read -r rss pss n < <(
            for p in $(pid_tree "$root"); do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
                awk '/^Rss:/ { r += $2; n++ } /^Pss:/ { p += $2 } END { print r + 0, p + 0, n + 0 }'
        )
        [ "$rss" -gt "$max_rss" ] && max_rss=$rss
        [ "$pss" -gt "$max_pss" ] && max_pss=$pss
        [ "$n" -gt "$max_n" ] && max_n=$n
        echo "$max_rss $max_pss $max_n" >"$out.tmp" && mv "$out.tmp" "$out"
        sleep 0.1
    done
}
start_sampler() { mem_sampler "$1" "$2" & SAMPLER_PID=$!; sleep 0.3; }
stop_sampler() {
    if [ -n "$SAMPLER_PID" ]; then
        sleep 0.3
        kill "$SAMPLER_PID" 2>/dev/null
        wait "$SAMPLER_PID" 2>/dev/null || true
    fi
    SAMPLER_PID=
}

# ---------------------------------------------------------------------------------------
start_vsftpd() {
    stop_vsftpd
    rm -f "$VS_HOME/$FTP_USER/up.bin"
    ln -f "$FILES/big" "$VS_HOME/$FTP_USER/big"
    ln -f "$FILES/small" "$VS_HOME/$FTP_USER/small"
    vsftpd "$VS_CONF" >"$VS_LOG" 2>&1 &
    VS_PID=$!
    wait_for_port "$VSFTPD_PORT"
}
stop_vsftpd() {
    if [ -n "$VS_PID" ] && kill -0 "$VS_PID" 2>/dev/null; then
        # Sessions are processes of their own, below the listener: end them by PID too.
        kill -TERM $(pid_tree "$VS_PID") 2>/dev/null || true
        wait "$VS_PID" 2>/dev/null || true
    fi
    VS_PID=
}

build_wharf() {
    if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$WHARF_BIN" ]; then
        return 0
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] || die "cargo not found: install Rust >= 1.95 and re-run"
        export PATH=$HOME/.cargo/bin:$PATH
    fi
    log "building wharf (release)"
    (cd "$REPO" && cargo build --release --bin wharf) >&2
}

start_wharf() {
    stop_wharf
    rm -rf "$WHARF_DATA"
    cat >"$WHARF_CONF" <<EOF
hostname = "ftp.example.test"
data_dir = "$WHARF_DATA"

[listen]
ftp = ["127.0.0.1:$WHARF_PORT"]

[limits]
max_connections_per_ip = 0
EOF
    # WHARF_PORT is this script's knob, not a wharf setting: keep it out of wharf's environment.
    local w=(env -u WHARF_PORT "$WHARF_BIN" --config "$WHARF_CONF")
    "${w[@]}" domain add example.test
    echo "$WHARF_PASS" | "${w[@]}" user add "$WHARF_USER" --password-stdin
    # shellcheck disable=SC2086 # SERVE_ENV is a list of NAME=VALUE words
    env $SERVE_ENV "${w[@]}" serve >"$WHARF_LOG" 2>&1 &
    WHARF_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q 'wharf: ftp listening on' "$WHARF_LOG" && break
        kill -0 "$WHARF_PID" 2>/dev/null || { cat "$WHARF_LOG" >&2; die "wharf serve exited"; }
        sleep 0.1
    done
    wait_for_port "$WHARF_PORT"
    # The first login creates the home (data_dir/files/<account id>); put the files in.
    curl -s -S --user "$WHARF_USER:$WHARF_PASS" "ftp://127.0.0.1:$WHARF_PORT/" >/dev/null
    local home
    home=$(find "$WHARF_DATA/files" -mindepth 1 -maxdepth 1 -type d | head -1)
    [ -n "$home" ] || die "wharf did not create the account's home under $WHARF_DATA/files"
    ln -f "$FILES/big" "$home/big"
    ln -f "$FILES/small" "$home/small"
    WHARF_HOME=$home
}
stop_wharf() {
    if [ -n "$WHARF_PID" ] && kill -0 "$WHARF_PID" 2>/dev/null; then
        kill -TERM "$WHARF_PID"
        wait "$WHARF_PID" 2>/dev/null || true
    fi
    WHARF_PID=
}

# ---------------------------------------------------------------------------------------
# transfer SERVER PORT USER PASS UPLOADED_PATH RUN: RETR and STOR of the big file.
transfer() {
    local name=$1 port=$2 user=$3 pass=$4 uploaded=$5 run=$6 t0 t1 t2
    cat "$FILES/big" >/dev/null # page cache warm for both servers alike
    t0=$(now)
    curl -s -S --user "$user:$pass" -o /dev/null "ftp://127.0.0.1:$port/big" || die "$name: RETR failed"
    t1=$(now)
    curl -s -S --user "$user:$pass" -T "$FILES/big" "ftp://127.0.0.1:$port/up.bin" || die "$name: STOR failed"
    t2=$(now)
    cmp -s "$FILES/big" "$uploaded" || die "$name: the uploaded file differs from the source"
    rm -f "$uploaded"
    local retr stor
    retr=$(mibps "$BIG_MB" "$(elapsed "$t0" "$t1")")
    stor=$(mibps "$BIG_MB" "$(elapsed "$t1" "$t2")")
    log "$name run $run: RETR $retr MiB/s, STOR $stor MiB/s"
    echo "$run $retr $stor" >>"$BENCH_DIR/$name.transfer"
}

# clients SERVER PORT USER PASS RUN SERVER_PID
clients() {
    local name=$1 port=$2 user=$3 pass=$4 run=$5 pid=$6 out secs
    start_sampler "$pid" "$BENCH_DIR/$name.mem"
    out=$(python3 "$REPO/bench/ftp/load.py" 127.0.0.1 "$port" "$user" "$pass" "$CLIENTS" small $((SMALL_KB << 10))) ||
        die "$name: $CLIENTS clients: $out"
    stop_sampler
    secs=$(printf '%s\n' "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
    local rss pss n hwm=0
    read -r rss pss n <"$BENCH_DIR/$name.mem"
    if [ "$name" = wharf ]; then
        hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$WHARF_PID/status")
    fi
    log "$name run $run: $CLIENTS clients in ${secs}s; peak RSS sum $(mib "$rss") MiB, PSS sum $(mib "$pss") MiB ($n processes)"
    echo "$run $secs $rss $pss $n $hwm" >>"$BENCH_DIR/$name.clients"
}

run_vsftpd() {
    start_vsftpd
    transfer vsftpd "$VSFTPD_PORT" "$FTP_USER" "$FTP_PASS" "$VS_HOME/$FTP_USER/up.bin" "$1"
    start_vsftpd # fresh for the memory measurement
    clients vsftpd "$VSFTPD_PORT" "$FTP_USER" "$FTP_PASS" "$1" "$VS_PID"
    stop_vsftpd
}

run_wharf() {
    start_wharf
    transfer wharf "$WHARF_PORT" "$WHARF_USER" "$WHARF_PASS" "$WHARF_HOME/up.bin" "$1"
    start_wharf
    clients wharf "$WHARF_PORT" "$WHARF_USER" "$WHARF_PASS" "$1" "$WHARF_PID"
    stop_wharf
}

# ---------------------------------------------------------------------------------------
write_section() {
    local out=$1
    local vr vs wr ws vc wc vrss vpss wrss wpss whwm
    vr=$(median $(awk '{ print $2 }' "$BENCH_DIR/vsftpd.transfer"))
    vs=$(median $(awk '{ print $3 }' "$BENCH_DIR/vsftpd.transfer"))
    wr=$(median $(awk '{ print $2 }' "$BENCH_DIR/wharf.transfer"))
    ws=$(median $(awk '{ print $3 }' "$BENCH_DIR/wharf.transfer"))
    vc=$(median $(awk '{ print $2 }' "$BENCH_DIR/vsftpd.clients"))
    wc=$(median $(awk '{ print $2 }' "$BENCH_DIR/wharf.clients"))
    vrss=$(awk 'max < $3 { max = $3 } END { print max }' "$BENCH_DIR/vsftpd.clients")
    vpss=$(awk 'max < $4 { max = $4 } END { print max }' "$BENCH_DIR/vsftpd.clients")
    wrss=$(awk 'max < $3 { max = $3 } END { print max }' "$BENCH_DIR/wharf.clients")
    wpss=$(awk 'max < $4 { max = $4 } END { print max }' "$BENCH_DIR/wharf.clients")
    whwm=$(awk 'max < $6 { max = $6 } END { print max }' "$BENCH_DIR/wharf.clients")
    {
        echo "## FTP"
        echo
        echo "FTP (issue 6): vsftpd and Wharf serve the same files (hard links) over loopback, one"
        echo "server at a time. Generated by \`bench/ftp/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC');"
        echo "$RUNS run(s) per server, medians reported (memory: the highest run)."
        echo
        echo "| | RETR ${BIG_MB} MiB (MiB/s) | STOR ${BIG_MB} MiB (MiB/s) | $CLIENTS clients × login + RETR ${SMALL_KB} KiB (s) | peak memory with $CLIENTS clients |"
        echo "|---|---|---|---|---|"
        echo "| vsftpd $VS_VERSION (226 after STOR = written, not fsynced) | $vr | $vs | $vc | $(mib "$vrss") MiB summed RSS of all vsftpd processes ($(mib "$vpss") MiB summed PSS) |"
        echo "| Wharf $WHARF_VERSION (226 after STOR = fsynced and renamed) | $wr | $ws | $wc | $(mib "$wrss") MiB RSS ($(mib "$wpss") MiB PSS; VmHWM $(mib "$whwm") MiB) |"
        echo
        echo "**Wharf / vsftpd:** RETR $(ratio "$wr" "$vr")x, STOR $(ratio "$ws" "$vs")x throughput;"
        echo "$CLIENTS clients $(ratio "$vc" "$wc")x as fast. Memory, both sampled the same way (PSS, every"
        echo "~100 ms): **$(ratio "$wpss" "$vpss")x** vsftpd's (Wharf's RSS: $(ratio "$wrss" "$vpss")x vsftpd's PSS, $(ratio "$wrss" "$vrss")x its RSS);"
        echo "Wharf's exact peak (VmHWM, which holds the first login's Argon2id run, 19 MiB for a few"
        echo "tens of ms) is $(ratio "$whwm" "$vpss")x vsftpd's sampled PSS, which catches vsftpd's own login transients only"
        echo "when a sample falls on one (each session's login hashes with yescrypt, 16 MiB at"
        echo "libxcrypt's default cost; see the per-run PSS below)."
        echo "Targets: throughput >= 1x, memory <= 0.2x."
        echo
        echo "Runs:"
        echo
        echo "| server | run | RETR MiB/s | STOR MiB/s | clients (s) | peak RSS sum | peak PSS sum | processes |"
        echo "|---|---|---|---|---|---|---|---|"
        local i s
        for i in $(seq 1 "$RUNS"); do
            for s in vsftpd wharf; do
                join <(awk -v r="$i" '$1 == r' "$BENCH_DIR/$s.transfer") <(awk -v r="$i" '$1 == r' "$BENCH_DIR/$s.clients") |
                    awk -v s="$s" '{ printf "| %s | %s | %s | %s | %s | %.1f MiB | %.1f MiB | %s |\n", s, $1, $2, $3, $4, $5 / 1024, $6 / 1024, $7 }'
            done
        done
        echo
        echo "Commands (\`bench/ftp/run.sh\` runs them against each server's port):"
        echo
        echo '```sh'
        echo "curl -s -S --user USER:PASS -o /dev/null ftp://127.0.0.1:PORT/big          # RETR"
        echo "curl -s -S --user USER:PASS -T big ftp://127.0.0.1:PORT/up.bin             # STOR"
        echo "python3 bench/ftp/load.py 127.0.0.1 PORT USER PASS $CLIENTS small $((SMALL_KB << 10))   # clients"
        echo '```'
        echo
        echo "- vsftpd: Debian's package, our own instance (\`$VS_CONF\`): local user, chroot, writable,"
        echo "  no TLS, no transfer log, seccomp sandbox off. One listener process plus two processes per"
        echo "  session; summed RSS counts shared pages once per process, so summed PSS is given too."
        echo "- Wharf: release build, only \`[listen] ftp\`, \`[limits] max_connections_per_ip = 0\`,"
        echo "  default \`[ftp]\` settings, info logging to a file${SERVE_ENV:+, environment \`$SERVE_ENV\`}. Memory: RSS sampled every ~100 ms"
        echo "  during the clients test on a freshly started server, and VmHWM after it."
        echo "- The page cache is warmed (\`cat big >/dev/null\`) before each RETR; STOR writes to"
        echo "  $BENCH_DIR (the same filesystem for both). Wall clock around each curl."
        echo
        echo "Machine:"
        echo
        echo '```'
        echo "nproc: $(nproc)    CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        free -h
        echo "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
        echo "filesystem: $(df -T "$BENCH_DIR" | awk 'NR == 2 { print $2 " on " $1 }')"
        echo "vsftpd $VS_VERSION; Wharf $WHARF_VERSION, $RUSTC_VERSION; curl $(curl --version | awk 'NR == 1 { print $2 }')"
        echo '```'
        echo
    } >"$out"
}

# Replace (or append) the `## FTP` section of $RESULTS with the file $1.
update_results() {
    local section=$1 tmp
    if [ ! -f "$RESULTS" ]; then
        printf '# Wharf benchmarks\n\nEach section is written by the script named in it; re-run the script to refresh it.\n\n' >"$RESULTS"
    fi
    tmp=$(mktemp "$RESULTS.XXXXXX")
    awk -v sect="$section" '
        function emit() { while ((getline l < sect) > 0) print l; done = 1 }
        /^## / { if (skip) skip = 0; if ($0 == "## FTP") { emit(); skip = 1; next } }
        !skip { print }
        END { if (!done) { print ""; emit() } }
    ' "$RESULTS" >"$tmp"
    cat -s "$tmp" >"$RESULTS"
    rm -f "$tmp"
    log "wrote the ## FTP section of $RESULTS"
}

main() {
    setup
    build_wharf
    VS_VERSION=$(dpkg-query -W -f '${Version}' vsftpd)
    WHARF_VERSION=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(cd "$REPO" && git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
        WHARF_VERSION="$WHARF_VERSION (+ uncommitted changes)"
    fi
    RUSTC_VERSION=$(rustc --version 2>/dev/null || echo "rustc ?")
    local s
    for s in vsftpd wharf; do : >"$BENCH_DIR/$s.transfer"; : >"$BENCH_DIR/$s.clients"; done
    local i
    for i in $(seq 1 "$RUNS"); do
        run_vsftpd "$i"
        run_wharf "$i"
    done
    local section=$BENCH_DIR/section.md
    write_section "$section"
    cat "$section"
    if [ "$WRITE_RESULTS" = 1 ]; then update_results "$section"; fi
}

main "$@"
