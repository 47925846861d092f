// facecanvas web page: forms are built from /api/ops (each operation's Options.schema()), nothing per operation.
"use strict";
const $ = (id) => document.getElementById(id);
const state = {catalog: null, upload: null, picked: new Set(), cam: null};

function showError(text) { $("error").textContent = text || ""; }
function setStatus(text) { $("status").textContent = text || ""; }

async function api(url, opts) {
  let r;
  try { r = await fetch(url, opts); } catch (e) { throw new Error("the server cannot be reached: " + e.message); }
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok || (data && data.error)) throw new Error((data && data.error) || `request failed (${r.status})`);
  return data;
}

// ---- forms from the schema -------------------------------------------------------------------------
function field(d, prefix) {
  const wrap = document.createElement("div");
  wrap.className = "field";
  wrap.dataset.name = prefix + d.name;
  const id = "f-" + prefix.replace(".", "-") + d.name;
  const label = document.createElement("label");
  label.textContent = d.label;
  label.htmlFor = id;
  wrap.appendChild(label);
  let input;
  const dflt = d.default === null || d.default === undefined ? "" : String(d.default);
  if (d.widget === "checkbox") {
    input = document.createElement("input"); input.type = "checkbox"; input.checked = !!d.default;
    label.prepend(input); label.append(" ");
  } else if (d.widget === "select") {
    input = document.createElement("select");
    if (d.optional) input.add(new Option("(default)", ""));
    for (const v of d.values) input.add(new Option(v, v, false, v === dflt));
    if (dflt) input.value = dflt;
    wrap.appendChild(input);
  } else if (d.widget === "range" && !(d.optional && dflt === "")) {
    const box = document.createElement("div"); box.className = "range";
    input = document.createElement("input"); input.type = "range";
    const num = document.createElement("input"); num.type = "number";
    for (const el of [input, num]) { el.min = d.min; el.max = d.max; el.step = d.step; el.value = dflt; }
    input.oninput = () => { num.value = input.value; };
    num.oninput = () => { input.value = num.value; };
    num.setAttribute("aria-label", d.label);
    box.append(input, num); wrap.appendChild(box);
  } else if (d.widget === "range" || d.widget === "number") {
    input = document.createElement("input"); input.type = "number"; input.step = d.step;
    if (d.min !== null && d.min !== undefined) input.min = d.min;
    if (d.max !== null && d.max !== undefined) input.max = d.max;
    input.value = dflt; input.placeholder = d.optional ? "auto" : "";
    wrap.appendChild(input);
  } else if (d.widget === "multi") {
    const box = document.createElement("div"); box.className = "checks";
    const on = dflt === "all" ? d.values : dflt.split(",");
    for (const v of d.values) {
      const l = document.createElement("label"); const c = document.createElement("input");
      c.type = "checkbox"; c.value = v; c.checked = on.includes(v); c.className = "multi";
      l.append(c, " " + v); box.appendChild(l);
    }
    wrap.appendChild(box);
    input = {multi: box};
  } else if (d.widget === "suggest") {
    input = document.createElement("select");
    for (const v of d.values) input.add(new Option(v, v, false, v === dflt));
    input.add(new Option("my own file…", "@file"));
    wrap.appendChild(input);
    const file = fileInput(d.accept, id + "-file");
    file.classList.add("hidden");
    input.onchange = () => file.classList.toggle("hidden", input.value !== "@file");
    wrap.appendChild(file); wrap._file = file;
  } else if (d.widget === "file") {
    input = fileInput(d.accept, id);
    wrap.appendChild(input); wrap._file = input;
  } else {
    input = document.createElement("input"); input.type = "text"; input.value = dflt;
    input.placeholder = d.optional ? "(default)" : "";
    wrap.appendChild(input);
  }
  if (input instanceof HTMLElement && !input.id) input.id = id;
  if (input instanceof HTMLElement) input.name = prefix + d.name;
  wrap._input = input; wrap._desc = d;
  if (d.help) { const h = document.createElement("div"); h.className = "hint"; h.textContent = d.help; wrap.appendChild(h); }
  return wrap;
}

function fileInput(accept, id) {
  const f = document.createElement("input"); f.type = "file"; f.id = id;
  if (accept) f.accept = accept;
  f.onchange = async () => {           // uploaded once; the operation is then built once for it
    f.dataset.asset = "";
    if (!f.files.length) return;
    if (tooLarge(f.files[0])) { showError(tooLarge(f.files[0])); return; }
    const fd = new FormData(); fd.append("file", f.files[0]);
    try { showError(""); f.dataset.asset = "@asset:" + (await api("/api/asset", {method: "POST", body: fd})).asset; }
    catch (e) { showError(e.message); }
  };
  return f;
}

