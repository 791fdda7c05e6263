/**
 * Contacts in bulk: the CSV parser and cell encoding, POST /contacts/import (reports, bad rows, re-runs,
 * a crash in the middle, the size limit), GET /contacts/export (streamed, re-imports cleanly) and
 * POST /contacts/bulk by ids (events once, other projects untouched, a crash in the middle).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { importContacts } from "../src/contacts/import";
import { type CsvRecord, csvRecords, readCell, writeCell } from "../src/domain/csv";
import { createLogger } from "../src/log";
import { sweep } from "../src/sweep";
import {
  call,
  captureQueue,
  consume,
  createProject,
  expectEnvelope,
  fetchSettled,
  type TestProject,
} from "./helpers";

afterEach(() => vi.restoreAllMocks());

/** The records csv-parse reads from `text`, fed `chunk` bytes at a time. */
const parse = async (text: string, chunk = Number.POSITIVE_INFINITY) => {
  const bytes = new TextEncoder().encode(text);
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += Math.min(chunk, bytes.length))
        c.enqueue(bytes.slice(i, i + chunk));
      c.close();
    },
  });
  const out: CsvRecord[] = [];
  const reader = csvRecords(source).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
};

describe("CSV parser", () => {
  const text = 'email,note\r\na@x.com,"one, two"\r\n\r\nb@x.com,"line\nbreak ""quoted"""\nc@x.com,\n';
  it("reads quoted commas, line breaks and quotes, CRLF or LF, skipping blank lines, with the line each row starts on", async () => {
    const want = [
      { line: 1, cells: ["email", "note"] },
      { line: 2, cells: ["a@x.com", "one, two"] },
      { line: 4, cells: ["b@x.com", 'line\nbreak "quoted"'] },
      { line: 6, cells: ["c@x.com", ""] },
    ];
    expect(await parse(text)).toEqual(want);
    // The same, fed a byte at a time (a chunk may end anywhere, even between CR and LF).
    expect(await parse(text, 1)).toEqual(want);
  });

  it("reads a stray quote as text, and reports a quote never closed as an error of the row it opens", async () => {
    expect(await parse('a,b\n"x"y,1\nc,d\n"open\ne,f\n')).toEqual([
      { line: 1, cells: ["a", "b"] },
      { line: 2, cells: ['"x"y', "1"] },
      { line: 3, cells: ["c", "d"] },
      { line: 4, cells: [], error: "Quote Not Closed: the parsing is finished with an opening quote" },
    ]);
  });

  it("reads a cell as JSON where it is JSON, numbers only as JSON writes them, and writes values back the same", () => {
    expect(readCell("")).toBeUndefined();
    expect(readCell("pro")).toBe("pro");
    expect(readCell("42")).toBe(42);
    expect(readCell("true")).toBe(true);
    expect(readCell('{"a":[1]}')).toEqual({ a: [1] });
    for (const text of ["007", "1.50", "12345678901234567890", " 42"]) expect(readCell(text)).toBe(text);
    for (const v of ["pro", "42", "true", "", "null", '"q"', 42, 1.5, false, null, { a: 1 }, ["x"]]) {
      expect(readCell(writeCell(v))).toEqual(v);
    }
  });
});

const importCsv = (p: TestProject, csv: string) =>
  call("POST", "/contacts/import", { key: p.secretKey, raw: csv, headers: { "content-type": "text/csv" } });

/** A segment of the contacts whose data.plan is "pro", its background fill done. */
const proSegment = async (p: TestProject, name = "Pro") => {
  const seg = await call("POST", "/segments", {
    key: p.secretKey,
    body: {
      name,
      condition: {
        match: "all",
        filters: [{ field: "contact.data.plan", operator: "equals", value: "pro" }],
      },
    },
  });
  expect(seg.status).toBe(201);
  // Its members are filled in the background (the segments queue): wait for them.
  await vi.waitUntil(
    async () =>
      (await call("GET", `/segments/${seg.body.id}`, { key: p.secretKey })).body.backfill === "READY",
    { timeout: 30_000, interval: 50 },
  );
  return seg.body.id as string;
};

