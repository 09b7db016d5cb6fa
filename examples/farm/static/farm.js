// The farm dashboard: jobs from the WebSocket feed, workers from the service's /metrics.
"use strict";

async function callApi(name, kwargs) {
  // hwebserver's API functions: POST /api with [name, [args], {kwargs}] as JSON.
  const response = await fetch("/api", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify([name, [], kwargs]),
  });
  const result = await response.json();
  if (!response.ok) throw new Error(result.error || response.statusText);
  return result;
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

function showJobs(jobs) {
  const body = document.querySelector("#jobs tbody");
  body.replaceChildren();
  for (const job of jobs.slice().reverse()) {
    const row = body.insertRow();
    row.className = "state-" + job.state;
    row.dataset.jobId = job.id;
    cell(row, job.id);
    cell(row, job.name);
    cell(row, job.state);
    const progress = cell(row, "");
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = (100 * job.done / job.frames).toFixed(1) + "%";
    bar.append(fill);
    progress.append(bar, " " + job.done + " / " + job.frames);
    progress.className = "progress";
    // Which worker rendered how many frames: "host:pid" -> count, shown as "pid ×count".
    const renderers = cell(row, Object.entries(job.rendered_by || {})
      .map(([worker, count]) => worker.split(":").pop() + " ×" + count).join(", "));
    renderers.className = "rendered-by";
    const actions = cell(row, "");
    if (job.state === "queued" || job.state === "rendering") {
      const button = document.createElement("button");
      button.textContent = "Cancel";
      button.onclick = () => callApi("farm.cancel", { job_id: job.id }).catch(alert);
      actions.append(button);
    }
  }
}

let reconnects = 0;

function connectFeed() {
  // A reload closes every WebSocket of the old workers with 1001 ("going away"): the page
  // says so and connects again, to a worker of the new code; the jobs carry on meanwhile.
  const state = document.getElementById("feed-state");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(scheme + "//" + location.host + "/farm/feed");
  socket.onopen = () => {
    state.textContent = reconnects ? "live (reconnected " + reconnects + "×)" : "live";
    state.classList.add("live");
  };
  socket.onmessage = (event) => {
    const news = JSON.parse(event.data);
    showJobs(news.jobs);
    document.getElementById("feed-worker").textContent = "feed from worker " + news.worker;
  };
  socket.onclose = (event) => {
    state.textContent = event.code === 1001
      ? "service reloading, reconnecting…" : "connection lost, reconnecting…";
    state.classList.remove("live");
    reconnects += 1;
    setTimeout(connectFeed, event.code === 1001 ? 200 : 1000);
  };
}

// The Prometheus text format, just enough of it: name{labels} value.
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || "").matchAll(/(\w+)="([^"]*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

const WORKER_COLUMNS = [
  ["hwebserver_worker_served_total", (v) => v.toFixed(0)],
  ["hwebserver_worker_in_flight", (v) => v.toFixed(0)],
  ["hwebserver_worker_connections", (v) => v.toFixed(0)],
  ["hwebserver_worker_websockets", (v) => v.toFixed(0)],
  ["hwebserver_worker_rss_bytes", (v) => (v / 1048576).toFixed(1) + " MiB"],
  ["hwebserver_worker_loop_lag_seconds", (v) => (v * 1000).toFixed(1) + " ms"],
];

async function refreshWorkers() {
  try {
    const response = await fetch("/metrics");
    const samples = parseMetrics(await response.text());
    const workers = new Map();
    for (const sample of samples) {
      if (!sample.labels.pid || sample.labels.status) continue;
      const key = sample.labels.pid;
      if (!workers.has(key)) workers.set(key, { pid: key, generation: sample.labels.generation, values: {} });
      workers.get(key).values[sample.name] = sample.value;
    }
    const body = document.querySelector("#workers tbody");
    body.replaceChildren();
    for (const worker of workers.values()) {
      if (!("hwebserver_worker_rss_bytes" in worker.values)) continue;  // the supervisor's info line
      const row = body.insertRow();
      row.className = "worker";
      cell(row, worker.pid);
      cell(row, worker.generation);
      for (const [name, format] of WORKER_COLUMNS) cell(row, format(worker.values[name] || 0));
    }
    const total = samples.filter((s) => s.name === "hwebserver_requests_total")
      .reduce((sum, s) => sum + s.value, 0);
    document.getElementById("service-totals").textContent =
      workers.size ? total.toFixed(0) + " requests answered since the service started" : "";
  } catch (error) {
    document.getElementById("service-totals").textContent = "metrics unavailable: " + error;
  }
}

document.getElementById("submit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = document.getElementById("submit-message");
  try {
    const job = await callApi("farm.submit", {
      name: document.getElementById("job-name").value,
      frames: Number(document.getElementById("job-frames").value),
    });
    message.textContent = "submitted job " + job.id;
  } catch (error) {
    message.textContent = "refused: " + error.message;
  }
});

connectFeed();
refreshWorkers();
setInterval(refreshWorkers, 1000);
