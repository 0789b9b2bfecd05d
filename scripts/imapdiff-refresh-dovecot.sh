#!/usr/bin/env bash
# Re-records tests/imapdiff/expected/ from a real Dovecot (Debian's dovecot-imapd).
#
# Starts a private Dovecot instance (its own config, run dir and mail dir under a temp
# dir, plain IMAP on 127.0.0.1:${IMAPDIFF_DOVECOT_PORT:-10143}; nothing of a system
# Dovecot is touched), configured to match Wharf where it can: users
# alice@example.test / alice-pw-1 and bob@example.test / bob-pw-2, INBOX + Sent, Drafts,
# Trash, Junk with special-use, `/` as hierarchy separator, plaintext login on loopback,
# quota reporting. Each transcript starts with empty accounts. Then it replays every
# transcript (or the ones named: `scripts/imapdiff-refresh-dovecot.sh condstore`) and
# writes the normalised answers. Review `git diff tests/imapdiff/expected` before
# committing. KEEP=1 leaves the instance running and prints how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dovecot >/dev/null || {
  echo "needs Dovecot: apt-get install dovecot-imapd" >&2
  exit 1
}
port="${IMAPDIFF_DOVECOT_PORT:-10143}"
dir="$(mktemp -d /tmp/imapdiff-dovecot.XXXXXX)"
chmod 755 "$dir"
if [ "$(id -u)" = 0 ]; then
  # Dovecot will not run mail processes as root: the mail belongs to nobody.
  mail_user=nobody
  mail_group="$(id -gn nobody)"
  internal=dovecot
  login=dovenull
else
  mail_user="$(id -un)"
  mail_group="$(id -gn)"
  internal="$mail_user"
  login="$mail_user"
fi
mkdir -p "$dir/mail" "$dir/run"
chown "$mail_user:$mail_group" "$dir/mail"
cat >"$dir/users" <<'EOF'
alice@example.test:{PLAIN}alice-pw-1
bob@example.test:{PLAIN}bob-pw-2
EOF
chmod 644 "$dir/users"
cat >"$dir/dovecot.conf" <<EOF
# Written by scripts/imapdiff-refresh-dovecot.sh
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
default_internal_user = $internal
default_login_user = $login
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:$dir/mail/%d/%n
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$mail_user gid=$mail_group home=$dir/mail/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
namespace inbox {
  inbox = yes
  prefix =
  separator = /
  # Wharf subscribes INBOX and the special-use mailboxes of a new account
  mailbox INBOX {
    auto = subscribe
  }
  mailbox Drafts {
    auto = subscribe
    special_use = \Drafts
  }
  mailbox Junk {
    auto = subscribe
    special_use = \Junk
  }
  mailbox Trash {
    auto = subscribe
    special_use = \Trash
  }
  mailbox Sent {
    auto = subscribe
    special_use = \Sent
  }
}
# CREATE ... (USE (\\Archive)) keeps the attribute (RFC 6154 CREATE-SPECIAL-USE)
mail_attribute_dict = file:%h/dovecot-attributes
# Changes made by another session are seen at the next command; IDLE looks every second.
mailbox_idle_check_interval = 1 secs
mail_plugins = \$mail_plugins quota
protocol imap {
  mail_plugins = \$mail_plugins imap_quota
}
plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=0
  quota_max_mail_size = 50M
}
EOF
dovecot -c "$dir/dovecot.conf"
pid="$(cat "$dir/run/master.pid" 2>/dev/null || true)"
stop() {
  doveadm -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
if [ "${KEEP:-0}" != 1 ]; then
  trap stop EXIT
else
  echo "Dovecot stays up on 127.0.0.1:$port; stop it with: doveadm -c $dir/dovecot.conf stop" >&2
fi
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && break
  sleep 0.1
done
echo "Dovecot $(dovecot --version) (pid ${pid:-?}) on 127.0.0.1:$port, data in $dir" >&2
python3 tests/imapdiff/imapdiff.py "${IMAPDIFF_MODE:-record}" --port "$port" \
  --reset "rm -rf $dir/mail/example.test" "$@"
