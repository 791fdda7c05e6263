// The loopback webhook consumer: verifies each Standard Webhooks signature and records when each
// delivery arrived, keyed by the contact email in its body.
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { freePort } from "./stack.mjs";

export async function startConsumer() {
  let verifier = null;
  const arrivals = new Map(); // email -> ms since epoch (first arrival)
  const waiters = [];
  const stats = { received: 0, verified: 0, duplicates: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks).toString("utf8");
      stats.received++;
      try {
        verifier?.verify(raw, req.headers);
        if (verifier) stats.verified++;
      } catch {}
      let email = null;
      try {
        email = JSON.parse(raw)?.contact?.email ?? null;
      } catch {}
      if (email) {
        if (arrivals.has(email)) stats.duplicates++;
        else arrivals.set(email, at);
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i];
        if (w.check()) {
          waiters.splice(i, 1);
          clearTimeout(w.timer);
          w.resolve(true);
        }
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await freePort();
  await new Promise((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    stats,
    setSecret(secret) {
      verifier = new Webhook(secret);
    },
    reset() {
      arrivals.clear();
      stats.received = 0;
      stats.verified = 0;
      stats.duplicates = 0;
    },
    /** Resolves true once `check()` holds, false after `ms`. */
    waitFor(check, ms) {
      if (check()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const w = { check, resolve, timer: null };
        waiters.push(w);
        w.timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            resolve(check());
          }
        }, ms);
      });
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
