"""Hub ids: a download from a stand-in hub on 127.0.0.1 reports progress through the job messages, lands in the
standard cache, and then loads with HF_HUB_OFFLINE=1."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sdstudio.core import demo

ROOT = Path(__file__).resolve().parents[2]
REPO = "someone/tiny-sd"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _serve(folder: Path) -> ThreadingHTTPServer:
    """The few hub endpoints snapshot_download uses: model info, the file tree, and file downloads."""
    files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}

    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _json(self, obj) -> None:
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _file(self, head: bool) -> None:
            rel = self.path.split(f"/{REPO}/resolve/", 1)[-1].split("/", 1)[-1].split("?")[0]
            path = files.get(rel)
            if path is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            if not head:
                self.wfile.write(data)

        def do_HEAD(self) -> None:
            self._file(True)

        def do_GET(self) -> None:
            if self.path.startswith(f"/api/models/{REPO}/tree/"):
                self._json(
                    [
                        {
                            "type": "file",
                            "path": k,
                            "size": p.stat().st_size,
                            "oid": hashlib.sha1(p.read_bytes()).hexdigest(),
                        }
                        for k, p in files.items()
                    ]
                )
            elif self.path.startswith(f"/api/models/{REPO}"):
                self._json({"id": REPO, "sha": COMMIT, "siblings": [{"rfilename": k} for k in files]})
            else:
                self._file(False)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


SCRIPT = """
import json, sys
from sdstudio.core.engine import Engine
from sdstudio.core.jobs import JobFinished, JobProgress, JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings
from sdstudio.core.request import Request
queue = JobQueue(engine_factory=lambda: Engine(ModelLibrary(Settings.load()), device="cpu"))
seen = []
queue.subscribe(lambda m: seen.append([m.progress.phase, m.progress.step, m.progress.total]) if isinstance(m, JobProgress) else None)
job = queue.submit(Request(prompt="from the hub", steps=2, width=64, height=64, seed=1, model=sys.argv[1]))
queue.run_pending()
final = queue.wait(job, 1)
print(json.dumps({"ok": isinstance(final, JobFinished), "message": getattr(final, "message", ""), "progress": seen,
                  "model": final.result.model_name if isinstance(final, JobFinished) else ""}))
"""


def _run(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, REPO], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_hub_download_reports_progress_then_works_offline(tmp_path: Path, demo_home: Path) -> None:
    server = _serve(demo.demo_path())
    try:
        env = os.environ | {
            "HF_HOME": str(tmp_path / "hf"),
            "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
            "SDSTUDIO_HOME": str(demo_home),
        }
        env.pop("HF_HUB_OFFLINE", None)
        env.pop("TRANSFORMERS_OFFLINE", None)
        first = _run(env)
    finally:
        server.shutdown()
    assert first["ok"], first["message"]
    downloads = [p for p in first["progress"] if p[0] == "download"]
    n = len([p for p in demo.demo_path().rglob("*") if p.is_file()])
    assert [p[1] for p in downloads] == list(range(1, n + 1)) and {p[2] for p in downloads} == {n}
    assert [p[1:] for p in first["progress"] if p[0] == "sampling"] == [[1, 2], [2, 2]]
    assert first["progress"].index(downloads[-1]) < first["progress"].index(["sampling", 1, 2])
    assert first["model"] == "tiny-sd"
    assert (
        tmp_path / "hf" / "hub" / "models--someone--tiny-sd" / "snapshots" / COMMIT / "model_index.json"
    ).exists()
    # 2. the standard cache serves it with HF_HUB_OFFLINE=1 and the stand-in hub gone
    again = _run(env | {"HF_HUB_OFFLINE": "1"})
    assert again["ok"], again["message"]
    assert [p[0] for p in again["progress"]] == ["sampling", "sampling"]  # nothing fetched