async function contactsOf(p: TestProject) {
  const { results } = await env.DB.prepare(
    "SELECT id, email, subscribed, data, updated_at FROM contacts WHERE project_id = ?1 ORDER BY email",
  )
    .bind(p.id)
    .all<{ id: string; email: string; subscribed: number; data: string; updated_at: number }>();
  return results;
}

async function eventsOf(p: TestProject, name?: string) {
  const { results } = await env.DB.prepare(
    "SELECT contact_id, name FROM events WHERE project_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY id",
  )
    .bind(p.id, name ?? null)
    .all<{ contact_id: string; name: string }>();
  return results;
}

describe("POST /contacts/import", () => {
  it("creates, updates and leaves alone by email; a second run of the same file changes nothing", async () => {
    const p = await createProject();
    await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: "old@x.com", data: { plan: "free" } },
    });
    await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: "same@x.com", data: { plan: "pro" } },
    });
    const csv = [
      "Email,subscribed,plan,seats,city",
      "new@x.com,,pro,3,",
      'old@x.com,no,pro,,"Berlin, DE"',
      "same@x.com,,pro,,",
      "NEW2@X.com,yes,,,",
    ].join("\n");
    const first = await importCsv(p, csv);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toEqual({
      rows: 4,
      created: 2,
      updated: 1,
      unchanged: 1,
      refusedCount: 0,
      refused: [],
    });
    const rows = await contactsOf(p);
    const byEmail = Object.fromEntries(rows.map((r) => [r.email, { ...r, data: JSON.parse(r.data) }]));
    expect(byEmail["new@x.com"]).toMatchObject({ subscribed: 1, data: { plan: "pro", seats: 3 } });
    expect(byEmail["new2@x.com"]).toMatchObject({ subscribed: 1, data: {} });
    expect(byEmail["old@x.com"]).toMatchObject({ subscribed: 0, data: { plan: "pro", city: "Berlin, DE" } });
    // The status change is an event, as PATCH /contacts/:id makes one; a new contact gets none.
    expect(await eventsOf(p, "contact.unsubscribed")).toEqual([
      { contact_id: byEmail["old@x.com"]?.id, name: "contact.unsubscribed" },
    ]);

    const again = await importCsv(p, csv);
    expect(again.body).toEqual({
      rows: 4,
      created: 0,
      updated: 0,
      unchanged: 4,
      refusedCount: 0,
      refused: [],
    });
    expect(await contactsOf(p)).toEqual(rows); // updated_at untouched
    expect(await eventsOf(p, "contact.unsubscribed")).toHaveLength(1);
  });

  it("refuses bad rows whole, each with its line and reason; the first of two rows of an email wins", async () => {
    const p = await createProject();
    const csv = [
      "email,subscribed,plan",
      "ok@x.com,true,a", // 2
      ",true,b", // 3
      "not-an-email,,c", // 4
      "OK@x.com,,d", // 5: the same email as line 2
      "bad@x.com,maybe,e", // 6
      "wide@x.com,,f,extra", // 7
      '"multi', // 8: a quoted field never closed, to the end of the file
      "line@x.com,,g",
    ].join("\n");
    const res = await importCsv(p, csv);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rows: 7, created: 1, updated: 0, unchanged: 0, refusedCount: 6 });
    expect(res.body.refused).toEqual([
      { line: 3, reason: "no email" },
      { line: 4, email: "not-an-email", reason: "invalid email" },
      { line: 5, email: "ok@x.com", reason: "duplicate of line 2 (the first row wins)" },
      { line: 6, email: "bad@x.com", reason: "subscribed must be true, false, yes, no, 1 or 0" },
      { line: 7, email: "wide@x.com", reason: "the row has 4 cells, the header 3" },
      { line: 8, reason: "Quote Not Closed: the parsing is finished with an opening quote" },
    ]);
    expect((await contactsOf(p)).map((r) => [r.email, JSON.parse(r.data)])).toEqual([
      ["ok@x.com", { plan: "a" }],
    ]);
  });

  it("refuses a file whose header has no email column, or no header at all (422), writing nothing", async () => {
    const p = await createProject();
    const res = await importCsv(p, "name,plan\nAda,pro\n");
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0]).toMatchObject({ field: "header", code: "missing_email" });
    expectEnvelope(await importCsv(p, ""), 422, "VALIDATION_ERROR");
    expectEnvelope(await importCsv(p, "email,plan,data.plan\na@x.com,1,2\n"), 422, "VALIDATION_ERROR");
    expect(await contactsOf(p)).toEqual([]);
  });

  it("a crash in the middle: the batches done stay done, a re-run finishes the rest, nothing twice", async () => {
    const p = await createProject();
    // 600 existing contacts, unsubscribed by the file: two batches of the import (500 + 100).
    const seed = ["email,subscribed", ...Array.from({ length: 600 }, (_, i) => `c${i}@x.com,yes`)].join("\n");
    expect((await importCsv(p, seed)).body.created).toBe(600);
    const file = ["email,subscribed,n", ...Array.from({ length: 600 }, (_, i) => `c${i}@x.com,no,${i}`)].join(
      "\n",
    );
    const real = env.DB.batch.bind(env.DB);
    let imports = 0;
    vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      const sql = (statements[1] as unknown as { statement: string }).statement ?? "";
      if (/UPDATE contacts SET\s+subscribed = coalesce\(r\.s/.test(sql) && ++imports === 2) {
        throw new Error("injected: the worker died in the second batch");
      }
      return real(statements);
    });
    const crashed = await importCsv(p, file);
    expectEnvelope(crashed, 500, "INTERNAL_SERVER_ERROR");
    const mid = await contactsOf(p);
    expect(mid.filter((r) => r.subscribed === 0)).toHaveLength(500);
    expect(mid.filter((r) => JSON.parse(r.data).n !== undefined)).toHaveLength(500);
    vi.restoreAllMocks();

    const retry = await importCsv(p, file);
    expect(retry.body).toMatchObject({ created: 0, updated: 100, unchanged: 500, refusedCount: 0 });
    const after = await contactsOf(p);
    expect(after.every((r) => r.subscribed === 0)).toBe(true);
    const unsubscribed = await eventsOf(p, "contact.unsubscribed");
    expect(unsubscribed).toHaveLength(600);
    expect(new Set(unsubscribed.map((e) => e.contact_id)).size).toBe(600);
  }, 60_000);

  it("emits segment entry events for the contacts it changes, as single writes do", async () => {
    const p = await createProject();
    await proSegment(p, "Pros");
    await importCsv(p, "email,plan\na@x.com,pro\nb@x.com,free\n");
    expect((await eventsOf(p, "segment.pros.entry")).length).toBe(1);
    await importCsv(p, "email,plan\na@x.com,pro\nb@x.com,free\n");
    expect((await eventsOf(p, "segment.pros.entry")).length).toBe(1);
  });

  it("refuses a body past the limit with 413 while streaming, never reading it whole", async () => {
    const p = await createProject();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("email\n"));
        for (let i = 0; i < 50; i++) controller.enqueue(new TextEncoder().encode(`x${i}@x.com\n`.repeat(10)));
        controller.close();
      },
    });
    await expect(importContacts(env, createLogger({}), p.id, stream, 200)).rejects.toMatchObject({
      status: 413,
      code: "PAYLOAD_TOO_LARGE",
    });
    // The route refuses a declared length past 100 MB before reading anything.
    const res = await fetchSettled(
      new Request("http://worker.test/contacts/import", {
        method: "POST",
        headers: { authorization: `Bearer ${p.secretKey}`, "content-length": String(101 * 1024 * 1024) },
        body: "email\n",
      }),
    );
    expect(res.status).toBe(413);
  });
});

