// The upload form: posts to /api/jobs with upload progress, then opens the job's page.
"use strict";
const form = document.getElementById("job-form");
const fileInput = document.getElementById("file");
const errorBox = document.getElementById("error");
const bar = document.getElementById("upload-progress");
const model = document.getElementById("model");

function showError(msg) { errorBox.textContent = msg; errorBox.hidden = !msg; }

function syncModel() {
  const opt = model.selectedOptions[0];
  const render = opt && opt.dataset.render === "1";
  document.getElementById("render-box").hidden = !render;
  document.getElementById("size-box").hidden = render;
}
model.addEventListener("change", syncModel);
syncModel();

const strength = document.getElementById("temporal_strength");
strength.addEventListener("input", () => { document.getElementById("strength-value").textContent = strength.value; });

fileInput.addEventListener("change", () => {
  const f = fileInput.files[0];
  document.getElementById("drop-text").textContent = f ? `${f.name} (${(f.size / 1048576).toFixed(1)} MB)` : "";
});
const drop = document.getElementById("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) { fileInput.files = e.dataTransfer.files; fileInput.dispatchEvent(new Event("change")); }
});

const pathSelect = document.getElementById("path");
if (pathSelect) {
  fetch("/api/files").then((r) => r.json()).then((files) => {
    for (const f of files) { const o = document.createElement("option"); o.value = o.textContent = f; pathSelect.append(o); }
  });
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  showError("");
  const data = new FormData(form);
  for (const [k, v] of [...data.entries()]) {       // empty fields mean "the default"
    if (v === "" || (v instanceof File && !v.name)) data.delete(k);
  }
  if (!fileInput.files.length && !(pathSelect && pathSelect.value)) { showError("Choose a photo, a video or a zip of frames first."); return; }
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/jobs");
  xhr.responseType = "json";
  bar.hidden = false; bar.value = 0;
  document.getElementById("submit").disabled = true;
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = ev.loaded / ev.total; };
  xhr.onload = () => {
    document.getElementById("submit").disabled = false;
    bar.hidden = true;
    const body = xhr.response || {};
    if (xhr.status === 201) {
      const ids = JSON.parse(localStorage.getItem("vidcolor-jobs") || "[]");
      localStorage.setItem("vidcolor-jobs", JSON.stringify([body.id, ...ids.filter((i) => i !== body.id)].slice(0, 20)));
      location.href = `/jobs/${body.id}`;
    } else {
      showError(body.error || `upload failed (HTTP ${xhr.status})`);
    }
  };
  xhr.onerror = () => { document.getElementById("submit").disabled = false; bar.hidden = true; showError("the server could not be reached"); };
  xhr.send(data);
});

// jobs started from this browser (their ids are the only way to reach them)
const ids = JSON.parse(localStorage.getItem("vidcolor-jobs") || "[]");
const list = document.getElementById("recent-list");
Promise.all(ids.map((id) => fetch(`/api/jobs/${id}`).then((r) => (r.ok ? r.json() : null)))).then((jobs) => {
  const live = jobs.filter(Boolean);
  localStorage.setItem("vidcolor-jobs", JSON.stringify(live.map((j) => j.id)));
  for (const j of live) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/jobs/${j.id}`; a.textContent = j.name;
    li.append(a, ` · ${j.options.model} · ${j.state}`);
    list.append(li);
  }
  document.getElementById("recent").hidden = live.length === 0;
});
