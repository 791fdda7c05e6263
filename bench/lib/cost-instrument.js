// Runs inside workerd, in the copies `npm run bench:cost` (bench/cost.mjs) serves: never in the real src/.
// Counts what an execution uses of each billed binding, by wrapping the bindings where the copy's code
// reaches them, and answers the counters on `GET /__bench/counters` (`POST /__bench/counters/reset`).
//
// - D1: every round trip the binding makes to the database (D1DatabaseSession's `_send` and
//   `_queryOrThrow`, which `first`/`all`/`run`/`raw`/`batch`/`exec` all go through), its statements (a
//   batch is one round trip of several), and `meta.rows_read` / `meta.rows_written` of every result; the
//   statement methods the code called are counted too.
// - Durable Objects: each stub method called (one billed request each), alarms run, and inside the object
//   every storage call (`get`/`put`/`delete`/`list`: rows as keys; `transaction`; `sql.exec` with its
//   cursor's rowsRead/rowsWritten; `setAlarm`/`deleteAlarm`/`getAlarm`), and the wall time the object
//   spends inside a call (concurrent calls on one object counted once).
// - Queues: messages sent (`send`, `sendBatch`) per binding; messages delivered to the consumer, retried.
// - Worker invocations: fetch, queue batches, scheduled.
// - Workflows (the bench's Workflows worker): instances created, `run` calls (each replay counts), step
//   calls and step callbacks actually executed, sleeps.
//
// Counters are module state: in workerd the worker, its Durable Objects, its queue consumers and its
// Workflow entrypoints run in one isolate, so they all add to the same object.

const zero = () => ({
  invocations: { fetch: 0, queue: 0, scheduled: 0 },
  d1: {
    roundTrips: 0,
    statements: 0,
    rowsRead: 0,
    rowsWritten: 0,
    calls: {},
  },
  durableObjects: {
    requests: {},
    entries: {},
    activeMs: 0,
    storage: {
      calls: {},
      rowsRead: 0,
      rowsWritten: 0,
      sqlRowsRead: 0,
      sqlRowsWritten: 0,
      alarmsSet: 0,
      alarmsDeleted: 0,
    },
  },
  queues: { sent: {}, delivered: 0, retried: 0, batches: 0 },
  workflows: { created: 0, runs: 0, stepCalls: 0, stepExecutions: 0, sleeps: 0, events: 0 },
});

/** What was instrumented and what failed to be, kept across resets. */
const status = { instrumented: [], errors: [] };

let C = zero();
const patched = new WeakSet();
/** `sql.exec` cursors whose rows are summed when the counters are read (they count as they are consumed). */
let cursors = [];

const inc = (obj, key, by = 1) => {
  obj[key] = (obj[key] ?? 0) + by;
};
const keysOf = (k) => (Array.isArray(k) ? k.length : 1);
const isThenable = (v) => v !== null && typeof v === "object" && typeof v.then === "function";

function snapshot() {
  const storage = C.durableObjects.storage;
  let read = 0;
  let written = 0;
  for (const c of cursors) {
    try {
      read += c.rowsRead ?? 0;
      written += c.rowsWritten ?? 0;
    } catch {}
  }
  return {
    ...C,
    ...status,
    durableObjects: {
      ...C.durableObjects,
      storage: { ...storage, sqlRowsRead: read, sqlRowsWritten: written },
    },
  };
}

function reset() {
  C = zero();
  cursors = [];
}

/** Adds results' meta to the totals, and per statement (its SQL's first 90 characters) to `d1.bySql`. */
function addMeta(result, sqls = []) {
  (Array.isArray(result) ? result : [result]).forEach((r, i) => {
    const m = r?.meta;
    if (!m) return;
    const read = m.rows_read ?? m.rowsRead ?? 0;
    const written = m.rows_written ?? m.rowsWritten ?? 0;
    C.d1.rowsRead += read;
    C.d1.rowsWritten += written;
    const key = (sqls[i] ?? "?").replace(/\s+/g, " ").trim().slice(0, 90);
    C.d1.bySql ??= {};
    C.d1.bySql[key] ??= { n: 0, read: 0, written: 0 };
    const e = C.d1.bySql[key];
    e.n++;
    e.read += read;
    e.written += written;
  });
}

/** D1's conversion of bound values (what `bind` accepts) into the values a query carries. */
function d1Value(v) {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v === undefined) return null;
  if (v instanceof ArrayBuffer) return Array.from(new Uint8Array(v));
  if (ArrayBuffer.isView(v)) return Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return v;
}