describe("GET /contacts/export", () => {
  it("streams every contact as CSV with a column per data key, which imports back unchanged", async () => {
    const p = await createProject();
    await importCsv(
      p,
      [
        "email,subscribed,plan,note,data.email,zip",
        'a@x.com,yes,pro,"has, comma",other@x.com,"""007"""',
        'b@x.com,no,,"two\nlines",,01234',
      ].join("\n"),
    );
    await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: "c@x.com", data: { n: 42, tags: ["a"], ok: true } },
    });
    const res = await fetchSettled(
      new Request("http://worker.test/contacts/export", {
        headers: { authorization: `Bearer ${p.secretKey}` },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/csv");
    const text = await res.text();
    const lines = await parse(text);
    expect(lines[0]?.cells).toEqual([
      "id",
      "email",
      "subscribed",
      "createdAt",
      "updatedAt",
      "data.email",
      "n",
      "note",
      "ok",
      "plan",
      "tags",
      "zip",
    ]);
    expect(lines).toHaveLength(4);
    const a = lines.find((l) => l.cells[1] === "a@x.com")?.cells;
    expect(a?.slice(5)).toEqual(["other@x.com", "", "has, comma", "", "pro", "", "007"]);
    const before = await contactsOf(p);
    const again = await importCsv(p, text);
    expect(again.body).toMatchObject({ created: 0, updated: 0, unchanged: 3, refusedCount: 0 });
    expect(await contactsOf(p)).toEqual(before);
  });

  it("exports a segment's members only; another project's segment is 404", async () => {
    const p = await createProject();
    const q = await createProject();
    const seg = await proSegment(p, "Pros");
    // Members are kept on every contact change: the import puts a@x.com in.
    await importCsv(p, "email,plan\na@x.com,pro\nb@x.com,free\n");
    const res = await call("GET", `/contacts/export?segmentId=${seg}`, { key: p.secretKey });
    expect(res.status).toBe(200);
    const rows = await parse(String(res.body));
    expect(rows.map((r) => r.cells[1])).toEqual(["email", "a@x.com"]);
    expectEnvelope(
      await call("GET", `/contacts/export?segmentId=${seg}`, { key: q.secretKey }),
      404,
      "SEGMENT_NOT_FOUND",
    );
  });
});

