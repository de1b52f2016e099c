// A job's page: live progress and cancel, then the before/after comparison and the download.
"use strict";
const box = document.getElementById("job");
const id = box.dataset.id;
const $ = (x) => document.getElementById(x);

function clock(s) {
  if (s == null || !isFinite(s)) return "";
  s = Math.round(s);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function progressText(job) {
  const p = job.progress;
  if (job.state === "queued") return "waiting for the worker";
  if (job.stage === "previews") return "making the previews";
  const parts = [p.total ? `${p.frames} / ${p.total} frames` : `${p.frames} frames`];
  if (p.fps) parts.push(`${p.fps.toFixed(1)} frames/s`);
  if (p.eta_s != null) parts.push(`ETA ${clock(p.eta_s)}`);
  return parts.join(" · ");
}

async function poll() {
  const r = await fetch(`/api/jobs/${id}`);
  if (!r.ok) { $("state").textContent = "gone"; $("running").hidden = true; return; }
  const job = await r.json();
  $("state").textContent = job.state;
  $("state").dataset.state = job.state;
  if (job.state === "queued" || job.state === "running") {
    $("progress").value = job.progress.fraction || 0;
    $("progress-text").textContent = progressText(job);
    setTimeout(poll, 500);
    return;
  }
  $("running").hidden = true;
  if (job.state === "done") show(job);
  else if (job.error) { $("error").textContent = job.error; $("error").hidden = false; }
}

$("cancel").addEventListener("click", async () => {
  $("cancel").disabled = true;
  await fetch(`/api/jobs/${id}`, { method: "DELETE" });
});

function setSplit(pct) {
  pct = Math.max(0, Math.min(100, pct));
  $("after-clip").style.clipPath = `inset(0 0 0 ${pct}%)`;
  $("handle").style.left = `${pct}%`;
  $("slider").value = pct;
}

function show(job) {
  $("result").hidden = false;
  $("download").href = job.result;
  const pv = job.previews;
  if (job.kind === "image") {
    $("compare").hidden = false; $("slider").hidden = false;
    $("before").src = pv.before; $("after").src = pv.after;
    $("slider").addEventListener("input", () => setSplit(+$("slider").value));
    let dragging = false;
    const at = (e) => { const r = $("compare").getBoundingClientRect(); setSplit(((e.clientX - r.left) / r.width) * 100); };
    $("compare").addEventListener("pointerdown", (e) => {
      e.preventDefault();                      // no native image drag: the split follows the pointer
      dragging = true; $("compare").setPointerCapture(e.pointerId); at(e);
    });
    $("compare").addEventListener("pointermove", (e) => { if (dragging) at(e); });
    for (const end of ["pointerup", "pointercancel"]) $("compare").addEventListener(end, () => { dragging = false; });
    setSplit(50);
    return;
  }
  $("players").hidden = false; $("scrubber").hidden = false;
  const a = $("video-before"), b = $("video-after");
  a.src = pv.before; b.src = pv.after;
  // the right player follows the left one: play, pause, seek, rate
  a.addEventListener("play", () => b.play());
  a.addEventListener("pause", () => b.pause());
  a.addEventListener("seeked", () => { b.currentTime = a.currentTime; });
  a.addEventListener("ratechange", () => { b.playbackRate = a.playbackRate; });
  a.addEventListener("timeupdate", () => { if (Math.abs(b.currentTime - a.currentTime) > 0.1) b.currentTime = a.currentTime; });
  const stills = pv.stills || [];
  const scrub = $("scrub");
  scrub.max = Math.max(stills.length - 1, 0);
  const pick = () => {
    const s = stills[+scrub.value];
    if (!s) return;
    $("still-before").src = s.before; $("still-after").src = s.after;
    $("scrub-label").textContent = `${s.frame} (${s.time.toFixed(2)} s)`;
    a.currentTime = s.time;
  };
  scrub.addEventListener("input", pick);
  pick();
}

poll();
