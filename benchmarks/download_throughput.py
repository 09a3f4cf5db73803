"""Download overhead: sdstudio's resumable, verifying, progress-reporting fetch against a bare urllib read of the
same file from a server on 127.0.0.1, and against that read followed by a sha256 of the file (wget + sha256sum).

Target: fetch time <= 1.1x read-then-hash (the hash is computed as the bytes stream by); the ratio to the bare
read, which verifies nothing, is printed for reference.
Usage: python benchmarks/download_throughput.py [--mb 256]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("SDSTUDIO_HOME", tempfile.mkdtemp(prefix="sdstudio-bench-"))
    from sdstudio.core.install.transfer import fetch
    from tests.core.install.servers import Site, serve, url

    data = os.urandom(args.mb * 2**20)
    sha = hashlib.sha256(data).hexdigest()
    site = Site(files={"/big.bin": data})
    server = serve(site)
    work = Path(tempfile.mkdtemp(prefix="sdstudio-dl-"))
    plain, hashed, ours, reports = [], [], [], []
    try:
        for _ in range(args.rounds):
            # 1. a bare read to disk
            start = time.perf_counter()
            with urllib.request.urlopen(url(server, "/big.bin")) as resp, open(work / "plain.bin", "wb") as f:
                shutil.copyfileobj(resp, f, 1 << 20)
            plain.append(time.perf_counter() - start)
            digest = hashlib.sha256()
            with open(work / "plain.bin", "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            hashed.append(time.perf_counter() - start)
            assert digest.hexdigest() == sha
            (work / "plain.bin").unlink()
            # 2. sdstudio's fetch: ranges, sha256, progress
            seen: list = []
            start = time.perf_counter()
            got = fetch(url(server, "/big.bin"), work / "ours.part", sha256=sha, on_progress=seen.append)
            ours.append(time.perf_counter() - start)
            assert got.sha256 == sha
            reports.append(len(seen))
            (work / "ours.part").unlink()
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    p, h, o = statistics.median(plain), statistics.median(hashed), statistics.median(ours)
    print(f"file: {args.mb} MB over 127.0.0.1, median of {args.rounds}")
    print(f"bare urllib read: {p:.2f} s ({args.mb / p:.0f} MB/s)")
    print(
        f"sdstudio fetch:   {o:.2f} s ({args.mb / o:.0f} MB/s), {statistics.median(reports):.0f} progress reports"
    )
    print(f"read, then sha256: {h:.2f} s")
    print(f"ratio fetch / read-then-hash: {o / h:.2f} (target <= 1.1); fetch / bare read: {o / p:.2f}")


if __name__ == "__main__":
    main()