describe("POST /contacts/bulk", () => {
  async function seed(p: TestProject, n: number) {
    await importCsv(p, ["email", ...Array.from({ length: n }, (_, i) => `b${i}@x.com`)].join("\n"));
    return (await contactsOf(p)).map((r) => r.id);
  }

  it("unsubscribes by id with one event per change; again changes nothing; another project's ids are untouched", async () => {
    const p = await createProject();
    const q = await createProject();
    const ids = await seed(p, 3);
    const foreign = await seed(q, 1);
    const res = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "unsubscribe", ids: [...ids, ids[0], ...foreign] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ action: "unsubscribe", requested: 4, matched: 3, changed: 3 });
    const again = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "unsubscribe", ids },
    });
    expect(again.body).toEqual({ action: "unsubscribe", requested: 3, matched: 3, changed: 0 });
    expect(await eventsOf(p, "contact.unsubscribed")).toHaveLength(3);
    expect((await contactsOf(q))[0]?.subscribed).toBe(1);
    expect(await eventsOf(q, "contact.unsubscribed")).toHaveLength(0);
    const back = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "subscribe", ids },
    });
    expect(back.body.changed).toBe(3);
    expect(await eventsOf(p, "contact.subscribed")).toHaveLength(3);
  });

  it("deletes by id as DELETE /contacts/:id does: events, memberships and the contact; another project's stay", async () => {
    const p = await createProject();
    const q = await createProject();
    const ids = await seed(p, 2);
    const foreign = await seed(q, 1);
    await call("POST", "/v1/track", { key: p.secretKey, body: { event: "x", email: "b0@x.com" } });
    const res = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "delete", ids: [...ids, ...foreign] },
    });
    expect(res.body).toEqual({ action: "delete", requested: 3, matched: 2, changed: 2 });
    expect(await contactsOf(p)).toEqual([]);
    expect(await eventsOf(p)).toEqual([]);
    expect(await contactsOf(q)).toHaveLength(1);
  });

  it("a deleted contact leaves its segments (memberCount drops), by bulk or by DELETE /contacts/:id", async () => {
    const p = await createProject();
    const seg = await call("POST", "/segments", {
      key: p.secretKey,
      body: {
        name: "All",
        condition: { match: "all", filters: [{ field: "contact.email", operator: "exists" }] },
      },
    });
    const ids = await seed(p, 3);
    const count = async () =>
      (await call("GET", `/segments/${seg.body.id}`, { key: p.secretKey })).body.memberCount as number;
    expect(await count()).toBe(3);
    expect((await call("DELETE", `/contacts/${ids[0]}`, { key: p.secretKey })).status).toBe(204);
    await call("POST", "/contacts/bulk", { key: p.secretKey, body: { action: "delete", ids: ids.slice(1) } });
    expect(await count()).toBe(0);
  });

  it("a crash in the middle: the retry finishes it, and no contact gets its event twice", async () => {
    const p = await createProject();
    const ids = await seed(p, 250); // three batches of 100
    const real = env.DB.batch.bind(env.DB);
    let pages = 0;
    vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      const sql = (statements[1] as unknown as { statement: string }).statement ?? "";
      if (/UPDATE contacts SET subscribed = \?4/.test(sql) && ++pages === 2)
        throw new Error("injected crash");
      return real(statements);
    });
    const crashed = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "unsubscribe", ids },
    });
    expectEnvelope(crashed, 500, "INTERNAL_SERVER_ERROR");
    expect((await contactsOf(p)).filter((r) => r.subscribed === 0)).toHaveLength(100);
    vi.restoreAllMocks();
    const retry = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "unsubscribe", ids },
    });
    expect(retry.body).toEqual({ action: "unsubscribe", requested: 250, matched: 250, changed: 150 });
    const events = await eventsOf(p, "contact.unsubscribed");
    expect(events).toHaveLength(250);
    expect(new Set(events.map((e) => e.contact_id)).size).toBe(250);
  });

  it("refuses more than 1,000 ids, no ids, and an unknown action (422)", async () => {
    const p = await createProject();
    for (const body of [
      { action: "delete", ids: Array.from({ length: 1001 }, (_, i) => `ctc_${i}`) },
      { action: "delete", ids: [] },
      { action: "archive", ids: ["ctc_1"] },
    ]) {
      expectEnvelope(
        await call("POST", "/contacts/bulk", { key: p.secretKey, body }),
        422,
        "VALIDATION_ERROR",
      );
    }
  });
});

