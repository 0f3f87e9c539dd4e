// The page's side of a presigned upload: slice, hash (CRC-64), PUT each part, report, let the server complete.
import { crc64 } from "./crc64.js";

const status = document.getElementById("status");
const progress = document.getElementById("progress");

function show(state, text) { status.dataset.state = state; status.textContent = text; }

async function api(method, path, body) {
  const answer = await fetch(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { ok: answer.ok, status: answer.status, body: await answer.json() };
}

// PUT one part; the service's CRC-64 answer is compared with the page's own, and a part that arrived other than
// sent is sent again once with a fresh URL. Returns the report the server checks.
async function sendPart(uploadId, part, file) {
  const blob = file.slice(part.offset, part.offset + part.size);
  const mine = crc64(new Uint8Array(await blob.arrayBuffer()));
  for (let attempt = 1; ; attempt++) {
    const answer = await fetch(part.url, { method: "PUT", body: blob, headers: part.headers });
    const theirs = answer.headers.get("x-cos-hash-crc64ecma") || answer.headers.get("x-oss-hash-crc64ecma");
    if (answer.ok && theirs === mine) return { part: part.part, crc64: mine, etag: answer.headers.get("ETag") };
    if (attempt >= 2) throw new Error(`part ${part.part}: ${answer.status} ${theirs} != ${mine}`);
    part = (await api("POST", `/uploads/${uploadId}/urls`, { parts: [part.part] })).body.parts[0];
  }
}

async function upload(file) {
  show("working", `starting ${file.name} (${file.size} bytes)`);
  const started = await api("POST", "/uploads", { name: file.name, size: file.size });
  if (!started.ok) throw new Error(started.body.error);
  const { upload_id: uploadId, parts } = started.body;
  progress.max = parts.length;
  const reports = [];
  let next = 0;
  async function worker() {  // three parts in flight at a time
    while (next < parts.length) {
      reports.push(await sendPart(uploadId, parts[next++], file));
      progress.value = reports.length;
    }
  }
  await Promise.all([worker(), worker(), worker()]);
  const done = await api("POST", `/uploads/${uploadId}/complete`, { parts: reports });
  if (!done.ok) throw new Error(done.body.error);
  show("done", JSON.stringify(done.body));
}

document.getElementById("upload").addEventListener("click", () => {
  const file = document.getElementById("file").files[0];
  if (!file) { show("error", "choose a file"); return; }
  upload(file).catch((error) => show("error", String(error)));
});