function collect(formEl, fd) {
  for (const wrap of formEl.querySelectorAll(".field")) {
    const name = wrap.dataset.name, d = wrap._desc, input = wrap._input;
    if (d.widget === "checkbox") fd.append(name, input.checked ? "true" : "false");
    else if (d.widget === "multi") {
      const on = [...input.multi.querySelectorAll("input:checked")].map((c) => c.value);
      fd.append(name, on.length === d.values.length ? "all" : on.join(","));
    } else if (d.widget === "file") { if (input.dataset.asset) fd.append(name, input.dataset.asset); }
    else if (d.widget === "suggest" && input.value === "@file") {
      if (wrap._file.dataset.asset) fd.append(name, wrap._file.dataset.asset);
    } else fd.append(name, input.value);
  }
}

function renderOp() {
  const op = state.catalog.ops.find((o) => o.name === $("op").value);
  $("op-summary").textContent = op ? op.summary : "";
  const form = $("options"); form.innerHTML = "";
  if (op) for (const d of op.fields) form.appendChild(field(d, "opt."));
}

async function loadCatalog() {
  state.catalog = await api("/api/ops");
  const sel = $("op");
  for (const op of state.catalog.ops) sel.add(new Option(op.name, op.name));
  const faces = $("faces");
  for (const d of state.catalog.faces) faces.appendChild(field(d, "face."));
  sel.onchange = renderOp;
  renderOp();
  if (state.catalog.unavailable.length)
    setStatus("unavailable: " + state.catalog.unavailable.map((u) => `${u.name} (${u.error})`).join("; "));
}