describe("POST /contacts/bulk by segment or filter: a job", () => {
  /** `n` contacts with data.plan cycling pro, free, team; returns their ids by plan. */
  async function planted(p: TestProject, n: number) {
    const plans = ["pro", "free", "team"];
    const csv = ["email,plan", ...Array.from({ length: n }, (_, i) => `j${i}@x.com,${plans[i % 3]}`)].join(
      "\n",
    );
    expect((await importCsv(p, csv)).body.created).toBe(n);
    const rows = await contactsOf(p);
    const of = (plan: string) => rows.filter((r) => JSON.parse(r.data).plan === plan).map((r) => r.id);
    return { pro: of("pro"), free: of("free"), team: of("team") };
  }
  const jobOf = (p: TestProject, id: string) => call("GET", `/contacts/bulk/${id}`, { key: p.secretKey });

  it("unsubscribes a segment's members, a page at a time through the queue, each once", async () => {
    const p = await createProject();
    const ids = await planted(p, 360); // 120 pro: two pages of members
    const seg = await proSegment(p);
    const queued = captureQueue(env.SEGMENTS_QUEUE as Queue<unknown>);
    const res = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "unsubscribe", segmentId: seg },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ action: "unsubscribe", segmentId: seg, status: "RUNNING", matched: 0 });
    // The first page delivered twice at once: it changes its contacts once, counts once, queues one next page.
    const first = queued.sent.find((m) => m.jobId === res.body.id);
    await Promise.all([consume("segments", first), consume("segments", first)]);
    expect((await jobOf(p, res.body.id)).body).toMatchObject({
      status: "RUNNING",
      matched: 100,
      changed: 100,
    });
    expect(queued.sent.filter((m) => m.jobId === res.body.id)).toHaveLength(2);
    await consume("segments", first);
    const done = (await jobOf(p, res.body.id)).body;
    expect(done).toMatchObject({ status: "DONE", matched: 120, changed: 120 });
    expect(done.finishedAt).not.toBeNull();
    const events = await eventsOf(p, "contact.unsubscribed");
    expect(events.map((e) => e.contact_id).sort()).toEqual([...ids.pro].sort());
    expect((await contactsOf(p)).filter((r) => r.subscribed === 0)).toHaveLength(120);
  });

  it("deletes the contacts a filter matches; a page that fails is retried and finishes, nothing twice", async () => {
    const p = await createProject();
    const ids = await planted(p, 30);
    const queued = captureQueue(env.SEGMENTS_QUEUE as Queue<unknown>);
    const filter = {
      match: "all",
      filters: [{ field: "contact.data.plan", operator: "equals", value: "free" }],
    };
    const res = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "delete", filter },
    });
    expect(res.status).toBe(202);
    const message = queued.sent.find((m) => m.jobId === res.body.id);
    const real = env.DB.batch.bind(env.DB);
    let failures = 1;
    vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      if (failures > 0) {
        failures--;
        throw new Error("injected: D1 failed mid-page");
      }
      return real(statements);
    });
    expect((await consume("segments", message)).retried).toBe(true);
    expect((await jobOf(p, res.body.id)).body).toMatchObject({ status: "RUNNING", matched: 0 });
    await consume("segments", message);
    expect((await jobOf(p, res.body.id)).body).toMatchObject({ status: "DONE", matched: 10, changed: 10 });
    const left = (await contactsOf(p)).map((r) => r.id).sort();
    expect(left).toEqual([...ids.pro, ...ids.team].sort());
  });

  it("a job whose message was lost is handed over again by the sweep", async () => {
    const p = await createProject();
    await planted(p, 3);
    captureQueue(env.SEGMENTS_QUEUE as Queue<unknown>); // the message is never delivered
    const filter = { match: "all", filters: [{ field: "contact.data.plan", operator: "exists" }] };
    const res = await call("POST", "/contacts/bulk", {
      key: p.secretKey,
      body: { action: "unsubscribe", filter },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await env.DB.prepare("UPDATE bulk_jobs SET updated_at = 0 WHERE id = ?1").bind(res.body.id).run();
    const resent: unknown[] = [];
    vi.spyOn(env.SEGMENTS_QUEUE, "sendBatch").mockImplementation(async (messages) => {
      for (const m of messages) resent.push(m.body);
      return undefined as never;
    });
    await sweep(env, createLogger({ test: "bulk" }), Date.now());
    expect(resent).toContainEqual({ kind: "contact-bulk", db: "DB", jobId: res.body.id });
    await consume("segments", { kind: "contact-bulk", db: "DB", jobId: res.body.id });
    expect((await jobOf(p, res.body.id)).body).toMatchObject({ status: "DONE", matched: 3, changed: 3 });
  });

  it("takes one of ids, segmentId and filter; refuses another project's segment and job", async () => {
    const p = await createProject();
    const q = await createProject();
    const theirs = await proSegment(q);
    for (const body of [
      { action: "delete" },
      { action: "delete", ids: ["ctc_x"], filter: { match: "all", filters: [] } },
      { action: "delete", segmentId: theirs },
      { action: "delete", filter: { match: "some" } },
    ]) {
      expectEnvelope(
        await call("POST", "/contacts/bulk", { key: p.secretKey, body }),
        422,
        "VALIDATION_ERROR",
      );
    }
    captureQueue(env.SEGMENTS_QUEUE as Queue<unknown>);
    const job = await call("POST", "/contacts/bulk", {
      key: q.secretKey,
      body: { action: "delete", segmentId: theirs },
    });
    expect(job.status).toBe(202);
    expectEnvelope(await jobOf(p, job.body.id), 404, "BULK_JOB_NOT_FOUND");
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM bulk_jobs WHERE project_id = ?1").bind(p.id).first("n"),
    ).toBe(0);
  });
});
