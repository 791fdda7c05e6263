// A closed-loop HTTP load generator on node:http with keep-alive: `concurrency` workers, each sending
// its next request when the previous one answers, bounded by a request count and a duration.
import http from "node:http";

/** One keep-alive agent per base URL, so every case gets warm connections the same way. */
const agents = new Map();
function agentFor(base) {
  let a = agents.get(base);
  if (!a) {
    a = new http.Agent({ keepAlive: true, maxSockets: 256 });
    agents.set(base, a);
  }
  return a;
}

export function closeAgents() {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

/** POSTs JSON; resolves with {status, body, ms}. */
export function post(base, path, headers, body) {
  const url = new URL(path, base);
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: "POST",
        agent: agentFor(base),
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          ...headers,
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (d) => chunks.push(d));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * Runs `make(i)` → {path, headers, body} at `concurrency` until `maxRequests` were sent or `durationMs`
 * passed. Returns the latencies (ms) of the 2xx answers, the errors, and the achieved rate.
 */
export async function runLoad(base, { concurrency, durationMs, maxRequests, make, onDone }) {
  const latencies = [];
  const errors = new Map();
  let next = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  async function worker() {
    while (next < maxRequests && performance.now() < deadline) {
      const i = next++;
      const r = make(i);
      const sentAt = Date.now();
      try {
        const res = await post(base, r.path, r.headers, r.body);
        if (res.status >= 200 && res.status < 300) {
          latencies.push(res.ms);
          onDone?.(i, sentAt, res);
        } else {
          const k = `HTTP ${res.status}: ${res.body.slice(0, 200)}`;
          errors.set(k, (errors.get(k) ?? 0) + 1);
        }
      } catch (err) {
        errors.set(err.message, (errors.get(err.message) ?? 0) + 1);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { sent: next, ok: latencies.length, seconds, rps: latencies.length / seconds, latencies, errors };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function summarize(values) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? Number.NaN,
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
  };
}