/**
 * The D1 binding behind an object with its API (`prepare`/`bind`/`first`/`all`/`run`/`raw`, `batch`,
 * `exec`): each call is one round trip (a batch of several statements too), and every result's
 * `meta.rows_read` / `meta.rows_written` is summed. `first` runs as `all` (what D1 does too: it takes the
 * first row); `raw` runs through the binding's `query()` (rows and columns, with meta) when the binding
 * has it, else as `raw` with its rows uncounted (`d1.rawWithoutMeta`).
 */
function countedD1(db) {
  const call = (m, statements = 1) => {
    inc(C.d1.calls, m);
    C.d1.roundTrips++;
    C.d1.statements += statements;
  };
  let queryWorks = typeof db.query === "function";
  const statement = (sql, real, params) => ({
    __real: real,
    __sql: sql,
    bind: (...a) => statement(sql, real.bind(...a), a.map(d1Value)),
    async all() {
      call("all");
      const r = await real.all();
      addMeta(r, [sql]);
      return r;
    },
    async run() {
      call("run");
      const r = await real.run();
      addMeta(r, [sql]);
      return r;
    },
    async first(col) {
      call("first");
      const r = await real.all();
      addMeta(r, [sql]);
      const row = r.results?.[0] ?? null;
      if (col === undefined || row === null) return row;
      if (!(col in row)) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${col})`);
      return row[col];
    },
    async raw(opts) {
      call("raw");
      if (queryWorks) {
        let res;
        try {
          res = await db.query({ queries: [{ sql, params }] });
        } catch (err) {
          if (!/d1_binding_jsrpc|not a function|does not exist|not implemented/i.test(String(err))) throw err;
          queryWorks = false;
          status.errors.push(`D1 query() unavailable (${String(err).slice(0, 120)}); raw() rows uncounted`);
        }
        if (res) {
          const first = res.results?.[0];
          addMeta(first);
          const data = first?.data ?? first?.results ?? {};
          const rows = data.rows ?? [];
          return opts?.columnNames ? [data.columns ?? [], ...rows] : rows;
        }
      }
      C.d1.rawWithoutMeta = (C.d1.rawWithoutMeta ?? 0) + 1;
      return real.raw(opts);
    },
  });
  return {
    prepare: (sql) => statement(sql, db.prepare(sql), []),
    async batch(stmts) {
      call("batch", stmts.length);
      const r = await db.batch(stmts.map((x) => x.__real ?? x));
      addMeta(
        r,
        stmts.map((x) => x.__sql),
      );
      return r;
    },
    async exec(sql) {
      call("exec", sql.trim().split("\n").length);
      const r = await db.exec(sql);
      return r;
    },
    withSession: (...a) => countedD1(db.withSession(...a)),
    dump: () => db.dump(),
    query: (...a) => db.query(...a),
  };
}

/** A Durable Object stub whose method calls are counted (each is one billed request). */
function countedStub(stub) {
  return new Proxy(stub, {
    get(t, k) {
      const v = Reflect.get(t, k);
      if (typeof k === "symbol" || k === "then" || k === "id" || k === "name" || typeof v !== "function")
        return v;
      return (...a) => {
        inc(C.durableObjects.requests, k);
        return t[k](...a);
      };
    },
  });
}

function instrumentNamespace(ns) {
  if (!ns || patched.has(ns)) return;
  patched.add(ns);
  for (const m of ["get", "getByName"]) {
    const f = ns[m];
    if (typeof f !== "function") continue;
    ns[m] = (...a) => countedStub(f.apply(ns, a));
  }
}

function instrumentQueue(name, q) {
  if (!q || patched.has(q)) return;
  patched.add(q);
  const send = q.send;
  const sendBatch = q.sendBatch;
  if (typeof send === "function")
    q.send = (...a) => {
      inc(C.queues.sent, name);
      return send.apply(q, a);
    };
  if (typeof sendBatch === "function")
    q.sendBatch = (messages, ...a) => {
      inc(C.queues.sent, name, [...messages].length);
      return sendBatch.call(q, messages, ...a);
    };
}

function instrumentWorkflowBinding(w) {
  if (!w || patched.has(w)) return;
  patched.add(w);
  const create = w.create;
  const createBatch = w.createBatch;
  const get = w.get;
  if (typeof create === "function")
    w.create = (...a) => {
      C.workflows.created++;
      return create.apply(w, a);
    };
  if (typeof createBatch === "function")
    w.createBatch = (batch, ...a) => {
      C.workflows.created += batch.length;
      return createBatch.call(w, batch, ...a);
    };
  if (typeof get === "function")
    w.get = async (...a) => {
      const instance = await get.apply(w, a);
      const sendEvent = instance?.sendEvent;
      if (typeof sendEvent === "function")
        instance.sendEvent = (...b) => {
          C.workflows.events++;
          return sendEvent.apply(instance, b);
        };
      return instance;
    };
}

/** Which bindings are which (from the copy's wrangler.toml; bench/cost.mjs writes it into the entry). */
let bindings = { d1: [], durableObjects: [], queues: [], workflows: [] };
export function configure(b) {
  bindings = { ...bindings, ...b };
}

const envs = new WeakMap();
/**
 * `env` with its D1 bindings replaced by counted ones (a new object, the same for the same `env`), and its
 * Durable Object namespaces, queue producers and Workflow bindings counted in place.
 */
export function instrumentEnv(env) {
  if (!env || typeof env !== "object") return env;
  const done = envs.get(env);
  if (done) return done;
  const out = { ...env };
  const note = (entry) => {
    if (!status.instrumented.includes(entry)) status.instrumented.push(entry);
  };
  for (const name of bindings.d1) {
    if (env[name]) {
      out[name] = countedD1(env[name]);
      note(`${name}: D1`);
    }
  }
  for (const [kind, names, f] of [
    ["Durable Object namespace", bindings.durableObjects, (_n, b) => instrumentNamespace(b)],
    ["queue", bindings.queues, (n, b) => instrumentQueue(n, b)],
    ["Workflow", bindings.workflows, (_n, b) => instrumentWorkflowBinding(b)],
  ]) {
    for (const name of names) {
      if (!env[name]) continue;
      try {
        f(name, env[name]);
        note(`${name}: ${kind}`);
      } catch (err) {
        status.errors.push(`${name}: ${String(err)}`);
      }
    }
  }
  envs.set(env, out);
  return out;
}

function instrumentStorage(storage) {
  if (!storage || patched.has(storage)) return;
  patched.add(storage);
  const s = C_storage;
  const wrap = (m, count) => {
    const f = storage[m];
    if (typeof f !== "function") return;
    storage[m] = (...a) => {
      const st = s();
      inc(st.calls, m);
      const r = f.apply(storage, a);
      if (count) {
        if (isThenable(r))
          return r.then((v) => {
            count(st, a, v);
            return v;
          });
        count(st, a, r);
      }
      return r;
    };
  };
  // SQLite-backed objects bill the KV API as rows: a key read is a row read, a key written or deleted a
  // row written; an alarm set is a row written.
  wrap("get", (st, a, v) => {
    st.rowsRead += Array.isArray(a[0]) ? (v?.size ?? a[0].length) : 1;
  });
  wrap("put", (st, a) => {
    st.rowsWritten += typeof a[0] === "string" ? 1 : Object.keys(a[0] ?? {}).length;
  });
  wrap("delete", (st, a) => {
    st.rowsWritten += keysOf(a[0]);
  });
  wrap("deleteAll");
  wrap("list", (st, _a, v) => {
    st.rowsRead += v?.size ?? 0;
  });
  wrap("transaction");
  wrap("transactionSync");
  wrap("getAlarm");
  wrap("setAlarm", (st) => {
    st.alarmsSet++;
  });
  wrap("deleteAlarm", (st) => {
    st.alarmsDeleted++;
  });
  const sql = storage.sql;
  if (sql && typeof sql.exec === "function" && !patched.has(sql)) {
    patched.add(sql);
    const exec = sql.exec;
    sql.exec = (...a) => {
      inc(s().calls, "sql.exec");
      const cursor = exec.apply(sql, a);
      cursors.push(cursor);
      return cursor;
    };
  }
}
const C_storage = () => C.durableObjects.storage;

/**
 * A subclass of the app's Durable Object class whose methods count their entries (an RPC call or an alarm
 * from outside; calls between its own methods are not entries) and the wall time the object is inside one,
 * and whose storage and bindings are instrumented.
 */
/**
 * `entries`: the methods callers reach (RPC methods, `alarm`); by default every method of the class. A
 * class whose own methods call each other from timers (the shard's commit loop) names them, so that its
 * internal calls are not counted as requests.
 */
export function instrumentDurableObject(Base, entries) {
  class Counted extends Base {
    constructor(ctx, env) {
      instrumentStorage(ctx.storage);
      super(ctx, instrumentEnv(env));
      this.__benchDepth = 0;
      this.__benchSince = 0;
    }
  }
  const names = new Set();
  for (let p = Base.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      if (n === "constructor" || n.startsWith("__")) continue;
      const d = Object.getOwnPropertyDescriptor(p, n);
      if (d && typeof d.value === "function" && (!entries || entries.includes(n))) names.add(n);
    }
  }
  for (const n of names) {
    const f = Base.prototype[n];
    if (typeof f !== "function") continue;
    Object.defineProperty(Counted.prototype, n, {
      configurable: true,
      writable: true,
      value: function (...a) {
        if (this.__benchDepth === 0) {
          inc(C.durableObjects.entries, n);
          this.__benchSince = performance.now();
        }
        this.__benchDepth++;
        const done = () => {
          this.__benchDepth--;
          if (this.__benchDepth === 0) C.durableObjects.activeMs += performance.now() - this.__benchSince;
        };
        let r;
        try {
          r = f.apply(this, a);
        } catch (err) {
          done();
          throw err;
        }
        if (isThenable(r)) return r.finally(done);
        done();
        return r;
      },
    });
  }
  Object.defineProperty(Counted, "name", { value: Base.name });
  return Counted;
}

async function benchRoute(req, env, real) {
  const url = new URL(req.url);
  if (url.pathname === "/__bench/counters" && req.method === "GET") return Response.json(snapshot());
  if (url.pathname === "/__bench/counters/reset" && req.method === "POST") {
    reset();
    return Response.json({ ok: true });
  }
  if (
    url.pathname === "/__bench/scheduled" &&
    req.method === "POST" &&
    typeof real.scheduled === "function"
  ) {
    // One cron run (the sweep) on demand: wrangler dev does not fire crons by itself.
    const pending = [];
    const ctx = { waitUntil: (p) => pending.push(p), passThroughOnException() {} };
    C.invocations.scheduled++;
    await real.scheduled({ cron: "* * * * *", scheduledTime: Date.now(), noRetry() {} }, env, ctx);
    await Promise.allSettled(pending);
    return Response.json({ ok: true });
  }
  return null;
}

/** The worker's default export with every handler counted and its env instrumented. */
export function instrumentHandler(real) {
  const out = {};
  if (typeof real.fetch === "function")
    out.fetch = async (req, rawEnv, ctx) => {
      const env = instrumentEnv(rawEnv);
      if (new URL(req.url).pathname.startsWith("/__bench/")) {
        const r = await benchRoute(req, env, real);
        if (r) return r;
      }
      C.invocations.fetch++;
      return real.fetch(req, env, ctx);
    };
  if (typeof real.queue === "function")
    out.queue = (batch, rawEnv, ctx) => {
      const env = instrumentEnv(rawEnv);
      C.invocations.queue++;
      C.queues.batches++;
      C.queues.delivered += batch.messages.length;
      const retryAll = batch.retryAll;
      if (typeof retryAll === "function")
        batch.retryAll = (...a) => {
          C.queues.retried += batch.messages.length;
          return retryAll.apply(batch, a);
        };
      for (const m of batch.messages) {
        const retry = m.retry;
        if (typeof retry === "function")
          m.retry = (...a) => {
            C.queues.retried++;
            return retry.apply(m, a);
          };
      }
      return real.queue(batch, env, ctx);
    };
  if (typeof real.scheduled === "function")
    out.scheduled = (controller, rawEnv, ctx) => {
      const env = instrumentEnv(rawEnv);
      C.invocations.scheduled++;
      return real.scheduled(controller, env, ctx);
    };
  return out;
}

/** A Workflow entrypoint subclass counting runs, step calls, step callbacks executed and sleeps. */
export function instrumentWorkflow(Base) {
  class Counted extends Base {
    constructor(ctx, env) {
      super(ctx, instrumentEnv(env));
    }
    run(event, step) {
      C.workflows.runs++;
      const counted = {
        do: (name, ...rest) => {
          C.workflows.stepCalls++;
          const cb = rest.pop();
          return step.do(name, ...rest, (...a) => {
            C.workflows.stepExecutions++;
            return cb(...a);
          });
        },
        sleep: (...a) => {
          C.workflows.sleeps++;
          return step.sleep(...a);
        },
        sleepUntil: (...a) => {
          C.workflows.sleeps++;
          return step.sleepUntil(...a);
        },
        waitForEvent: (...a) => {
          C.workflows.stepCalls++;
          return step.waitForEvent(...a);
        },
      };
      return super.run(event, counted);
    }
  }
  Object.defineProperty(Counted, "name", { value: Base.name });
  return Counted;
}
