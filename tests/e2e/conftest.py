"""Fixtures that run the real `wharf` binary for end-to-end tests.

`wharf` starts a server on ephemeral 127.0.0.1 ports with a fresh data directory, the
domain example.test and two users (alice@example.test / alice-pw-1, bob@example.test /
bob-pw-2, the same as the peers' recipe), and stops it after the test. The server also
dies with the test process (PR_SET_PDEATHSIG), so nothing lingers.
"""

import ctypes
import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
USERS = {"alice@example.test": "alice-pw-1", "bob@example.test": "bob-pw-2"}
SERVICES = ["smtp", "submission", "submissions", "pop3", "pop3s", "imap", "imaps", "ftp", "ftps", "http"]


def wharf_binary() -> str:
    env = os.environ.get("WHARF_BIN")
    if env:
        return env
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        p = target / profile / "wharf"
        if p.exists():
            return str(p)
    raise RuntimeError("no wharf binary: run `cargo build --bin wharf` first or set WHARF_BIN")


def child_env():
    """The test's environment minus WHARF_BIN (ours, not a wharf setting: the binary
    refuses unknown WHARF_* variables)."""
    return {k: v for k, v in os.environ.items() if k != "WHARF_BIN"}


def _die_with_parent():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Wharf:
    """A running (or stopped) wharf server and its data directory."""

    def __init__(self, tmp: pathlib.Path, extra_config: str = ""):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.data_dir = tmp / "data"
        self.config = tmp / "wharf.toml"
        self.host = "127.0.0.1"
        listen = "\n".join(f'{s} = ["127.0.0.1:0"]' for s in SERVICES)
        self.config.write_text(
            f'hostname = "mx.example.test"\ndata_dir = "{self.data_dir}"\n'
            f"[listen]\n{listen}\n{extra_config}\n"
        )
        self.proc = None
        self.ports = {}
        self.output = []
        self.log = open(tmp / "wharf.log", "ab")

    # -- the CLI ---------------------------------------------------------------
    def cli(self, *args, input=None, check=True):
        """Runs `wharf --config CFG ARGS...`; returns the CompletedProcess."""
        r = subprocess.run(
            [wharf_binary(), "--config", str(self.config), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
        )
        if check and r.returncode != 0:
            raise AssertionError(f"wharf {' '.join(args)} failed: {r.stderr}")
        return r

    def add_user(self, address, password):
        self.cli("user", "add", address, "--password-stdin", input=password + "\n")

    # -- the server ------------------------------------------------------------
    def start(self, timeout=30):
        self.ports = {}
        self.output = []
        self.proc = subprocess.Popen(
            [wharf_binary(), "--config", str(self.config), "serve"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=child_env(),
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"wharf exited early: {self.output} (log: {self.tmp / 'wharf.log'})")
            self.output.append(line.rstrip("\n"))
            parts = line.split()
            # "wharf: NAME listening on IP:PORT"
            if len(parts) == 5 and parts[2] == "listening":
                host, port = parts[4].rsplit(":", 1)
                self.ports.setdefault(parts[1], int(port))
            if line.startswith("wharf: ready"):
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("wharf did not become ready in time")

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))

    def port(self, service):
        # A listener that never came up is a failure, not a skip: a skip would hide the
        # very regression the test exists to catch (STYLE.md §17).
        if service not in self.ports:
            pytest.fail(
                f"{service} is not listening: no 'wharf: {service} listening on' line in "
                f"{self.output} (log: {self.tmp / 'wharf.log'})"
            )
        return self.ports[service]

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        self.log.close()


@pytest.fixture
def wharf_factory(tmp_path):
    """Makes configured (not started) servers; for tests that need special config."""
    made = []

    def make(extra_config="", users=True):
        w = Wharf(tmp_path / f"w{len(made)}", extra_config)
        made.append(w)
        if users:
            w.cli("domain", "add", "example.test")
            for addr, pw in USERS.items():
                w.add_user(addr, pw)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def wharf(wharf_factory):
    """A started server with example.test, alice and bob."""
    return wharf_factory().start()
