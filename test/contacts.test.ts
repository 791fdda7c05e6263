/** Contacts (sk): list, upsert, read, change, delete, their events; and GET /project. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";
import { createWorkflow, listExecutions, track as trackEvent } from "./workflow-helpers";

/** Lets the clock move on, so that rows made one after another have distinct times. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

async function newContact(p: TestProject, body: Record<string, unknown>) {
  const res = await call("POST", "/contacts", { key: p.secretKey, body });
  expect(res.status).toBe(201);
  return res.body;
}

const track = (p: TestProject, body: unknown) => call("POST", "/v1/track", { key: p.secretKey, body });

async function listAll(p: TestProject, path: string, limit: number): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  const sep = path.includes("?") ? "&" : "?";
  for (let i = 0; i < 100; i++) {
    const res: any = await call(
      "GET",
      `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      { key: p.secretKey },
    );
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeLessThanOrEqual(limit);
    expect(res.body.hasMore).toBe(res.body.cursor !== null);
    if (res.body.hasMore) expect(res.body.data).toHaveLength(limit);
    out.push(...res.body.data);
    cursor = res.body.cursor;
    if (!cursor) return out;
  }
  throw new Error("pagination did not end");
}

const emailsOf = (rows: { email: string }[]) => rows.map((r) => r.email);

const countRows = async (table: "contacts" | "events", where: string, ...params: unknown[]) =>
  (
    await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)
      .bind(...params)
      .first<{ n: number }>()
  )?.n;

describe("GET /contacts", () => {
  it("lists the project's contacts newest first, with the contact shape", async () => {
    const p = await createProject();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await newContact(p, { email: uniqueEmail(`list${i}`) })).email);
      await tick();
    }
    const res = await call("GET", "/contacts", { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cursor: null, hasMore: false });
    expect(emailsOf(res.body.data)).toEqual([...made].reverse());
    for (const c of res.body.data) {
      expect(Object.keys(c).sort()).toEqual(["createdAt", "data", "email", "id", "subscribed", "updatedAt"]);
      expect(c.id).toMatch(/^ctc_/);
      expect(new Date(c.createdAt).toISOString()).toBe(c.createdAt);
    }
  });

  it("pages with limit and cursor, without gaps or repeats", async () => {
    const p = await createProject();
    const made: string[] = [];
    for (let i = 0; i < 7; i++) {
      made.push((await newContact(p, { email: uniqueEmail(`page${i}`) })).email);
      await tick();
    }
    const first = await call("GET", "/contacts?limit=3", { key: p.secretKey });
    expect(first.body.data).toHaveLength(3);
    expect(first.body.hasMore).toBe(true);
    expect(typeof first.body.cursor).toBe("string");
    const all = await listAll(p, "/contacts", 3);
    expect(emailsOf(all)).toEqual([...made].reverse());
    const exact = await listAll(p, "/contacts", 7);
    expect(exact).toHaveLength(7);
    const one = await listAll(p, "/contacts", 1);
    expect(emailsOf(one)).toEqual([...made].reverse());
  });

  it("filters by subscribed", async () => {
    const p = await createProject();
    const yes = await newContact(p, { email: uniqueEmail("yes") });
    const no = await newContact(p, { email: uniqueEmail("no"), subscribed: false });
    const alsoNo = (await track(p, { event: "x", email: uniqueEmail("no2"), subscribed: false })).body.data
      .contact;
    const subscribed = await call("GET", "/contacts?subscribed=true", { key: p.secretKey });
    expect(subscribed.body.data.map((c: { id: string }) => c.id)).toEqual([yes.id]);
    const unsubscribed = await call("GET", "/contacts?subscribed=false", { key: p.secretKey });
    expect(unsubscribed.body.data.map((c: { id: string }) => c.id).sort()).toEqual([no.id, alsoNo].sort());
    for (const c of unsubscribed.body.data) expect(c.subscribed).toBe(false);
    const paged = await listAll(p, "/contacts?subscribed=false", 1);
    expect(paged).toHaveLength(2);
  });

  it("searches emails by substring, case-insensitively", async () => {
    const p = await createProject();
    const tag = crypto.randomUUID().slice(0, 6);
    const ann = await newContact(p, { email: `ann.${tag}@alpha.example` });
    const bob = await newContact(p, { email: `bob.${tag}@beta.example` });
    await newContact(p, { email: uniqueEmail("zed") });
    const byTag = await call("GET", `/contacts?search=${tag}`, { key: p.secretKey });
    expect(byTag.body.data.map((c: { id: string }) => c.id).sort()).toEqual([ann.id, bob.id].sort());
    const byDomain = await call("GET", "/contacts?search=BETA.EX", { key: p.secretKey });
    expect(byDomain.body.data.map((c: { id: string }) => c.id)).toEqual([bob.id]);
    const none = await call("GET", "/contacts?search=nobody-here", { key: p.secretKey });
    expect(none.body.data).toEqual([]);
  });

  it("treats _ in a search literally", async () => {
    const p = await createProject();
    const tag = crypto.randomUUID().slice(0, 6);
    const under = await newContact(p, { email: `a_b.${tag}@example.com` });
    await newContact(p, { email: `axb.${tag}@example.com` });
    const res = await call("GET", "/contacts?search=a_b", { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body.data.map((c: { id: string }) => c.id)).toEqual([under.id]);
    const onlyUnderscore = await call("GET", "/contacts?search=_", { key: p.secretKey });
    expect(onlyUnderscore.body.data.map((c: { id: string }) => c.id)).toEqual([under.id]);
  });

  it("treats % and \\ in a search literally", async () => {
    const p = await createProject();
    await newContact(p, { email: uniqueEmail("plain") });
    await newContact(p, { email: uniqueEmail("other") });
    // `%` cannot pass the email schema, so this contact is written straight to the table.
    const now = Date.now();
    await env.DB.prepare(
      "INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at) VALUES (?1, ?2, ?3, 1, '{}', ?4, ?4)",
    )
      .bind("ctc_percentliteral", p.id, "100%off@example.com", now)
      .run();
    const percent = await call("GET", `/contacts?search=${encodeURIComponent("%")}`, { key: p.secretKey });
    expect(percent.status).toBe(200);
    expect(emailsOf(percent.body.data)).toEqual(["100%off@example.com"]);
    const inside = await call("GET", `/contacts?search=${encodeURIComponent("0%o")}`, { key: p.secretKey });
    expect(emailsOf(inside.body.data)).toEqual(["100%off@example.com"]);
    const wildcard = await call("GET", `/contacts?search=${encodeURIComponent("1%f")}`, { key: p.secretKey });
    expect(wildcard.body.data).toEqual([]);
    const backslash = await call("GET", `/contacts?search=${encodeURIComponent("\\")}`, { key: p.secretKey });
    expect(backslash.status).toBe(200);
    expect(backslash.body.data).toEqual([]);
  });

  it("lists only the caller's project", async () => {
    const a = await createProject();
    const b = await createProject();
    const email = uniqueEmail("mine");
    await newContact(a, { email });
    const res = await call("GET", "/contacts", { key: b.secretKey });
    expect(res.body.data).toEqual([]);
    const search = await call("GET", `/contacts?search=${email}`, { key: b.secretKey });
    expect(search.body.data).toEqual([]);
  });

  it("refuses a cursor it did not make with 422 on field cursor", async () => {
    const p = await createProject();
    for (const cursor of ["garbage", btoa("[1]"), btoa('["x","y"]'), "x".repeat(501)]) {
      const res = await call("GET", `/contacts?cursor=${encodeURIComponent(cursor)}`, { key: p.secretKey });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors[0].field).toBe("cursor");
    }
  });
});

describe("POST /contacts", () => {
  it("creates a contact with 201: lower-cased email, subscribed by default, data", async () => {
    const p = await createProject();
    const email = uniqueEmail("New");
    const res = await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: ` ${email.toUpperCase()} `, data: { plan: "pro" } },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email: email.toLowerCase(), subscribed: true, data: { plan: "pro" } });
    expect(res.body.id).toMatch(/^ctc_/);
    const read = await call("GET", `/contacts/${res.body.id}`, { key: p.secretKey });
    expect(read.body).toEqual(res.body);
    const events = await call("GET", `/contacts/${res.body.id}/events`, { key: p.secretKey });
    expect(events.body.data).toEqual([]);
  });

  it("answers 200 for an existing email and merges the data", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    const first = await newContact(p, { email, data: { a: 1, keep: "k", nested: { x: 1 } } });
    await tick();
    const again = await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: email.toUpperCase(), data: { a: 2, b: [true], nested: { y: 2 } } },
    });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.id);
    expect(again.body.data).toEqual({ a: 2, keep: "k", b: [true], nested: { y: 2 } });
    expect(again.body.subscribed).toBe(true);
    expect(again.body.createdAt).toBe(first.createdAt);
    expect(Date.parse(again.body.updatedAt)).toBeGreaterThan(Date.parse(first.updatedAt));
    expect(await countRows("contacts", "project_id = ?1", p.id)).toBe(1);
  });

  it("keeps an existing status unless subscribed is given, and records the change", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    const first = await newContact(p, { email, subscribed: false });
    expect(first.subscribed).toBe(false);
    const same = await call("POST", "/contacts", { key: p.secretKey, body: { email } });
    expect(same.body.subscribed).toBe(false);
    const changed = await call("POST", "/contacts", { key: p.secretKey, body: { email, subscribed: true } });
    expect(changed.status).toBe(200);
    expect(changed.body.subscribed).toBe(true);
    const events = await call("GET", `/contacts/${first.id}/events`, { key: p.secretKey });
    expect(events.body.data.map((e: { name: string }) => e.name)).toEqual(["contact.subscribed"]);
  });

  it("refuses bad bodies with 422 on the right field", async () => {
    const p = await createProject();
    for (const [body, field] of [
      [{}, "email"],
      [{ email: "nope" }, "email"],
      [{ email: uniqueEmail(), subscribed: "true" }, "subscribed"],
      [{ email: uniqueEmail(), data: [] }, "data"],
      [{ email: uniqueEmail(), data: "x" }, "data"],
    ] as const) {
      const res = await call("POST", "/contacts", { key: p.secretKey, body });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
    expect(await countRows("contacts", "project_id = ?1", p.id)).toBe(0);
  });
});

describe("GET /contacts/:id", () => {
  it("answers 404 CONTACT_NOT_FOUND for an unknown id", async () => {
    const p = await createProject();
    expectEnvelope(await call("GET", "/contacts/ctc_nope", { key: p.secretKey }), 404, "CONTACT_NOT_FOUND");
  });
});

describe("PATCH /contacts/:id", () => {
  it("changes email, subscribed and data (shallow-merged)", async () => {
    const p = await createProject();
    const c = await newContact(p, { email: uniqueEmail(), data: { a: 1, b: { x: 1 } } });
    await tick();
    const newEmail = uniqueEmail("Moved");
    const res = await call("PATCH", `/contacts/${c.id}`, {
      key: p.secretKey,
      body: { email: `  ${newEmail.toUpperCase()}`, subscribed: false, data: { b: { y: 2 }, c: null } },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: c.id,
      email: newEmail.toLowerCase(),
      subscribed: false,
      data: { a: 1, b: { y: 2 }, c: null },
      createdAt: c.createdAt,
    });
    expect(Date.parse(res.body.updatedAt)).toBeGreaterThan(Date.parse(c.updatedAt));
    const read = await call("GET", `/contacts/${c.id}`, { key: p.secretKey });
    expect(read.body).toEqual(res.body);
    const events = await call("GET", `/contacts/${c.id}/events`, { key: p.secretKey });
    expect(events.body.data.map((e: { name: string }) => e.name)).toEqual(["contact.unsubscribed"]);
  });

  it("changes only what it is given, and records no status event when the status is unchanged", async () => {
    const p = await createProject();
    const c = await newContact(p, { email: uniqueEmail(), data: { a: 1 } });
    const res = await call("PATCH", `/contacts/${c.id}`, { key: p.secretKey, body: { data: { b: 2 } } });
    expect(res.body).toMatchObject({ email: c.email, subscribed: true, data: { a: 1, b: 2 } });
    const same = await call("PATCH", `/contacts/${c.id}`, { key: p.secretKey, body: { subscribed: true } });
    expect(same.body).toMatchObject({ subscribed: true, data: { a: 1, b: 2 } });
    expect(await countRows("events", "contact_id = ?1", c.id)).toBe(0);
  });

  it("refuses another contact's email with 409 CONFLICT and changes nothing", async () => {
    const p = await createProject();
    const a = await newContact(p, { email: uniqueEmail("a") });
    const b = await newContact(p, { email: uniqueEmail("b") });
    const res = await call("PATCH", `/contacts/${b.id}`, {
      key: p.secretKey,
      body: { email: a.email.toUpperCase(), subscribed: false },
    });
    expectEnvelope(res, 409, "CONFLICT");
    const read = await call("GET", `/contacts/${b.id}`, { key: p.secretKey });
    expect(read.body).toEqual(b);
    expect(await countRows("events", "contact_id = ?1", b.id)).toBe(0);
  });

  it("allows an email that another project's contact has", async () => {
    const a = await createProject();
    const b = await createProject();
    const taken = await newContact(a, { email: uniqueEmail("taken") });
    const mine = await newContact(b, { email: uniqueEmail("mine") });
    const res = await call("PATCH", `/contacts/${mine.id}`, {
      key: b.secretKey,
      body: { email: taken.email },
    });
    expect(res.status).toBe(200);
    expect(res.body.email).toBe(taken.email);
  });

  it("refuses an empty body, and bad fields, with 422", async () => {
    const p = await createProject();
    const c = await newContact(p, { email: uniqueEmail() });
    const empty = await call("PATCH", `/contacts/${c.id}`, { key: p.secretKey, body: {} });
    expectEnvelope(empty, 422, "VALIDATION_ERROR");
    expect(empty.body.error.errors.length).toBeGreaterThan(0);
    for (const [body, field] of [
      [{ email: "bad" }, "email"],
      [{ subscribed: "no" }, "subscribed"],
      [{ data: [1] }, "data"],
    ] as const) {
      const res = await call("PATCH", `/contacts/${c.id}`, { key: p.secretKey, body });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
    const notJson = await call("PATCH", `/contacts/${c.id}`, { key: p.secretKey, raw: "{" });
    expectEnvelope(notJson, 400, "INVALID_REQUEST_BODY");
    const read = await call("GET", `/contacts/${c.id}`, { key: p.secretKey });
    expect(read.body).toEqual(c);
  });

  it("answers 404 CONTACT_NOT_FOUND for an unknown id", async () => {
    const p = await createProject();
    const res = await call("PATCH", "/contacts/ctc_nope", { key: p.secretKey, body: { subscribed: false } });
    expectEnvelope(res, 404, "CONTACT_NOT_FOUND");
  });
});

describe("DELETE /contacts/:id", () => {
  it("answers 204, removes the contact and its events", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    const tracked = await track(p, { event: "a", email });
    await track(p, { event: "b", email, subscribed: false });
    const other = await track(p, { event: "c", email: uniqueEmail() });
    const id = tracked.body.data.contact;
    expect(await countRows("events", "contact_id = ?1", id)).toBe(3);

    const res = await call("DELETE", `/contacts/${id}`, { key: p.secretKey });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expectEnvelope(await call("GET", `/contacts/${id}`, { key: p.secretKey }), 404, "CONTACT_NOT_FOUND");
    expectEnvelope(
      await call("GET", `/contacts/${id}/events`, { key: p.secretKey }),
      404,
      "CONTACT_NOT_FOUND",
    );
    expect(await countRows("events", "contact_id = ?1", id)).toBe(0);
    expect(await countRows("contacts", "id = ?1", id)).toBe(0);
    // Other contacts keep theirs.
    expect(await countRows("events", "contact_id = ?1", other.body.data.contact)).toBe(1);
    // Deleting again is 404.
    expectEnvelope(await call("DELETE", `/contacts/${id}`, { key: p.secretKey }), 404, "CONTACT_NOT_FOUND");
    // The email can be tracked again, as a new contact.
    const again = await track(p, { event: "d", email });
    expect(again.body.data.contact).not.toBe(id);
  });
});

describe("GET /contacts/:id/events", () => {
  it("pages the contact's events newest first", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await track(p, { event: `e${i}`, email, data: { i } })).body.data.event);
      await tick();
    }
    await track(p, { event: "elsewhere", email: uniqueEmail() });
    const contact = (await call("GET", `/contacts?search=${email}`, { key: p.secretKey })).body.data[0];
    const first = await call("GET", `/contacts/${contact.id}/events?limit=2`, { key: p.secretKey });
    expect(first.body.data).toHaveLength(2);
    expect(first.body.hasMore).toBe(true);
    const all = await listAll(p, `/contacts/${contact.id}/events`, 2);
    expect(all.map((e) => e.id)).toEqual([...made].reverse());
    expect(all.map((e) => e.name)).toEqual(["e4", "e3", "e2", "e1", "e0"]);
    for (const e of all) {
      expect(Object.keys(e).sort()).toEqual(["contactId", "createdAt", "data", "executions", "id", "name"]);
      expect(e.contactId).toBe(contact.id);
    }
    expect(all[0].data).toEqual({ i: 4 });
  });

  it("refuses a bad limit with 422", async () => {
    const p = await createProject();
    const c = await newContact(p, { email: uniqueEmail() });
    const res = await call("GET", `/contacts/${c.id}/events?limit=1000`, { key: p.secretKey });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
  });
});

describe("another project's contact", () => {
  it("is 404 CONTACT_NOT_FOUND on every /contacts/:id route, shows nothing and changes nothing", async () => {
    const owner = await createProject();
    const intruder = await createProject();
    const email = uniqueEmail("private");
    const tracked = await track(owner, { event: "secret-event", email, data: { ssn: "123" } });
    const id = tracked.body.data.contact;
    const before = (await call("GET", `/contacts/${id}`, { key: owner.secretKey })).body;

    const attempts = [
      await call("GET", `/contacts/${id}`, { key: intruder.secretKey }),
      await call("GET", `/contacts/${id}/events`, { key: intruder.secretKey }),
      await call("PATCH", `/contacts/${id}`, {
        key: intruder.secretKey,
        body: { subscribed: false, data: { ssn: "stolen" }, email: uniqueEmail() },
      }),
      await call("DELETE", `/contacts/${id}`, { key: intruder.secretKey }),
    ];
    for (const res of attempts) {
      expectEnvelope(res, 404, "CONTACT_NOT_FOUND");
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(email);
      expect(text).not.toContain("123");
      expect(text).not.toContain("secret-event");
      expect(res.body.data).toBeUndefined();
    }
    const after = await call("GET", `/contacts/${id}`, { key: owner.secretKey });
    expect(after.body).toEqual(before);
    const events = await call("GET", `/contacts/${id}/events`, { key: owner.secretKey });
    expect(events.body.data.map((e: { name: string }) => e.name)).toEqual(["secret-event"]);
    expect(await countRows("events", "project_id = ?1", intruder.id)).toBe(0);
  });
});

describe("GET /project", () => {
  it("shows the name and the keys' prefixes, never the full keys", async () => {
    const p = await createProject("Shown Project");
    const res = await call("GET", "/project", { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: p.id, name: "Shown Project" });
    expect(res.body.publicKeyPrefix).toMatch(/^pk_/);
    expect(res.body.secretKeyPrefix).toMatch(/^sk_/);
    expect(p.publicKey.startsWith(res.body.publicKeyPrefix)).toBe(true);
    expect(p.secretKey.startsWith(res.body.secretKeyPrefix)).toBe(true);
    expect(res.body.publicKeyPrefix.length).toBeLessThan(p.publicKey.length / 2);
    expect(res.body.secretKeyPrefix.length).toBeLessThan(p.secretKey.length / 2);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(p.publicKey);
    expect(text).not.toContain(p.secretKey);
    expect(text).not.toContain(p.secretKey.slice(3, 20));
    expect(res.body).not.toHaveProperty("publicKey");
    expect(res.body).not.toHaveProperty("secretKey");
  });

  it("shows the caller's own project", async () => {
    const a = await createProject("Project A");
    const b = await createProject("Project B");
    expect((await call("GET", "/project", { key: a.secretKey })).body.id).toBe(a.id);
    expect((await call("GET", "/project", { key: b.secretKey })).body.name).toBe("Project B");
  });
});

describe("GET /contacts/:id/events: what each event did", () => {
  it("names the executions each event started and those it resumed", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "signup",
      steps: { paid: { type: "WAIT_FOR_EVENT", config: { eventName: "paid", timeout: 3600 } } },
      edges: [["trigger", "paid"]],
    });
    const email = uniqueEmail();
    const signup = await trackEvent(p.publicKey, "signup", email);
    const paid = await trackEvent(p.publicKey, "paid", email);
    const noise = await trackEvent(p.publicKey, "browsed", email);
    const [exec] = await listExecutions(p.secretKey, wf.id);
    expect(exec.status).toBe("COMPLETED");
    const res = await call("GET", `/contacts/${signup.contact}/events`, { key: p.secretKey });
    expect(res.status).toBe(200);
    const byId = new Map(res.body.data.map((e: any) => [e.id, e.executions]));
    const link = { id: exec.id, workflowId: wf.id, status: "COMPLETED" };
    expect(byId.get(signup.event)).toEqual({ started: [link], resumed: [] });
    expect(byId.get(paid.event)).toEqual({ started: [], resumed: [link] });
    expect(byId.get(noise.event)).toEqual({ started: [], resumed: [] });
  });
});

describe("GET /events: the project's recent events", () => {
  it("lists them newest first across contacts, with the contact's email, pages, filters by name, and keeps projects apart", async () => {
    const p = await createProject();
    const other = await createProject();
    const a = uniqueEmail();
    const b = uniqueEmail();
    const tracked: string[] = [];
    for (const [event, email] of [
      ["signup", a],
      ["signup", b],
      ["paid", a],
    ] as const) {
      tracked.push((await trackEvent(p.publicKey, event, email)).event);
      await tick();
    }
    await trackEvent(other.publicKey, "signup", uniqueEmail());
    const all = await call("GET", "/events?limit=100", { key: p.secretKey });
    expect(all.status).toBe(200);
    const custom = all.body.data.filter((e: any) => !e.name.startsWith("contact."));
    expect(custom.map((e: any) => e.id)).toEqual([...tracked].reverse());
    expect(custom[0]).toMatchObject({ name: "paid", contactEmail: a, data: {} });
    expect(custom[0].contactId).toMatch(/^ctc_/);
    const page1 = await call("GET", "/events?limit=2&name=signup", { key: p.secretKey });
    expect(page1.body.data.map((e: any) => e.id)).toEqual([tracked[1], tracked[0]]);
    expect(page1.body.hasMore).toBe(false);
    const first = await call("GET", "/events?limit=1", { key: p.secretKey });
    expect(first.body.hasMore).toBe(true);
    const second = await call("GET", `/events?limit=1&cursor=${first.body.cursor}`, { key: p.secretKey });
    expect(second.body.data[0].id).not.toBe(first.body.data[0].id);
    expect((await call("GET", "/events?limit=100", { key: other.secretKey })).body.data).toHaveLength(1);
    expectEnvelope(await call("GET", "/events?limit=0", { key: p.secretKey }), 422, "VALIDATION_ERROR");
    expectEnvelope(await call("GET", "/events?cursor=nope", { key: p.secretKey }), 422, "VALIDATION_ERROR");
    expectEnvelope(await call("GET", "/events", { key: p.publicKey }), 403, "FORBIDDEN");
  });

  it("reads a range of the events' key, newest first, without a sort or a table scan", async () => {
    const plan = await env.DB.prepare(
      `EXPLAIN QUERY PLAN SELECT e.id, c.email FROM events e
         LEFT JOIN contacts c ON c.project_id = e.project_id AND c.id = e.contact_id
        WHERE e.project_id = ?1 AND e.id < ?2 AND (?3 IS NULL OR e.name = ?3) ORDER BY e.id DESC LIMIT ?4`,
    )
      .bind("prj_x", "\uffff", null, 21)
      .all<{ detail: string }>();
    const details = plan.results.map((r) => r.detail).join("\n");
    expect(details).toContain("SEARCH e USING PRIMARY KEY (project_id=? AND id<?)");
    expect(details).toContain("SEARCH c USING PRIMARY KEY");
    expect(details).not.toContain("TEMP B-TREE");
  });
});

describe("a contact's executions and its emails' workflows", () => {
  it("lists the contact's executions across workflows, newest first; an email names its execution's workflow", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    const a = await call("POST", "/workflows", {
      key: p.secretKey,
      body: { name: "A", eventName: "a", enabled: true },
    });
    const b = await call("POST", "/workflows", {
      key: p.secretKey,
      body: { name: "B", eventName: "b", enabled: true },
    });
    await trackEvent(p.publicKey, "a", email);
    await tick();
    await trackEvent(p.publicKey, "b", email);
    await trackEvent(p.publicKey, "a", uniqueEmail());
    const contact = (await call("GET", `/contacts?search=${encodeURIComponent(email)}`, { key: p.secretKey }))
      .body.data[0];
    const runs = await call("GET", `/contacts/${contact.id}/executions`, { key: p.secretKey });
    expect(runs.status, JSON.stringify(runs.body)).toBe(200);
    expect(runs.body.data.map((r: any) => r.workflowId)).toEqual([b.body.id, a.body.id]);
    const page = await call("GET", `/contacts/${contact.id}/executions?limit=1`, { key: p.secretKey });
    expect(page.body.data).toHaveLength(1);
    const next = await call("GET", `/contacts/${contact.id}/executions?limit=1&cursor=${page.body.cursor}`, {
      key: p.secretKey,
    });
    expect(next.body.data.map((r: any) => r.workflowId)).toEqual([a.body.id]);
    expectEnvelope(
      await call("GET", "/contacts/ctc_nope/executions", { key: p.secretKey }),
      404,
      "CONTACT_NOT_FOUND",
    );
    const other = await createProject();
    expectEnvelope(
      await call("GET", `/contacts/${contact.id}/executions`, { key: other.secretKey }),
      404,
      "CONTACT_NOT_FOUND",
    );

    // An email a workflow's execution made names that workflow.
    const execId = runs.body.data[0].id;
    await env.DB.prepare(
      `INSERT INTO emails (id, project_id, contact_id, workflow_execution_id, source_type, type, status, to_email, created_at, updated_at)
       VALUES ('eml_wf_test', ?1, ?2, ?3, 'WORKFLOW', 'MARKETING', 'QUEUED', ?4, 1, 1)`,
    )
      .bind(p.id, contact.id, execId, email)
      .run();
    const one = await call("GET", "/emails/eml_wf_test", { key: p.secretKey });
    expect(one.body).toMatchObject({ workflowExecutionId: execId, workflowId: b.body.id, campaignId: null });
    const list = await call("GET", "/emails", { key: p.secretKey });
    expect(list.body.data[0].workflowId).toBe(b.body.id);
  });
});
