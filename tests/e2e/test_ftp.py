"""FTP and FTPS end to end with Python's ftplib against the real `wharf` binary:
passive and active mode, explicit FTPS with PROT P, REST resume, ABOR mid-transfer
(sent as TCP urgent data, as ftplib does) and path-escape attempts."""

import ftplib
import hashlib
import io
import os
import ssl

import pytest

ALICE = ("alice@example.test", "alice-pw-1")
BOB = ("bob@example.test", "bob-pw-2")


def blob(n, seed=b"wharf"):
    out = bytearray()
    block = seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def connect(wharf, tls=False, passive=True, user=ALICE):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ftp = ftplib.FTP_TLS(context=ctx, timeout=30)
    else:
        ftp = ftplib.FTP(timeout=30)
    ftp.connect(wharf.host, wharf.port("ftp"))
    if tls:
        ftp.auth()
    ftp.login(*user)
    if tls:
        ftp.prot_p()
    ftp.set_pasv(passive)
    return ftp


def retr(ftp, name, rest=None):
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


def roundtrip(ftp, data_dir):
    body = blob(1_500_000)
    ftp.mkd("docs")
    ftp.cwd("docs")
    assert ftp.pwd() == "/docs"
    assert ftp.storbinary("STOR report.bin", io.BytesIO(body)).startswith("226")
    assert ftp.size("report.bin") == len(body)
    assert retr(ftp, "report.bin") == body
    assert retr(ftp, "report.bin", rest=1_000_000) == body[1_000_000:]
    assert ftp.nlst() == ["report.bin"]
    facts = dict(ftp.mlsd())["report.bin"]
    assert facts["type"] == "file" and facts["size"] == str(len(body))
    lines = []
    ftp.retrlines("LIST", lines.append)
    assert len(lines) == 1 and lines[0].endswith(" report.bin")
    ftp.storlines("STOR notes.txt", io.BytesIO(b"one\ntwo\n"))
    text = []
    ftp.retrlines("RETR notes.txt", text.append)
    assert text == ["one", "two"]
    ftp.rename("report.bin", "final.bin")
    assert sorted(ftp.nlst()) == ["final.bin", "notes.txt"]
    ftp.delete("final.bin")
    ftp.delete("notes.txt")
    ftp.cwd("/")
    ftp.rmd("docs")
    assert ftp.nlst() == []
    ftp.quit()


def test_ftp_passive(wharf):
    roundtrip(connect(wharf), wharf.data_dir)


def test_ftp_active(wharf):
    roundtrip(connect(wharf, passive=False), wharf.data_dir)


def test_ftps_prot_p_passive(wharf):
    ftp = connect(wharf, tls=True)
    assert isinstance(ftp.sock, ssl.SSLSocket)
    roundtrip(ftp, wharf.data_dir)


def test_ftps_prot_p_active(wharf):
    roundtrip(connect(wharf, tls=True, passive=False), wharf.data_dir)


def test_abort_mid_download_then_continue(wharf):
    ftp = connect(wharf)
    body = blob(48 << 20)
    ftp.storbinary("STOR big.bin", io.BytesIO(body), blocksize=1 << 20)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    got = conn.recv(65536)
    assert got and body.startswith(got)
    resp = ftp.abort()  # ABOR with the urgent flag, as RFC 959 §4.1.3 describes
    assert resp.startswith("426")
    assert ftp.voidresp().startswith("226")
    conn.close()
    assert ftp.voidcmd("NOOP").startswith("200")
    assert retr(ftp, "big.bin") == body
    ftp.quit()


def test_rest_resume_upload_byte_exact(wharf):
    ftp = connect(wharf)
    body = blob(700_001)
    ftp.storbinary("STOR part.bin", io.BytesIO(body[:300_000]))
    ftp.storbinary("STOR part.bin", io.BytesIO(body[300_000:]), rest=300_000)
    assert retr(ftp, "part.bin") == body
    ftp.quit()


def test_path_escape_is_refused(wharf):
    bob = connect(wharf, user=BOB)
    bob.storbinary("STOR secret.txt", io.BytesIO(b"bob only"))
    bob.quit()
    ftp = connect(wharf)
    for attempt in [
        "../../etc/passwd",
        "/../../../../etc/passwd",
        "..\\..\\etc\\passwd",
        "%2e%2e/%2e%2e/etc/passwd",
    ] + [f"../{d}/secret.txt" for d in os.listdir(wharf.data_dir / "files")]:
        with pytest.raises(ftplib.error_perm) as e:
            retr(ftp, attempt)
        assert str(e.value).startswith("550"), attempt
    ftp.cwd("../../..")
    assert ftp.pwd() == "/"
    assert ftp.nlst() == []
    ftp.quit()


def test_bad_commands_keep_the_session(wharf):
    ftp = connect(wharf)
    for cmd, code in [("BOGUS", "500"), ("REIN", "502"), ("TYPE X", "501"), ("PORT 10,0,0,1,4,0", "501")]:
        with pytest.raises(ftplib.error_perm) as e:
            ftp.sendcmd(cmd)
        assert str(e.value).startswith(code), cmd
    feat = ftp.sendcmd("FEAT")
    assert "MLST" in feat and "EPSV" in feat
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()


def test_wrong_password_is_refused(wharf):
    ftp = ftplib.FTP(timeout=30)
    ftp.connect(wharf.host, wharf.port("ftp"))
    with pytest.raises(ftplib.error_perm) as e:
        ftp.login("alice@example.test", "wrong")
    assert str(e.value).startswith("530")
    ftp.login(*ALICE)
    ftp.quit()


def test_ftps_data_connection_resumes_the_control_session(wharf):
    ftp = connect(wharf, tls=True)
    ftp.storbinary("STOR f", io.BytesIO(b"x" * 1000))
    ftp.voidcmd("TYPE I")
    # ftplib (before 3.13) does not offer the control session on data connections, so
    # wrap the data socket here the way clients that do (curl, FileZilla) behave.
    conn, _ = ftplib.FTP.ntransfercmd(ftp, "RETR f")
    conn = ftp.context.wrap_socket(conn, server_hostname=ftp.host, session=ftp.sock.session)
    try:
        # RFC 4217 §10.2: the data connection resumes the control connection's session.
        assert conn.session_reused
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.unwrap()
    finally:
        conn.close()
    assert ftp.voidresp().startswith("226")
    assert data == b"x" * 1000
    ftp.quit()


def test_lftp_mirror_upload_exits_0(wharf, tmp_path):
    # lftp sends SITE CHMOD after each upload of a mirror -R and fails the run if it is
    # refused. The test needs Debian's lftp (installed by .ci/run): missing is a failure.
    import shutil
    import subprocess as sp
    lftp = shutil.which("lftp")
    assert lftp, "lftp is not installed (apt-get install lftp)"
    src = tmp_path / "site"
    (src / "sub").mkdir(parents=True)
    (src / "index.html").write_text("<p>hi</p>\n")
    (src / "sub" / "a.txt").write_text("a\n")
    script = (
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; "
        f"open -u alice@example.test,alice-pw-1 -p {wharf.port('ftp')} 127.0.0.1; "
        f"mirror -R {src} site; quit"
    )
    r = sp.run([lftp, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", (r.stdout, r.stderr)
    with ftplib.FTP() as f:
        f.connect("127.0.0.1", wharf.port("ftp"))
        f.login("alice@example.test", "alice-pw-1")
        assert sorted(n.rsplit("/", 1)[-1] for n in f.nlst("site")) == ["index.html", "sub"]
        got = []
        f.retrbinary("RETR site/sub/a.txt", got.append)
        assert b"".join(got) == b"a\n"
