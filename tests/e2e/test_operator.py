"""Running Wharf as an operator would (issue #16): the data-directory lock, commands that
must not invent an empty store, reloading on SIGHUP, `config check`, the environment."""

import os
import re
import signal
import subprocess
import time

from conftest import Wharf, child_env, wharf_binary


def run(args, input=None, env=None, cwd=None):
    return subprocess.run(
        [wharf_binary(), *args], input=input, capture_output=True, text=True, timeout=60,
        env={**child_env(), **(env or {})}, cwd=cwd,
    )


def test_a_second_server_on_the_same_data_dir_is_refused(wharf):
    # The same config (same data_dir), other ports: only the lock can refuse it.
    r = subprocess.run(
        [wharf_binary(), "--config", str(wharf.config), "serve"],
        capture_output=True, text=True, timeout=60, env=child_env(),
    )
    assert r.returncode != 0, r.stdout
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "already" in err[0] and str(wharf.data_dir) in err[0], r.stderr
    assert "listening" not in r.stdout, r.stdout
    # CLI commands keep working beside the running server.
    assert "alice@example.test" in wharf.cli("user", "list").stdout
    assert wharf.proc.poll() is None
    # Once the first server stopped, a new one starts on the same data_dir.
    assert wharf.stop() == 0
    wharf.start()


