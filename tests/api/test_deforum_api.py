"""Deforum's API shape over the live server: a batch renders on the shared queue; bad settings are 400s."""

from __future__ import annotations

import time
from pathlib import Path

import av
import httpx

from tests.api.conftest import Live

TINY = {
    "W": 64,
    "H": 64,
    "steps": 2,
    "max_frames": 3,
    "diffusion_cadence": 1,
    "seed": 5,
    "fps": 8,
    "strength_schedule": "0:(0.5)",
    "prompts": {"0": "a lighthouse --neg blurry", "2": "a boat"},
}


def _wait(client: httpx.Client, batch: str, until: set[str], timeout: float = 300) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.get(f"/deforum_api/batches/{batch}").json()
        if all(j["status"] in until for j in jobs):
            return jobs
        time.sleep(0.2)
    raise AssertionError(f"batch {batch} did not reach {until}: {jobs}")


def test_batch_renders_on_the_queue_and_reports_status(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        r = client.post("/deforum_api/batches", json={"deforum_settings": [TINY, TINY | {"seed": 6}]})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["message"] == "Job(s) accepted" and body["batch_id"].startswith("batch(")
        assert body["job_ids"] == [f"{body['batch_id']}-0", f"{body['batch_id']}-1"]
        jobs = _wait(client, body["batch_id"], {"SUCCEEDED", "FAILED", "CANCELLED"})
        assert [j["status"] for j in jobs] == ["SUCCEEDED", "SUCCEEDED"], jobs
        assert jobs[0]["phase"] == "DONE" and jobs[0]["phase_progress"] == 1.0 and jobs[0]["updates"] > 3
        assert jobs[0]["deforum_settings"] == [TINY]
        video = Path(jobs[0]["outdir"]) / "video.mp4"
        with av.open(str(video)) as c:
            assert len(list(c.decode(video=0))) == 3
        assert client.get(f"/deforum_api/jobs/{body['job_ids'][1]}").json()["status"] == "SUCCEEDED"
        assert body["batch_id"] in client.get("/deforum_api/batches").json()
        # both videos are in the gallery as video entries of their project folders
        videos = {Path(r.path): r for r in live.store.search(kind="video")}
        assert set(videos) == {(Path(j["outdir"]) / "video.mp4").resolve() for j in jobs}
        assert all(Path(r.project or "") == p.parent for p, r in videos.items())


def test_bad_settings_and_unknown_ids(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        r = client.post("/deforum_api/batches", json={"deforum_settings": [TINY, TINY | {"zoom": "0:(1+)"}]})
        assert r.status_code == 400 and r.json()["message"].startswith(
            "deforum_settings[1]: zoom: keyframe 0"
        )
        r = client.post("/deforum_api/batches", json={"deforum_settings": TINY | {"animation_mode": "3D"}})
        assert r.status_code == 400 and "depth model" in r.json()["message"]
        r = client.post("/deforum_api/batches", json={"deforum_settings": TINY | {"W": 1024, "H": 1024}})
        assert r.status_code == 400 and "over this server's" in r.json()["message"]
        r = client.post(
            "/deforum_api/batches",
            json={"deforum_settings": TINY | {"use_init": True, "init_image": "/etc/hosts"}},
        )
        assert r.status_code == 400 and "reads no files" in r.json()["message"]
        assert client.post("/deforum_api/batches", json={}).status_code == 400
        assert client.get("/deforum_api/batches/nope").json() == {"id": "nope", "status": "NOT FOUND"}
        assert client.delete("/deforum_api/batches/nope").status_code == 404
        assert client.delete("/deforum_api/jobs/nope").status_code == 404
        assert live.queue.jobs() == ()  # nothing was queued


def test_cancel_a_running_batch(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        body = client.post(
            "/deforum_api/batches", json={"deforum_settings": TINY | {"max_frames": 200}}
        ).json()
        deadline = time.monotonic() + 300
        outdir = Path(client.get(f"/deforum_api/jobs/{body['job_ids'][0]}").json()["outdir"])
        while len(list(outdir.glob("frames/*.png"))) < 2:  # running, with frames done
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = client.delete(f"/deforum_api/batches/{body['batch_id']}")
        assert r.json()["ids"] == body["job_ids"] and r.json()["message:"] == "1 job(s) cancelled."
        jobs = _wait(client, body["batch_id"], {"CANCELLED"})
        assert jobs[0]["message"] == "Cancelled due to user request."
        deadline = time.monotonic() + 60
        while live.queue.jobs():  # the queue is free again
            assert time.monotonic() < deadline
            time.sleep(0.1)
        frames = sorted((outdir / "frames").glob("*.png"))
        assert 2 <= len(frames) < 200  # the frames rendered so far are kept
        assert client.delete(f"/deforum_api/jobs/{body['job_ids'][0]}").status_code == 400