// ---- upload, overlay, face picking ----------------------------------------------------------------
function drawOverlay() {
  const svg = $("overlay"), up = state.upload;
  svg.innerHTML = "";
  if (!up) return;
  svg.setAttribute("viewBox", `0 0 ${up.width} ${up.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  up.faces.forEach((f, i) => {
    const [x0, y0, x1, y1] = f.box;
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    r.setAttribute("x", x0); r.setAttribute("y", y0); r.setAttribute("width", x1 - x0); r.setAttribute("height", y1 - y0);
    r.dataset.face = i;
    if (state.picked.has(i)) r.classList.add("picked");
    r.onclick = () => { state.picked.has(i) ? state.picked.delete(i) : state.picked.add(i); drawOverlay(); };
    const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.setAttribute("x", x0 + 4); t.setAttribute("y", Math.max(14, y0 - 6)); t.textContent = String(i + 1);
    svg.append(r, t);
  });
  $("pick-info").textContent = up.faces.length ? (state.picked.size ? `editing face ${[...state.picked].map((i) => i + 1).join(", ")}` :
    `${up.faces.length} face${up.faces.length > 1 ? "s" : ""} found: all are edited (click to choose)`) : "no face found";
}

function clearResult() {
  for (const id of ["after-img", "cmp-before"]) $(id).removeAttribute("src");
  $("cmp-clip").classList.add("hidden"); $("after-img").classList.remove("hidden");
  // a video's first frame (with the faces to click) is back in the Before panel
  $("before-video").pause(); $("before-video").classList.add("hidden"); $("before-video").removeAttribute("src");
  $("before-img").classList.remove("hidden"); $("overlay").classList.remove("hidden");
  $("after-video").classList.add("hidden"); $("after-video").removeAttribute("src");
  $("download").classList.add("hidden"); $("compare-box").classList.add("hidden");
  $("after-empty").classList.remove("hidden");
}

// The server refuses it too (HTTP 413, the same line); checking first spares sending a file that is refused.
function tooLarge(f) {
  const limit = state.catalog ? state.catalog.limits.max_upload_mb : Infinity;
  const mb = (n) => String(Math.round(n * 10) / 10);
  return f.size > limit * 1e6 ? `cannot read ${f.name}: file is too large (${mb(f.size / 1e6)} MB > ${mb(limit)} MB upload limit)` : "";
}

async function onFile() {
  const f = $("file").files[0];
  if (!f) return;
  showError(""); clearResult(); state.upload = null; state.picked.clear(); drawOverlay();
  if (tooLarge(f)) { showError(tooLarge(f)); $("run").disabled = true; return; }
  $("run").disabled = true; $("before-img").removeAttribute("src"); $("before-empty").classList.remove("hidden");
  setStatus("uploading " + f.name + " …");
  const fd = new FormData(); fd.append("file", f, f.name);
  try {
    const up = await api("/api/upload", {method: "POST", body: fd});
    state.upload = up;
    $("before-img").src = up.before;
    $("before-empty").classList.add("hidden");
    $("upload-info").textContent = up.kind === "video" ?
      `video ${up.width}x${up.height}, ${up.frames || "?"} frames at ${up.fps.toFixed(2)} fps${up.audio ? ", with audio" : ""}` :
      `photo ${up.width}x${up.height}`;
    drawOverlay();
    $("run").disabled = false;
    setStatus("");
  } catch (e) { showError(e.message); setStatus(""); }
}

// ---- run a job ------------------------------------------------------------------------------------
async function run() {
  if (!state.upload) return;
  showError(""); clearResult();
  const fd = new FormData();
  fd.append("upload", state.upload.upload);
  fd.append("op", $("op").value);
  collect($("options"), fd); collect($("faces"), fd);
  fd.append("pick", [...state.picked].join(","));
  $("run").disabled = true;
  $("progress-box").classList.remove("hidden"); $("progress").value = 0; $("progress-text").textContent = "queued";
  try {
    const {job} = await api("/api/process", {method: "POST", body: fd});
    let s;
    for (;;) {
      s = await api("/api/jobs/" + job);
      $("progress").value = s.progress;
      $("progress-text").textContent = s.state === "running" && s.total ? `${s.frames} / ${s.total} frames` : s.state;
      if (s.state === "done" || s.state === "error") break;
      await new Promise((r) => setTimeout(r, 300));
    }
    if (s.state === "error") throw new Error(s.error);
    showResult(s);
  } catch (e) { showError(e.message); }
  finally { $("run").disabled = false; $("progress-box").classList.add("hidden"); }
}

function showResult(s) {
  $("after-empty").classList.add("hidden");
  const dl = $("download");
  dl.href = s.result; dl.download = s.download; dl.classList.remove("hidden");
  if (s.kind === "video") {
    const v = $("after-video"); v.src = s.result; v.classList.remove("hidden"); $("after-img").classList.add("hidden");
    if (s.before_video) {      // the original clip beside the result; playing one plays both
      const b = $("before-video"); b.src = s.before_video; b.classList.remove("hidden");
      $("before-img").classList.add("hidden"); $("overlay").classList.add("hidden");
      v.onplay = () => { b.currentTime = v.currentTime; b.play().catch(() => {}); };
      v.onpause = () => b.pause();
    }
  } else {
    $("after-img").onload = sizeCompare;
    $("after-img").src = s.after; $("cmp-before").src = s.before;
    $("cmp-clip").classList.remove("hidden"); $("compare-box").classList.remove("hidden");
  }
  setStatus(s.note + (s.warnings && s.warnings.length ? " — " + s.warnings.join("; ") : ""));
}

function sizeCompare() {          // the original, at the result's displayed size, clipped from the left
  const after = $("after-img");
  $("cmp-before").style.width = after.clientWidth + "px";
  $("cmp-before").style.height = after.clientHeight + "px";
  $("cmp-clip").style.width = $("compare-slider").value + "%";
}

// ---- webcam ---------------------------------------------------------------------------------------
async function camStart() {
  showError("");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { showError("this browser gives no camera access here"); return; }
  const fd = new FormData(); fd.append("op", $("op").value);
  collect($("options"), fd); collect($("faces"), fd);
  let session, stream;
  try {
    session = (await api("/api/live/start", {method: "POST", body: fd})).session;
    stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
  } catch (e) { showError(e.message); return; }
  const cam = $("cam"); cam.srcObject = stream; await cam.play();
  const canvas = document.createElement("canvas");
  state.cam = {session, stream, on: true, frames: 0, t0: performance.now()};
  $("cam-start").disabled = true; $("cam-stop").disabled = false;
  $("after-empty").classList.add("hidden"); $("cam-out").classList.remove("hidden");
  const live = state.cam;
  while (live.on) {             // one frame in flight: when the server is slower, frames are skipped, not queued
    canvas.width = cam.videoWidth || 640; canvas.height = cam.videoHeight || 480;
    canvas.getContext("2d").drawImage(cam, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((r) => canvas.toBlob(r, "image/jpeg", 0.85));
    try {
      const r = await fetch("/api/live/" + session, {method: "POST", body: blob, headers: {"Content-Type": "image/jpeg"}});
      if (!r.ok) throw new Error((await r.json()).error);
      const url = URL.createObjectURL(await r.blob());
      const img = $("cam-out"); const old = img.src; img.src = url; if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      live.frames++;
      $("cam-info").textContent = `${(live.frames * 1000 / (performance.now() - live.t0)).toFixed(1)} fps`;
    } catch (e) { showError(e.message); break; }
  }
  camStop();
}

function camStop() {
  const live = state.cam;
  if (!live) return;
  live.on = false; state.cam = null;
  live.stream.getTracks().forEach((t) => t.stop());
  fetch("/api/live/" + live.session, {method: "DELETE"}).catch(() => {});
  $("cam-start").disabled = false; $("cam-stop").disabled = true;
}

function tab(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  $("pane-file").classList.toggle("hidden", name !== "file");
  $("pane-cam").classList.toggle("hidden", name !== "cam");
  $("run").classList.toggle("hidden", name !== "file");
  if (name !== "cam") { camStop(); $("cam-out").classList.add("hidden"); }
}

window.addEventListener("DOMContentLoaded", () => {
  $("file").onchange = onFile;
  $("run").onclick = run;
  $("cam-start").onclick = camStart;
  $("cam-stop").onclick = camStop;
  $("compare-slider").oninput = sizeCompare;
  window.addEventListener("resize", sizeCompare);
  for (const b of document.querySelectorAll(".tab")) b.onclick = () => tab(b.dataset.tab);
  loadCatalog().catch((e) => showError(e.message));
});
