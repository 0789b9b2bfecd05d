"""The command line and configuration contract, driven through the real binary."""

import os
import socket
import subprocess

from conftest import child_env, wharf_binary


def run(args, input=None, env=None, cwd=None):
    return subprocess.run(
        [wharf_binary(), *args], input=input, capture_output=True, text=True, timeout=60,
        env={**child_env(), **(env or {})}, cwd=cwd,
    )


def test_directory_commands(wharf_factory):
    w = wharf_factory(users=False)
    w.cli("domain", "add", "example.test")
    w.cli("domain", "add", "Other.Test")
    assert w.cli("domain", "list").stdout.split() == ["example.test", "other.test"]
    w.cli("user", "add", "alice@example.test", "--password-stdin", input="pw1\n")
    w.cli("user", "add", "bob@example.test", "--password-stdin", input="pw2\n")
    listed = w.cli("user", "list").stdout
    assert "alice@example.test" in listed and "bob@example.test" in listed
    w.cli("alias", "add", "team@example.test", "alice@example.test", "bob@example.test")
    assert "team@example.test\talice@example.test, bob@example.test" in w.cli("alias", "list").stdout
    w.cli("user", "passwd", "alice@example.test", "--password-stdin", input="new\n")
    w.cli("user", "quota", "alice@example.test", "--bytes", "1000", "--messages", "10")
    assert "messages=0/10\tbytes=0/1000" in w.cli("user", "list").stdout
    w.cli("alias", "del", "team@example.test")
    assert w.cli("alias", "list").stdout == ""
    w.cli("user", "del", "bob@example.test")
    assert "bob@" not in w.cli("user", "list").stdout
    w.cli("domain", "del", "other.test")
    assert w.cli("domain", "list").stdout.split() == ["example.test"]


def test_bad_input_is_one_line_on_stderr_and_nonzero(wharf_factory):
    w = wharf_factory()
    cases = [
        (["user", "add", "alice@example.test", "--password-stdin"], "x\n", "already exists"),
        (["user", "add", "carol@nowhere.test", "--password-stdin"], "x\n", "domain nowhere.test"),
        (["user", "add", "not-an-address", "--password-stdin"], "x\n", "bad address"),
        (["user", "add", "carol@example.test"], None, "--password-stdin"),
        (["user", "add", "carol@example.test", "--password-stdin"], "\n", "empty password"),
        (["user", "del", "nobody@example.test"], None, "not found"),
        (["domain", "del", "example.test"], None, "still has"),
        (["domain", "add", "bad..domain"], None, "bad domain"),
        (["alias", "del", "nope@example.test"], None, "not found"),
        (["alias", "add", "x@elsewhere.test", "alice@example.test"], None, "domain elsewhere.test"),
        (["alias", "add", "x@example.test", "x@example.test"], None, "cannot point to itself"),
        (["alias", "add", "x@example.test", "not-an-address"], None, "bad address"),
    ]
    for args, stdin, expect in cases:
        r = w.cli(*args, input=stdin, check=False)
        assert r.returncode != 0, args
        assert expect in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1, (args, r.stderr)


def test_config_is_global_before_or_after_the_subcommand_and_from_env(tmp_path):
    data = tmp_path / "d"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{data}"\nhostname = "mx.example.test"\n')
    assert run(["--config", str(cfg), "domain", "add", "a.test"]).returncode == 0
    assert run(["domain", "add", "b.test", "--config", str(cfg)]).returncode == 0
    r = run(["domain", "list"], env={"WHARF_CONFIG": str(cfg)})
    assert r.stdout.split() == ["a.test", "b.test"], r.stderr


def test_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[listen]\nsmpt = ["127.0.0.1:25"]\n')
    r = run(["--config", str(cfg), "config", "check"])
    assert r.returncode != 0 and "smpt" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    cfg.write_text('[listen]\nsmtp = "127.0.0.1:25"\n')
    r = run(["--config", str(cfg), "config", "check"])
    assert r.returncode != 0 and "listen.smtp" in r.stderr, r.stderr
    r = run(["--config", str(tmp_path / "missing.toml"), "config", "check"])
    assert r.returncode != 0 and "missing.toml" in r.stderr, r.stderr
    cfg.write_text('hostname = "mx.example.test"\n')
    r = run(["--config", str(cfg), "config", "check"], env={"WHARF_LISTEN_SMTP": "127.0.0.1:2600"})
    assert r.returncode == 0 and 'listen.smtp = ["127.0.0.1:2600"]' in r.stdout, r.stderr
    r = run(["--config", str(cfg), "config", "check"], env={"WHARF_LIMITS_NOPE": "1"})
    assert r.returncode != 0 and "limits.nope" in r.stderr, r.stderr


def test_serve_with_no_arguments_uses_dev_defaults(tmp_path):
    # Built-in defaults: ./wharf-data and the dev ports, which must be free on this
    # machine; if another program holds one, wharf says which and the test fails with
    # that line (a skip would hide a serve that cannot start).
    err = open(tmp_path / "stderr.log", "w+")
    p = subprocess.Popen([wharf_binary(), "serve"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=err, text=True, env=child_env())
    lines = []
    for line in p.stdout:
        lines.append(line.strip())
        if line.startswith("wharf: ready"):
            break
    if "wharf: ready (data in wharf-data)" not in lines:
        code = p.wait(timeout=30)
        err.seek(0)
        text = err.read()
        if "cannot listen on" in text:
            raise AssertionError(
                f"a dev port is taken on this machine: {text.strip().splitlines()[-1]}"
            )
        raise AssertionError(f"serve exited {code} before ready: {lines} {text}")
    try:
        assert (tmp_path / "wharf-data" / "wharf.db").exists()
        assert (tmp_path / "wharf-data" / "tls" / "self-signed-cert.pem").exists()
        assert "wharf: smtp listening on 127.0.0.1:2525" in lines, lines
        assert "wharf: imaps listening on 127.0.0.1:2993" in lines, lines
    finally:
        p.terminate()
        assert p.wait(timeout=30) == 0


def test_sigterm_stops_the_server_cleanly_and_certificate_is_reused(wharf):
    cert = wharf.data_dir / "tls" / "self-signed-cert.pem"
    first = cert.read_bytes()
    assert wharf.stop() == 0
    assert "wharf: stopped" in wharf.output
    wharf.start()
    assert cert.read_bytes() == first
    assert wharf.stop() == 0


def test_a_taken_port_is_a_clear_error(wharf_factory):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        w = wharf_factory(users=False)
        r = run(["--config", str(w.config), "serve"], env={"WHARF_LISTEN_FTP": f"127.0.0.1:{port}",
                                                          "WHARF_LISTEN_SMTP": f"127.0.0.1:{port}"})
        assert r.returncode != 0
        assert f"127.0.0.1:{port}" in r.stderr, r.stderr
    finally:
        s.close()
