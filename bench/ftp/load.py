#!/usr/bin/env python3
"""Concurrent FTP clients for bench/ftp/run.sh.

    load.py HOST PORT USER PASSWORD CLIENTS FILE SIZE

Opens CLIENTS control connections (at most RAMP connecting and logging in at once, so a
listen backlog of 32 is not overrun), logs every one in, waits until all are logged in,
then each fetches FILE (passive, binary) and checks it got SIZE bytes; every connection
stays open until all clients have their file, so the server holds CLIENTS sessions at
the peak. At both barriers all clients are held for HOLD seconds, so a memory sampler
sees the plateau; that time is not counted. Prints one line:
"clients=N seconds=T failures=F" (T from the first connect to the last file, holds
excluded). Exit status 1 if any client failed.
"""

import ftplib
import os
import sys
import threading
import time


def main():
    host, port, user, password, clients, name, size = sys.argv[1:8]
    port, clients, size = int(port), int(clients), int(size)
    hold = float(os.environ.get("HOLD", "1.0"))
    ramp = threading.Semaphore(int(os.environ.get("RAMP", "16")))
    held = [0.0]

    def pause():
        time.sleep(hold)
        held[0] += hold

    logged_in = threading.Barrier(clients, action=pause)
    fetched = threading.Barrier(clients, action=pause)
    failures = []

    def client():
        ftp = None
        try:
            ftp = ftplib.FTP(timeout=60)
            with ramp:
                ftp.connect(host, port)
                ftp.login(user, password)
            logged_in.wait()
            got = [0]

            def count(chunk):
                got[0] += len(chunk)

            ftp.retrbinary(f"RETR {name}", count, blocksize=65536)
            if got[0] != size:
                raise RuntimeError(f"got {got[0]} bytes, expected {size}")
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))
            logged_in.abort()
        finally:
            try:
                fetched.wait()
            except threading.BrokenBarrierError:
                pass
            if ftp is not None:
                try:
                    ftp.quit()
                except Exception:  # noqa: BLE001
                    ftp.close()

    start = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start - held[0]
    print(f"clients={clients} seconds={seconds:.3f} failures={len(failures)}")
    for f in failures[:5]:
        print(f"failure: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
