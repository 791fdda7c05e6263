// Serves one worker the way `wrangler dev` does (wrangler's own dev server: its proxy, workerd, local
// D1, Durable Objects and queues), through wrangler's `unstable_startWorker`, which is what the
// `wrangler dev` command calls. It exists for one option the command does not have: `--no-inspector`.
//
// With the inspector on, wrangler's proxy subscribes to the worker's console (`Runtime.enable`): every
// console line is also serialised for DevTools, sent to the proxy, posted to wrangler's Node process as a
// debug log and kept in a buffer that nothing drains until DevTools attaches. That costs CPU and memory
// per log line that a deployed worker never pays; `npm run bench` measures both ways (see
// docs/benchmarks.md) and serves its cases without it.
//
//   node bench/lib/serve.mjs '{"config":"…/wrangler.toml","port":8787,"persist":"/tmp/x","vars":{},"inspector":false}'
//
// Prints "ready <url>" once the worker answers; stops on SIGTERM or SIGINT.
import { unstable_startWorker } from "wrangler";

const opts = JSON.parse(process.argv[2] ?? "{}");

const worker = await unstable_startWorker({
  config: opts.config,
  bindings: Object.fromEntries(
    Object.entries(opts.vars ?? {}).map(([k, v]) => [k, { type: "plain_text", value: String(v) }]),
  ),
  dev: {
    server: { hostname: "127.0.0.1", port: opts.port },
    inspector: opts.inspector ? { hostname: "127.0.0.1", port: opts.inspectorPort } : false,
    persist: opts.persist,
    logLevel: opts.logLevel ?? "warn",
    watch: false,
    liveReload: false,
  },
});
await worker.ready;
console.log(`ready ${await worker.url}`);

let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    try {
      await worker.dispose();
    } finally {
      process.exit(0);
    }
  });
}
