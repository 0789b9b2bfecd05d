"""Running Wharf as an operator would (issue #16): the data-directory lock, commands that
must not invent an empty store, reloading on SIGHUP, `config check`, the environment."""

import os
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
