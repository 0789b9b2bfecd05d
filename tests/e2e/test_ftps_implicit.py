"""Implicit-TLS FTP (the `ftps` listener) through the real binary, with curl."""

import subprocess


def curl(*args):
    return subprocess.run(["curl", "-sS", "-k", "--max-time", "30", *args],
                          capture_output=True, timeout=60)


def test_upload_list_download_over_implicit_tls(wharf, tmp_path):
    port = wharf.port("ftps")
    src = tmp_path / "up.bin"
    data = bytes(range(256)) * 4096
    src.write_bytes(data)
    base = f"ftps://127.0.0.1:{port}"
    user = ["-u", "alice@example.test:alice-pw-1"]
    r = curl(*user, "-T", str(src), f"{base}/up.bin")
    assert r.returncode == 0, r.stderr
    r = curl(*user, f"{base}/")
    assert r.returncode == 0 and b"up.bin" in r.stdout, r.stderr
    r = curl(*user, f"{base}/up.bin")
    assert r.returncode == 0 and r.stdout == data, r.stderr
    # A plaintext client on the TLS port gets no FTP greeting.
    r = curl(*user, f"ftp://127.0.0.1:{port}/", "--max-time", "5")
    assert r.returncode != 0