def test_commands_do_not_create_an_empty_store(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {}  # no --config, no WHARF_CONFIG: the built-in ./wharf-data
    for args in (["user", "list"], ["queue", "list"], ["domain", "list"], ["alias", "list"]):
        r = run(args, cwd=elsewhere, env=env)
        assert r.returncode != 0, (args, r.stdout)
        assert r.stderr.count("\n") == 1 and "does not exist" in r.stderr, (args, r.stderr)
        assert not (elsewhere / "wharf-data").exists(), args
    # `domain add` may create it, and says so on stderr.
    r = run(["domain", "add", "example.test"], cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stderr
    assert "creating data directory" in r.stderr, r.stderr
    assert (elsewhere / "wharf-data").is_dir()
    assert run(["domain", "list"], cwd=elsewhere, env=env).stdout.split() == ["example.test"]


def test_a_relative_data_dir_is_relative_to_the_config_file(tmp_path):
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    cfg = conf_dir / "wharf.toml"
    cfg.write_text('hostname = "mx.example.test"\ndata_dir = "state"\n')
    cwd = tmp_path / "somewhere"
    cwd.mkdir()
    r = run(["--config", str(cfg), "domain", "add", "example.test"], cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert (conf_dir / "state").is_dir() and not (cwd / "state").exists()
    r = run(["--config", "../etc/wharf.toml", "domain", "list"], cwd=cwd)
    assert r.stdout.split() == ["example.test"], r.stderr
    r = run(["--config", str(cfg), "config", "check"], cwd=cwd)
    assert f"data_dir = {conf_dir / 'state'}" in r.stdout, r.stdout


def _make_cert(dir, name):
    cert, key = dir / f"{name}-cert.pem", dir / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}.example.test", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert.read_text(), key.read_text()


def _served_cert(port):
    """The certificate a new TLS connection sees, as PEM."""
    import ssl
    return ssl.get_server_certificate(("127.0.0.1", port))


def _same_cert(a, b):
    import ssl
    return ssl.PEM_cert_to_DER_cert(a) == ssl.PEM_cert_to_DER_cert(b)


def test_sighup_reloads_the_certificate_and_keeps_running(wharf_factory, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    first, first_key = _make_cert(certs, "first")
    second, second_key = _make_cert(certs, "second")
    live_cert, live_key = certs / "live-cert.pem", certs / "live-key.pem"
    live_cert.write_text(first)
    live_key.write_text(first_key)
    w = wharf_factory(f'[tls]\ncert = "{live_cert}"\nkey = "{live_key}"\n')
    w.start()
    for service in ("imaps", "pop3s", "submissions"):
        assert _same_cert(_served_cert(w.port(service)), first), service
    live_cert.write_text(second)
    live_key.write_text(second_key)
    w.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not _same_cert(_served_cert(w.port("imaps")), second):
        assert w.proc.poll() is None, f"wharf died on SIGHUP: {w.proc.returncode}"
        assert time.monotonic() < deadline, "the new certificate was not served after SIGHUP"
        time.sleep(0.2)
    for service in ("imaps", "pop3s", "submissions"):
        assert _same_cert(_served_cert(w.port(service)), second), service
    log = (w.tmp / "wharf.log").read_text()
    assert "reloaded the TLS certificate" in log, log

    # A bad configuration is logged and the running one kept.
    good = w.config.read_text()
    w.config.write_text(good + "\n[limits]\nmax_connections = \"many\"\n")
    w.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "keeping the running one" not in (w.tmp / "wharf.log").read_text():
        assert time.monotonic() < deadline, (w.tmp / "wharf.log").read_text()
        time.sleep(0.2)
    assert w.proc.poll() is None
    assert _same_cert(_served_cert(w.port("imaps")), second)
    # A key that does not match the certificate is refused; the old pair stays.
    live_key.write_text(first_key)
    w.config.write_text(good)
    w.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "keeping the old one" not in (w.tmp / "wharf.log").read_text():
        assert time.monotonic() < deadline, (w.tmp / "wharf.log").read_text()
        time.sleep(0.2)
    assert _same_cert(_served_cert(w.port("imaps")), second)
    assert w.stop() == 0


def test_the_self_signed_certificate_verifies_by_ip_address(wharf):
    import ssl
    ctx = ssl.create_default_context(cafile=str(wharf.data_dir / "tls" / "self-signed-cert.pem"))
    import socket
    with socket.create_connection(("127.0.0.1", wharf.port("imaps"))) as raw:
        # check_hostname is on: the IP must be in the certificate's subjectAltName.
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.recv(100).startswith(b"* OK")
    with socket.create_connection(("127.0.0.1", wharf.port("imaps"))) as raw:
        with ctx.wrap_socket(raw, server_hostname="mx.example.test") as tls:
            assert tls.recv(100).startswith(b"* OK")


def _readme_keys():
    """(section, key, value) for every key of the README's configuration block,
    commented-out examples included."""
    import pathlib
    import tomllib
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Configuration"):]
    block = section[section.index("```toml\n") + 8:]
    block = block[:block.index("```")]
    keys, current = [], ""
    for line in block.splitlines():
        m = re.match(r"^\[([a-z0-9_.]+)\]", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^(?:# )?([a-z_]+) = (.*)$", line)
        if not m:
            continue
        # The value up to a trailing comment (values here hold no " #").
        text = re.split(r"\s+#", m.group(2))[0].strip()
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            continue
        keys.append((current, m.group(1), text, value))
    return keys


RUST_FIELD = {
    ("smtp", "max_line_length"): "max_line_len",
    ("smtp", "max_data_line_length"): "max_data_line_len",
    ("smtp", "max_bad_commands"): "max_errors",
    ("imap", "max_commands_before_auth"): "max_unauthenticated_commands",
}


def test_every_readme_key_can_be_set_from_the_environment(tmp_path):
    keys = _readme_keys()
    sections = {s for s, *_ in keys}
    assert {"", "listen", "limits", "smtp", "submission", "outbound", "dns", "mailauth",
            "pop3", "imap", "ftp"} <= sections, sections
    assert len(keys) > 60, keys
    data = tmp_path / "data"
    data.mkdir()
    failures = []
    for section, key, text, value in keys:
        var = f"WHARF_{section}_{key}".upper() if section else f"WHARF_{key}".upper()
        # A different valid value where the type allows one, so the output proves it is used.
        if isinstance(value, bool):
            new, shown = str(not value).lower(), str(not value).lower()
        elif isinstance(value, int) and key != "port":
            new = shown = str(value + 1)
        else:
            new, shown = text, None
        if section == "listen":
            new, shown = "127.0.0.1:0", None
        env = {"WHARF_DATA_DIR": str(data), "WHARF_HOSTNAME": "mx.example.test", var: new}
        if section == "tls":
            continue  # paths: covered by the SIGHUP test
        if key == "data_dir" or key == "hostname":
            env[var] = str(data) if key == "data_dir" else "env.example.test"
        r = run(["config", "check"], env=env)
        if r.returncode != 0:
            failures.append(f"{var}={new}: {r.stderr.strip()}")
            continue
        if shown is not None:
            block = r.stdout[r.stdout.index(f"[{section}]\n"):] if section else r.stdout
            block = re.sub(r"Some\(\s*([^\s()]+?),?\s*\)", r"Some(\1)", block.split("\n}\n")[0])
            # The dump is the settings' Debug form: a few keys have older field names.
            field = RUST_FIELD.get((section, key), key)
            if not any(f"    {field}: {v}," in block for v in (shown, f"Some({shown})")):
                failures.append(f"{var}={new}: not shown in effect")
    assert not failures, "\n".join(failures)


def test_a_bad_environment_value_names_the_variable(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'hostname = "mx.example.test"\ndata_dir = "{tmp_path}"\n')
    r = run(["--config", str(cfg), "config", "check"], env={"WHARF_OUTBOUND_PORT": "many"})
    assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
    assert "WHARF_OUTBOUND_PORT" in r.stderr and str(cfg) not in r.stderr, r.stderr


def test_config_check_checks_what_serve_needs(tmp_path):
    import socket
    cert, key = _make_cert(tmp_path, "a")
    _, other_key = _make_cert(tmp_path, "b")
    data = tmp_path / "data"
    data.mkdir()
    cfg = tmp_path / "c.toml"
    base = f'hostname = "mx.example.test"\ndata_dir = "{data}"\n'
    cfg.write_text(base + f'[listen]\nsmtp = ["127.0.0.1:0"]\n[tls]\ncert = "{tmp_path}/a-cert.pem"\nkey = "{tmp_path}/a-key.pem"\n')
    r = run(["--config", str(cfg), "config", "check"])
    assert r.returncode == 0, r.stderr
    assert "[smtp]" in r.stdout and "max_message_size" in r.stdout, r.stdout
    # A key that belongs to another certificate.
    cfg.write_text(base + f'[listen]\nsmtp = ["127.0.0.1:0"]\n[tls]\ncert = "{tmp_path}/a-cert.pem"\nkey = "{tmp_path}/b-key.pem"\n')
    r = run(["--config", str(cfg), "config", "check"])
    assert r.returncode != 0 and "tls" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    # An address in use.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    cfg.write_text(base + f'[listen]\nimap = ["127.0.0.1:{port}"]\n')
    r = run(["--config", str(cfg), "config", "check"])
    busy.close()
    assert r.returncode != 0 and f"listen.imap: cannot listen on 127.0.0.1:{port}" in r.stderr, r.stderr
    # An empty [listen] warns that nothing will listen.
    cfg.write_text(base + "[listen]\n")
    r = run(["--config", str(cfg), "config", "check"])
    assert r.returncode == 0 and "nothing" in r.stderr, r.stderr


def _at_a_terminal(args, env):
    """Runs wharf with stdout on a pseudo-terminal; returns (exit code, output)."""
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(wharf_binary(), [wharf_binary(), *args], {**child_env(), **env})
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode().replace("\r\n", "\n")


def test_queue_list_says_when_the_queue_is_empty(wharf_factory):
    # remote.test routes to a closed port: its mail stays queued (temporary failure).
    wharf = wharf_factory('[outbound]\nroutes = { "remote.test" = "127.0.0.1:1" }\n').start()
    env = {"WHARF_CONFIG": str(wharf.config)}
    code, out = _at_a_terminal(["queue", "list"], env)
    assert code == 0 and out.strip() == "queue is empty", out
    # Piped: stdout stays machine-readable, the notice goes to stderr.
    r = wharf.cli("queue", "list")
    assert r.stdout == "" and "queue is empty" in r.stderr, r
    # Something queued: a header at a terminal, then the entry.
    import smtplib
    with smtplib.SMTP("127.0.0.1", wharf.port("submission")) as s:
        s.login("alice@example.test", "alice-pw-1")
        s.sendmail("alice@example.test", ["carol@remote.test"], b"Subject: x\r\n\r\nhi\r\n")
    code, out = _at_a_terminal(["queue", "list"], env)
    lines = out.strip().splitlines()
    assert len(lines) == 2, out
    assert lines[0].split("\t")[:3] == ["ID", "SENDER", "RECIPIENTS"], out
    assert "carol@remote.test" in lines[1], out
    assert wharf.cli("queue", "list").stdout.startswith(lines[1].split("\t")[0]), "no header when piped"


def test_an_ip_address_as_sni_is_not_a_warning(wharf):
    import shutil
    openssl = shutil.which("openssl")
    assert openssl, "openssl is not installed"
    # openssl s_client sends the IP as SNI when told to (Python and curl never do).
    r = subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{wharf.port('imaps')}",
         "-servername", "127.0.0.1", "-ign_eof"],
        input="a LOGOUT\r\n", capture_output=True, text=True, timeout=30,
    )
    assert "* OK" in r.stdout, r.stdout + r.stderr
    time.sleep(0.3)
    log = (wharf.tmp / "wharf.log").read_text()
    assert "SNI" not in log and "WARN" not in log, log


def test_contrib_config_and_unit(tmp_path):
    import pathlib
    import shutil
    import tomllib
    root = pathlib.Path(__file__).resolve().parents[2]
    conf = tomllib.loads((root / "contrib" / "wharf.toml").read_text())
    ports = {int(a.rsplit(":", 1)[1]) for addrs in conf["listen"].values() for a in addrs}
    assert {25, 465, 587, 993, 995, 143, 110, 21} <= ports, ports
    # Every key of it is valid: config check passes once paths and listeners point at
    # what this machine has.
    cert, key = _make_cert(tmp_path, "prod")
    env = {"WHARF_DATA_DIR": str(tmp_path), "WHARF_TLS_CERT": str(tmp_path / "prod-cert.pem"),
           "WHARF_TLS_KEY": str(tmp_path / "prod-key.pem")}
    for service in conf["listen"]:
        env[f"WHARF_LISTEN_{service.upper()}"] = "127.0.0.1:0"
    r = run(["--config", str(root / "contrib" / "wharf.toml"), "config", "check"], env=env)
    assert r.returncode == 0, r.stderr
    unit = (root / "contrib" / "wharf.service").read_text()
    for option in ("ProtectSystem=strict", "ReadWritePaths=/var/lib/wharf", "NoNewPrivileges=yes",
                   "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                   "AmbientCapabilities=CAP_NET_BIND_SERVICE", "PrivateTmp=yes", "ProtectHome=yes",
                   "RestrictAddressFamilies=", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert option in unit, option
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the unit's text is checked above; systemd itself is not on this machine
    # The unit names /usr/local/bin/wharf; verify a copy naming the binary under test.
    copy = tmp_path / "wharf.service"
    copy.write_text(unit.replace("/usr/local/bin/wharf", wharf_binary()))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "wharf.service" not in r.stderr, r.stderr


def test_the_test_script_names_a_missing_tool_before_compiling(tmp_path):
    import pathlib
    import shutil
    root = pathlib.Path(__file__).resolve().parents[2]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Everything the script needs but lftp (cargo is a stub: it must never run).
    for tool in ("bash", "env", "dirname", "realpath", "sed", "python3", "curl", "openssl",
                 "mbsync", "offlineimap"):
        path = shutil.which(tool)
        assert path, f"{tool} is not installed"
        (bin_dir / tool).symlink_to(path)
    (bin_dir / "cargo").write_text("#!/bin/sh\necho cargo ran >&2\nexit 99\n")
    (bin_dir / "cargo").chmod(0o755)
    r = subprocess.run([str(root / "scripts" / "test.sh")], capture_output=True, text=True,
                       timeout=120, env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "lftp" in lines[0] and "missing" in lines[0], r.stderr
    assert "cargo ran" not in r.stderr


def test_refusals_and_failed_logins_are_logged_with_the_user(wharf):
    import ftplib
    import imaplib
    import poplib
    import smtplib
    log = wharf.tmp / "wharf.log"
    with smtplib.SMTP("127.0.0.1", wharf.port("smtp")) as s:
        refused = s.sendmail("x@far.test", ["y@elsewhere.test", "alice@example.test"],
                             b"Subject: x\r\n\r\nx\r\n")
        assert refused["y@elsewhere.test"][0] == 550
    for login in (
        lambda: imaplib.IMAP4("127.0.0.1", wharf.port("imap")).login("imap-user@example.test", "wrong"),
        lambda: (lambda p: (p.user("pop-user@example.test"), p.pass_("wrong")))(
            poplib.POP3("127.0.0.1", wharf.port("pop3"))),
        lambda: smtplib.SMTP("127.0.0.1", wharf.port("submission")).login("smtp-user@example.test", "wrong"),
        lambda: (lambda f: (f.connect("127.0.0.1", wharf.port("ftp")), f.login("ftp-user@example.test", "wrong")))(
            ftplib.FTP()),
    ):
        try:
            login()
        except Exception:
            pass
        else:
            raise AssertionError("a wrong password logged in")
    deadline = time.monotonic() + 10
    wanted = ["relay refused", "y@elsewhere.test", "imap-user@example.test", "pop-user@example.test",
              "smtp-user@example.test", "ftp-user@example.test"]
    while not all(w in log.read_text() for w in wanted):
        assert time.monotonic() < deadline, (wanted, log.read_text())
        time.sleep(0.2)
    text = log.read_text()
    relay = [line for line in text.splitlines() if "relay refused" in line]
    assert "x@far.test" in relay[0] and "y@elsewhere.test" in relay[0], relay
    imap = [line for line in text.splitlines() if "imap-user@example.test" in line]
    assert "failed" in imap[0], imap


def test_one_port_has_one_service_name_in_the_log(wharf):
    import imaplib
    import smtplib
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    imaplib.IMAP4_SSL("127.0.0.1", wharf.port("imaps"), ssl_context=ctx).logout()
    smtplib.SMTP_SSL("127.0.0.1", wharf.port("submissions"), context=ctx).quit()
    log = wharf.tmp / "wharf.log"
    deadline = time.monotonic() + 10
    while log.read_text().count("disconnected") < 2:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    text = log.read_text()
    for name in ("imaps", "submissions"):
        for what in ("listening", "connected", "disconnected"):
            assert re.search(rf'{what} service="{name}"', text), (name, what, text)


def test_a_renewed_certificate_file_is_served_without_a_signal(wharf_factory, tmp_path):
    # serve looks at the files' modification times every 30 seconds.
    certs = tmp_path / "certs"
    certs.mkdir()
    first, first_key = _make_cert(certs, "first")
    second, second_key = _make_cert(certs, "second")
    live_cert, live_key = certs / "live-cert.pem", certs / "live-key.pem"
    live_cert.write_text(first)
    live_key.write_text(first_key)
    w = wharf_factory(f'[tls]\ncert = "{live_cert}"\nkey = "{live_key}"\n')
    w.start()
    assert _same_cert(_served_cert(w.port("imaps")), first)
    time.sleep(1.1)  # a new modification time even on coarse file systems
    live_key.write_text(second_key)
    live_cert.write_text(second)
    deadline = time.monotonic() + 45
    while not _same_cert(_served_cert(w.port("imaps")), second):
        assert time.monotonic() < deadline, (w.tmp / "wharf.log").read_text()
        time.sleep(1)
    assert "TLS certificate files changed" in (w.tmp / "wharf.log").read_text()


def test_sighup_applies_new_connection_limits(wharf_factory):
    import socket
    w = wharf_factory("[limits]\nmax_connections_per_ip = 1\n")
    w.start()

    def greeting():
        s = socket.create_connection(("127.0.0.1", w.port("pop3")), timeout=10)
        return s, s.recv(200)

    first, hello = greeting()
    assert hello.startswith(b"+OK"), hello
    second, hello = greeting()
    assert hello.startswith(b"-ERR"), hello  # over the limit of one
    second.close()
    w.config.write_text(w.config.read_text().replace("max_connections_per_ip = 1", "max_connections_per_ip = 2"))
    w.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "connection limits applied" not in (w.tmp / "wharf.log").read_text():
        assert time.monotonic() < deadline, (w.tmp / "wharf.log").read_text()
        time.sleep(0.2)
    second, hello = greeting()
    assert hello.startswith(b"+OK"), hello
    first.close()
    second.close()
    assert w.proc.poll() is None


def _smtp_sink():
    """A minimal SMTP server on a free port that records each message's data."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    got = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            f = c.makefile("rb")
            c.sendall(b"220 sink ESMTP\r\n")
            data = None
            for line in f:
                if data is not None:
                    if line == b".\r\n":
                        got.append(b"".join(data))
                        data = None
                        c.sendall(b"250 2.0.0 ok\r\n")
                    else:
                        data.append(line)
                    continue
                verb = line[:4].upper()
                if verb == b"DATA":
                    data = []
                    c.sendall(b"354 go\r\n")
                elif verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    break
                else:
                    c.sendall(b"250 ok\r\n")
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, got


def test_sighup_applies_new_outbound_routes(wharf_factory):
    import smtplib
    w = wharf_factory('[outbound]\nroutes = { "remote.test" = "127.0.0.1:1" }\n')
    w.start()
    srv, got = _smtp_sink()
    with smtplib.SMTP("127.0.0.1", w.port("submission")) as s:
        s.login("alice@example.test", "alice-pw-1")
        s.sendmail("alice@example.test", ["carol@remote.test"], b"Subject: routed\r\n\r\nhi\r\n")
    port = srv.getsockname()[1]
    w.config.write_text(w.config.read_text().replace("127.0.0.1:1\"", f"127.0.0.1:{port}\""))
    w.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "outbound routes applied" not in (w.tmp / "wharf.log").read_text():
        assert time.monotonic() < deadline, (w.tmp / "wharf.log").read_text()
        time.sleep(0.2)
    w.cli("queue", "retry", "--all")
    deadline = time.monotonic() + 30
    while not got:
        assert time.monotonic() < deadline, ((w.tmp / "wharf.log").read_text(), w.cli("queue", "list").stdout)
        time.sleep(0.3)
    assert b"Subject: routed" in got[0]
    srv.close()


def test_log_level_from_the_config_and_on_sighup(wharf_factory):
    import socket
    w = wharf_factory(users=False)
    # log_level is a top-level key: it goes before [listen] in the file.
    w.config.write_text('log_level = "warn"\n' + w.config.read_text())
    w.start()
    log = w.tmp / "wharf.log"

    def connect_once():
        with socket.create_connection(("127.0.0.1", w.port("pop3"))) as s:
            s.recv(100)
            s.sendall(b"QUIT\r\n")
            s.recv(100)

    connect_once()
    time.sleep(0.5)
    assert "connected" not in log.read_text(), log.read_text()
    w.config.write_text(w.config.read_text().replace('log_level = "warn"', 'log_level = "info"'))
    w.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "SIGHUP: log level info" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    connect_once()
    deadline = time.monotonic() + 10
    while 'connected service="pop3"' not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
