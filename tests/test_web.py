"""The web app's JSON API through Flask's test client, with real jobs on the shipped model:
upload -> job -> result, photos, zips of frames, cancel, restart persistence, bad uploads,
server paths, and a worker that survives a failing job."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("flask")

from vidcolor.media import synth  # noqa: E402
from vidcolor.web.app import create_app  # noqa: E402
from vidcolor.web.jobs import RESTARTED  # noqa: E402

from conftest import audio_packets, decode_timed, pan_frames  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def app(tmp_path):
    a = create_app(tmp_path / "data", allow_dir=tmp_path / "allowed", max_upload_mb=4, device="cpu")
    (tmp_path / "allowed").mkdir(exist_ok=True)
    yield a
    a.extensions["vidcolor"]["workers"].stop()


@pytest.fixture
def client(app):
    return app.test_client()


def submit(client, data: dict, name: str | None = None, payload: bytes | None = None, **files):
    form = dict(data)
    if payload is not None:
        form["file"] = (io.BytesIO(payload), name)
    for k, v in files.items():
        form[k] = v
    return client.post("/api/jobs", data=form, content_type="multipart/form-data")


def wait(client, job_id: str, timeout: float = 180, until=("done", "failed", "cancelled")) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] in until:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def test_video_upload_runs_and_keeps_frames_timing_audio(client, clips, tmp_path):
    src = clips["mp4_aac"]
    r = submit(client, {"temporal": "ema", "temporal_strength": "0.5"}, "my film.mp4", Path(src).read_bytes())
    assert r.status_code == 201, r.get_json()
    job = wait(client, r.get_json()["id"])
    assert job["state"] == "done", job
    assert job["kind"] == "video" and job["progress"]["frames"] == job["progress"]["total"] == 12
    assert job["options"]["temporal"] == "ema" and job["options"]["temporal_strength"] == 0.5
    res = client.get(job["result"])
    assert res.status_code == 200
    assert "my film_color.mp4" in res.headers["Content-Disposition"]
    out = tmp_path / "dl.mp4"
    out.write_bytes(res.data)
    got, want = decode_timed(out), decode_timed(src)
    assert [t for t, _ in got] == pytest.approx([t for t, _ in want], abs=1e-3)
    assert audio_packets(out) == audio_packets(src)
    # the colour is new, the luminance the input's
    lab = cv2.cvtColor(got[6][1], cv2.COLOR_RGB2LAB).astype(float)
    assert np.abs(lab[..., 1:] - 128).mean() > 2
    # previews: the gray input as H.264 with the same frame count, and stills for the scrubber
    pv = job["previews"]
    before = tmp_path / "before.mp4"
    before.write_bytes(client.get(pv["before"]).data)
    gray = decode_timed(before)
    assert len(gray) == 12
    assert np.abs(cv2.cvtColor(gray[6][1], cv2.COLOR_RGB2LAB).astype(float)[..., 1:] - 128).max() < 6
    assert pv["after"] == job["result"].replace("/result", "/files/result.mp4")
    assert [s["frame"] for s in pv["stills"]] == list(range(12))
    still = cv2.imdecode(np.frombuffer(client.get(pv["stills"][3]["after"]).data, np.uint8), cv2.IMREAD_COLOR)
    assert still.shape[:2] == (64, 96)
    # files are served only when the job lists them
    jid = job["id"]
    assert client.get(f"/api/jobs/{jid}/files/job.json").status_code == 404
    assert client.get(f"/api/jobs/{jid}/files/../../jobs").status_code == 404
    assert client.get(f"/api/jobs/{jid}/files/input.mp4").status_code == 404


def test_photo_upload_gives_a_coloured_png_and_a_gray_before(client, tmp_path):
    rgb = cv2.resize(synth.photo("astronaut"), (160, 120))
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    r = submit(client, {}, "portrait.jpg", png.tobytes())     # a PNG named .jpg: content decides
    assert r.status_code == 201, r.get_json()
    job = wait(client, r.get_json()["id"])
    assert job["state"] == "done" and job["kind"] == "image"
    out = cv2.imdecode(np.frombuffer(client.get(job["result"]).data, np.uint8), cv2.IMREAD_COLOR)
    before = cv2.imdecode(np.frombuffer(client.get(job["previews"]["before"]).data, np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == before.shape == (120, 160, 3)
    lab_out = cv2.cvtColor(out, cv2.COLOR_BGR2LAB).astype(float)
    lab_in = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2LAB).astype(float)
    lab_before = cv2.cvtColor(before, cv2.COLOR_BGR2LAB).astype(float)
    assert np.abs(lab_before[..., 1:] - 128).max() <= 2             # before: gray
    assert np.abs(lab_out[..., 1:] - 128).mean() > 2                # after: coloured
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).mean() < 2      # ... with the input's luminance


def test_zip_of_frames_becomes_a_video_at_the_given_rate(client, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, f in enumerate(pan_frames(10)):
            z.writestr(f"reel/f{i + 1}.png", cv2.imencode(".png", f)[1].tobytes())
        z.writestr("reel/notes.txt", "not a frame")
    r = submit(client, {"fps": "12.5", "codec": "libvpx-vp9"}, "reel.zip", buf.getvalue())
    assert r.status_code == 201, r.get_json()
    job = wait(client, r.get_json()["id"])
    assert job["state"] == "done" and job["kind"] == "frames", job
    out = tmp_path / "reel.webm"
    out.write_bytes(client.get(job["result"]).data)
    frames = decode_timed(out)
    assert len(frames) == 10
    assert frames[-1][0] == pytest.approx(9 / 12.5, abs=2e-3)


def test_cancel_stops_a_running_job_and_leaves_no_output(client, tmp_path):
    long_clip = synth.write_clip(tmp_path / "long.mp4", pan_frames(400), fps=24, audio_codec=None)
    r = submit(client, {"temporal": "none"}, "long.mp4", Path(long_clip).read_bytes())
    jid = r.get_json()["id"]
    job = wait(client, jid, until=("running",))
    t0 = time.monotonic()
    while job["progress"]["frames"] == 0 and time.monotonic() - t0 < 60:
        job = client.get(f"/api/jobs/{jid}").get_json()
        time.sleep(0.05)
    assert job["state"] == "running" and 0 < job["progress"]["frames"] < 400
    assert job["progress"]["total"] == 400 and job["progress"]["fps"] > 0 and job["progress"]["eta_s"] > 0
    assert client.delete(f"/api/jobs/{jid}").status_code == 202
    job = wait(client, jid)
    assert job["state"] == "cancelled"
    folder = tmp_path / "data" / "jobs" / jid
    assert sorted(p.name for p in folder.iterdir()) == ["input.mp4", "job.json"]   # no partial result
    assert client.get(f"/api/jobs/{jid}/result").status_code == 409
    # a finished job is deleted with its files
    assert client.delete(f"/api/jobs/{jid}").get_json() == {"id": jid, "deleted": True}
    assert not folder.exists() and client.get(f"/api/jobs/{jid}").status_code == 404


def test_restart_keeps_results_and_fails_unfinished_jobs(tmp_path, clips, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = Path("data")                               # relative, as `vidcolor serve --data data`
    first = create_app(data, device="cpu")
    c = first.test_client()
    done = wait(c, submit(c, {}, "a.mp4", Path(clips["noaudio"]).read_bytes()).get_json()["id"])
    res = c.get(done["result"])
    assert res.status_code == 200
    result = res.data
    (tmp_path / "r.mp4").write_bytes(result)
    assert len(decode_timed(tmp_path / "r.mp4")) == 12
    first.extensions["vidcolor"]["workers"].stop()
    idle = create_app(data, workers=False)           # a server that dies before running its queue
    queued = submit(idle.test_client(), {}, "b.mp4", Path(clips["noaudio"]).read_bytes()).get_json()
    (data / "jobs" / queued["id"] / ".result.mp4.partial").write_bytes(b"half")   # as a killed run leaves
    again = create_app(data, device="cpu").test_client()
    assert again.get(f"/api/jobs/{done['id']}").get_json()["state"] == "done"
    assert again.get(done["result"]).data == result
    lost = again.get(f"/api/jobs/{queued['id']}").get_json()
    assert lost["state"] == "failed" and lost["error"] == RESTARTED
    assert sorted(p.name for p in (data / "jobs" / queued["id"]).iterdir()) == ["input.mp4", "job.json"]


@pytest.mark.parametrize("name,payload,status,words", [
    ("notes.mp4", b"just some text, not a video at all", 400, "not a photo, a video or a zip"),
    ("empty.png", b"", 400, "the upload is empty"),
    ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 400, "does not decode"),
])
def test_bad_uploads_get_one_line(client, app, name, payload, status, words):
    r = submit(client, {}, name, payload)
    assert r.status_code == status
    err = r.get_json()["error"]
    assert words in err and "\n" not in err
    assert list((Path(app.extensions["vidcolor"]["store"].jobs_dir)).iterdir()) == []   # nothing kept


def test_too_large_upload_is_refused(client):
    r = submit(client, {}, "big.mp4", b"\0" * (5 << 20))
    assert r.status_code == 413 and "4 MB" in r.get_json()["error"]


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


def test_zip_traversal_bombs_and_empty_zips_are_refused(client, tmp_path):
    png = cv2.imencode(".png", pan_frames(1)[0])[1].tobytes()
    cases = [
        (_zip({"ok.png": png, "../../evil.png": png}), "outside the archive"),
        (_zip({"/abs/evil.png": png}), "outside the archive"),
        (_zip({"bomb.png": b"\0" * (64 << 20)}, zipfile.ZIP_DEFLATED), "zip bomb"),
        (_zip({"readme.txt": b"hello"}), "no image frames"),
        (b"PK\x03\x04" + b"\0" * 100, "damaged"),
    ]
    for payload, words in cases:
        r = submit(client, {}, "frames.zip", payload)
        assert r.status_code == 400 and words in r.get_json()["error"], (words, r.get_json())
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "data" / "evil.png").exists()
    assert list((tmp_path / "data" / "jobs").iterdir()) == []


@pytest.mark.parametrize("form,words", [
    ({"model": "nope"}, "unknown model 'nope'"),
    ({"model": "eccv16"}, "vidcolor weights download eccv16"),
    ({"model": "tiny"}, "no default weights"),
    ({"temporal": "sideways"}, "sideways"),
    ({"temporal_strength": "1.5"}, "strength"),
    ({"temporal_strength": "lots"}, "temporal-strength must be a number"),
    ({"size": "100"}, "multiple of 8"),
    ({"render_factor": "20"}, "--render-factor is DeOldify's setting"),
    ({"codec": "mjpeg"}, "--codec"),
])
def test_bad_options_get_the_cli_message(client, clips, form, words):
    r = submit(client, form, "a.mp4", Path(clips["noaudio"]).read_bytes())
    assert r.status_code == 400
    assert words in r.get_json()["error"], r.get_json()


def test_server_paths_only_under_allow_dir(client, clips, tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "film.mp4").write_bytes(Path(clips["noaudio"]).read_bytes())
    (tmp_path / "secret.mp4").write_bytes(Path(clips["noaudio"]).read_bytes())
    (allowed / "link.mp4").symlink_to(tmp_path / "secret.mp4")
    assert client.get("/api/files").get_json() == ["film.mp4", "link.mp4"]
    for path in ("../secret.mp4", str(tmp_path / "secret.mp4"), "link.mp4", "missing.mp4"):
        r = client.post("/api/jobs", data={"path": path})
        assert r.status_code == 400 and "not a file under the server's --allow-dir" in r.get_json()["error"], path
    r = client.post("/api/jobs", data={"path": "film.mp4"})
    job = wait(client, r.get_json()["id"])
    assert job["state"] == "done" and job["name"] == "film.mp4"
    assert (allowed / "film.mp4").read_bytes() == Path(clips["noaudio"]).read_bytes()   # input untouched


def test_no_server_files_without_allow_dir(tmp_path):
    app = create_app(tmp_path / "d", workers=False)
    c = app.test_client()
    assert c.get("/api/files").status_code == 404
    r = c.post("/api/jobs", data={"path": "/etc/passwd"})
    assert r.status_code == 400 and "--allow-dir" in r.get_json()["error"]


def test_unknown_jobs_and_malformed_ids(client):
    for jid in ("0" * 32, "not-an-id"):
        for method in (client.get, client.delete):
            r = method(f"/api/jobs/{jid}")
            assert r.status_code == 404 and r.get_json()["error"] == f"no job '{jid}'"
    assert client.get(f"/api/jobs/{'0' * 32}/result").status_code == 404
    for path in ("/api/jobs/..%2F..%2Fetc%2Fpasswd/result", "/api/nothing"):
        r = client.get(path)
        assert r.status_code == 404 and r.get_json()["error"].startswith("not found: GET /api/")
    assert client.put("/api/jobs").get_json()["error"] == "method not allowed: PUT /api/jobs"


def test_hints_may_only_name_their_own_uploads(client, clips, tmp_path):
    (tmp_path / "other.png").write_bytes(cv2.imencode(".png", pan_frames(1)[0])[1].tobytes())
    hints = json.dumps({"frames": [{"frame": 0, "scribble": "../../../other.png"}]}).encode()
    r = submit(client, {}, "a.mp4", Path(clips["noaudio"]).read_bytes(), hints=(io.BytesIO(hints), "h.json"))
    assert r.status_code == 400 and "outside this job's uploads" in r.get_json()["error"], r.get_json()


def test_a_failing_job_does_not_stop_the_worker(client, clips, tmp_path):
    # a keyframe of the wrong aspect ratio passes the upload checks and fails in the run
    bad = cv2.imencode(".png", np.full((50, 50, 3), 120, np.uint8))[1].tobytes()
    r = submit(client, {}, "a.mp4", Path(clips["noaudio"]).read_bytes(),
               reference=(io.BytesIO(bad), "keyframe_000000.png"))
    assert r.status_code == 201, r.get_json()
    failed = wait(client, r.get_json()["id"])
    assert failed["state"] == "failed" and "aspect" in failed["error"] and "\n" not in failed["error"]
    assert failed["guided"] == ["reference"]
    ok = wait(client, submit(client, {}, "b.mp4", Path(clips["noaudio"]).read_bytes()).get_json()["id"])
    assert ok["state"] == "done"


def test_guided_job_follows_an_uploaded_keyframe(client, tmp_path):
    color = pan_frames(12, gray=False)
    clip = synth.write_clip(tmp_path / "c.mp4", synth.to_gray(color), fps=24, audio_codec=None)
    key = cv2.imencode(".png", cv2.cvtColor(color[0], cv2.COLOR_RGB2BGR))[1].tobytes()
    auto = wait(client, submit(client, {}, "c.mp4", Path(clip).read_bytes()).get_json()["id"])
    guided = wait(client, submit(client, {}, "c.mp4", Path(clip).read_bytes(),
                                 reference=(io.BytesIO(key), "keyframe_000000.png")).get_json()["id"])
    assert guided["state"] == "done" and guided["guided"] == ["reference"], guided

    def ab_error(job) -> float:
        out = tmp_path / f"{job['id']}.mp4"
        out.write_bytes(client.get(job["result"]).data)
        got = decode_timed(out)[2][1]
        lab = [cv2.cvtColor(x, cv2.COLOR_RGB2LAB).astype(float)[..., 1:] for x in (got, color[2])]
        return float(np.abs(lab[0] - lab[1]).mean())

    assert ab_error(guided) < 0.6 * ab_error(auto)


def test_serve_warns_off_loopback_and_stops_cleanly_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "vidcolor", "serve", "--host", "0.0.0.0", "--port", "0",
                             "--data", str(tmp_path / "d")], stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        t0 = time.monotonic()
        while not any("web app on" in x for x in lines) and time.monotonic() - t0 < 60:
            lines.append(proc.stderr.readline())
        assert any("warning: serving on 0.0.0.0" in x and "no login" in x for x in lines), lines
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in rest, rest
