import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { call, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";

let p: TestProject;
beforeAll(async () => {
  p = await createProject();
});

describe("POST /v1/track", () => {
  it("creates the contact with lower-cased email, stores the event, answers Plunk's shape", async () => {
    const email = uniqueEmail("Track");
    const res = await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "signup", email: `  ${email.toUpperCase()} `, data: { plan: "pro" } },
    });
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    expect(res.body.data.contact).toMatch(/^ctc_/);
    expect(res.body.data.event).toMatch(/^evt_/);
    expect(new Date(res.body.data.timestamp).toISOString()).toBe(res.body.data.timestamp);

    const contact = await call("GET", `/contacts/${res.body.data.contact}`, { key: p.secretKey });
    expect(contact.body).toMatchObject({
      email: email.toLowerCase(),
      subscribed: true,
      data: { plan: "pro" },
    });
    const events = await call("GET", `/contacts/${res.body.data.contact}/events`, { key: p.secretKey });
    expect(events.body.data).toHaveLength(1);
    expect(events.body.data[0]).toMatchObject({
      id: res.body.data.event,
      name: "signup",
      data: { plan: "pro" },
    });
  });
});

const eventCount = async (projectId: string, where = "1 = 1", ...params: unknown[]) =>
  (
    await env.DB.prepare(`SELECT count(*) AS n FROM events WHERE project_id = ?1 AND ${where}`)
      .bind(projectId, ...params)
      .first<{ n: number }>()
  )?.n;

const track = (key: string, body: unknown, headers?: Record<string, string>) =>
  call("POST", "/v1/track", { key, body, headers });

async function contactOf(q: TestProject, id: string) {
  const res = await call("GET", `/contacts/${id}`, { key: q.secretKey });
  expect(res.status).toBe(200);
  return res.body;
}

async function eventsOf(q: TestProject, id: string): Promise<{ name: string; data: any; id: string }[]> {
  const res = await call("GET", `/contacts/${id}/events?limit=100`, { key: q.secretKey });
  expect(res.status).toBe(200);
  return res.body.data;
}

function fieldsOf(res: { body: any }): string[] {
  return res.body.error.errors.map((e: { field: string }) => e.field);
}

describe("POST /v1/track: reserved event names", () => {
  it.each([
    "email.sent",
    "email.anything",
    "email.bounce",
    "contact.subscribed",
    "contact.unsubscribed",
    "segment.vip.entry",
    "segment.x.exit",
    "segment.vip-users.entry",
    " email.sent ",
  ])("refuses %j with 422 on field event, code reserved_event, and stores nothing", async (event) => {
    const q = await createProject();
    const email = uniqueEmail("reserved");
    const res = await track(q.secretKey, { event, email });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors).toEqual([
      { field: "event", message: expect.any(String), code: "reserved_event" },
    ]);
    expect(await eventCount(q.id)).toBe(0);
    const list = await call("GET", "/contacts", { key: q.secretKey });
    expect(list.body.data).toEqual([]);
  });

  it.each([
    "segment.thing",
    "contact.created",
    "contact.updated",
    "emails.sent",
    "my.email.sent",
    "segment.entry",
    "segment.vip.entry.later",
  ])("allows %j", async (event) => {
    const q = await createProject();
    const res = await track(q.secretKey, { event, email: uniqueEmail() });
    expect(res.status).toBe(200);
    const events = await eventsOf(q, res.body.data.contact);
    expect(events.map((e) => e.name)).toEqual([event]);
  });
});

describe("POST /v1/track: body validation", () => {
  it.each([
    ["event missing", { email: "a@example.com" }, "event"],
    ["event empty", { event: "", email: "a@example.com" }, "event"],
    ["event blank", { event: "   ", email: "a@example.com" }, "event"],
    ["event 101 chars", { event: "e".repeat(101), email: "a@example.com" }, "event"],
    ["event a number", { event: 5, email: "a@example.com" }, "event"],
    ["email missing", { event: "x" }, "email"],
    ["email invalid", { event: "x", email: "not-an-email" }, "email"],
    ["email without domain", { event: "x", email: "a@" }, "email"],
    ["email a number", { event: "x", email: 12 }, "email"],
    ["email too long", { event: "x", email: `${"a".repeat(250)}@example.com` }, "email"],
    ["subscribed a string", { event: "x", email: "a@example.com", subscribed: "yes" }, "subscribed"],
    ["subscribed a number", { event: "x", email: "a@example.com", subscribed: 1 }, "subscribed"],
    ["data an array", { event: "x", email: "a@example.com", data: [1, 2] }, "data"],
    ["data a string", { event: "x", email: "a@example.com", data: "plan=pro" }, "data"],
    ["data null", { event: "x", email: "a@example.com", data: null }, "data"],
  ])("refuses %s with 422 on the right field", async (_name, body, field) => {
    const q = await createProject();
    const res = await track(q.secretKey, body);
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(fieldsOf(res)).toEqual([field]);
    expect(await eventCount(q.id)).toBe(0);
  });

  it("accepts an event name of exactly 100 characters, and trims names", async () => {
    const q = await createProject();
    const long = "e".repeat(100);
    const a = await track(q.secretKey, { event: long, email: uniqueEmail() });
    expect(a.status).toBe(200);
    expect((await eventsOf(q, a.body.data.contact))[0]?.name).toBe(long);
    const b = await track(q.secretKey, { event: "  padded  ", email: uniqueEmail() });
    expect(b.status).toBe(200);
    expect((await eventsOf(q, b.body.data.contact))[0]?.name).toBe("padded");
  });

  it("finds one contact for an email however it is cased or padded", async () => {
    const q = await createProject();
    const email = uniqueEmail("case");
    const a = await track(q.secretKey, { event: "a", email });
    const b = await track(q.secretKey, { event: "b", email: `\t${email.toUpperCase()}  ` });
    expect(b.body.data.contact).toBe(a.body.data.contact);
    const list = await call("GET", "/contacts", { key: q.secretKey });
    expect(list.body.data).toHaveLength(1);
  });
});

describe("POST /v1/track: data", () => {
  it("gives the event every value, the contact only the persistent ones", async () => {
    const q = await createProject();
    const res = await track(q.secretKey, {
      event: "purchase",
      email: uniqueEmail(),
      data: {
        plan: "pro",
        orderId: { value: "ord_1", persistent: false },
        cart: { value: { items: 2 }, persistent: false },
        seats: 3,
      },
    });
    expect(res.status).toBe(200);
    const [event] = await eventsOf(q, res.body.data.contact);
    expect(event?.data).toEqual({ plan: "pro", orderId: "ord_1", cart: { items: 2 }, seats: 3 });
    const contact = await contactOf(q, res.body.data.contact);
    expect(contact.data).toEqual({ plan: "pro", seats: 3 });
    const row = await env.DB.prepare("SELECT data FROM events WHERE id = ?1")
      .bind(res.body.data.event)
      .first<{ data: string }>();
    expect(JSON.parse(row?.data ?? "null")).toEqual(event?.data);
  });

  it("treats an object with value and persistent: true, or with more keys, as an ordinary value", async () => {
    const q = await createProject();
    const res = await track(q.secretKey, {
      event: "x",
      email: uniqueEmail(),
      data: {
        kept: { value: 1, persistent: true },
        extra: { value: 2, persistent: false, note: "n" },
      },
    });
    const contact = await contactOf(q, res.body.data.contact);
    expect(contact.data).toEqual({
      kept: { value: 1, persistent: true },
      extra: { value: 2, persistent: false, note: "n" },
    });
  });

  it("does not let a transient value overwrite the contact's stored one", async () => {
    const q = await createProject();
    const email = uniqueEmail();
    const first = await track(q.secretKey, { event: "a", email, data: { plan: "pro" } });
    await track(q.secretKey, { event: "b", email, data: { plan: { value: "trial", persistent: false } } });
    const contact = await contactOf(q, first.body.data.contact);
    expect(contact.data).toEqual({ plan: "pro" });
    const events = await eventsOf(q, first.body.data.contact);
    expect(events.find((e) => e.name === "b")?.data).toEqual({ plan: "trial" });
  });

  it("shallow-merges data across tracks: keys replaced, others kept, nested objects replaced whole", async () => {
    const q = await createProject();
    const email = uniqueEmail();
    const first = await track(q.secretKey, {
      event: "a",
      email,
      data: { plan: "free", name: "Ann", profile: { city: "Oslo", age: 30 } },
    });
    await track(q.secretKey, { event: "b", email, data: { plan: "pro", profile: { country: "NO" } } });
    await track(q.secretKey, { event: "c", email });
    const contact = await contactOf(q, first.body.data.contact);
    expect(contact.data).toEqual({ plan: "pro", name: "Ann", profile: { country: "NO" } });
  });

  it("keeps every JSON type through a merge, for new and existing keys, and unicode keys", async () => {
    const q = await createProject();
    const email = uniqueEmail();
    const base = {
      yes: true,
      no: false,
      nothing: null,
      list: [1, "two", { three: 3 }, null, false],
      int: 42,
      real: 1.5,
      negative: -7,
      big: 9007199254740991,
      str: "true",
      jsonish: '{"a":1}',
      numeric: "12",
      empty: "",
      emptyObject: {},
      emptyList: [],
      nested: { deep: { deeper: [true] } },
      ключ: "значение",
      "emoji 😀": "🎉",
      "with.dot": 1,
      'quote"key': "q",
    };
    const first = await track(q.secretKey, { event: "a", email, data: base });
    expect((await contactOf(q, first.body.data.contact)).data).toEqual(base);
    // A second track with other keys goes through the SQL merge for every one of the old keys.
    const more = { added: false, addedNull: null, addedList: [[1], { x: null }], 日本: 1e-3 };
    await track(q.secretKey, { event: "b", email, data: more });
    expect((await contactOf(q, first.body.data.contact)).data).toEqual({ ...base, ...more });
    // And replacing keys with values of another type takes the new type.
    const swapped = { yes: "yes", int: [42], nothing: 0, list: { not: "a list" }, str: true };
    await track(q.secretKey, { event: "c", email, data: swapped });
    expect((await contactOf(q, first.body.data.contact)).data).toEqual({ ...base, ...more, ...swapped });
  });

  it("stores a key set to null (it does not delete it)", async () => {
    const q = await createProject();
    const email = uniqueEmail();
    const first = await track(q.secretKey, { event: "a", email, data: { plan: "pro" } });
    await track(q.secretKey, { event: "b", email, data: { plan: null } });
    expect((await contactOf(q, first.body.data.contact)).data).toEqual({ plan: null });
  });
});

describe("POST /v1/track: subscribed", () => {
  it("makes a new contact subscribed by default, with no status event", async () => {
    const q = await createProject();
    const res = await track(q.secretKey, { event: "signup", email: uniqueEmail() });
    expect((await contactOf(q, res.body.data.contact)).subscribed).toBe(true);
    expect((await eventsOf(q, res.body.data.contact)).map((e) => e.name)).toEqual(["signup"]);
  });

  it("makes a new contact unsubscribed with subscribed: false, with no status event", async () => {
    const q = await createProject();
    const res = await track(q.secretKey, { event: "signup", email: uniqueEmail(), subscribed: false });
    expect((await contactOf(q, res.body.data.contact)).subscribed).toBe(false);
    expect((await eventsOf(q, res.body.data.contact)).map((e) => e.name)).toEqual(["signup"]);
  });

  it("leaves an existing contact's status alone when subscribed is not given", async () => {
    const q = await createProject();
    const email = uniqueEmail();
    const first = await track(q.secretKey, { event: "a", email, subscribed: false });
    await track(q.secretKey, { event: "b", email });
    await track(q.secretKey, { event: "c", email, data: { x: 1 } });
    expect((await contactOf(q, first.body.data.contact)).subscribed).toBe(false);
    expect((await eventsOf(q, first.body.data.contact)).map((e) => e.name).sort()).toEqual(["a", "b", "c"]);
  });

  it("records contact.subscribed / contact.unsubscribed when the status changes, and nothing when it does not", async () => {
    const q = await createProject();
    const email = uniqueEmail();
    const first = await track(q.secretKey, { event: "a", email });
    const id = first.body.data.contact;

    await track(q.secretKey, { event: "b", email, subscribed: true }); // unchanged
    expect(await eventCount(q.id, "contact_id = ?2 AND name LIKE 'contact.%'", id)).toBe(0);

    await track(q.secretKey, { event: "c", email, subscribed: false });
    expect((await contactOf(q, id)).subscribed).toBe(false);
    let names = (await eventsOf(q, id)).map((e) => e.name);
    expect(names.filter((n) => n.startsWith("contact."))).toEqual(["contact.unsubscribed"]);

    await track(q.secretKey, { event: "d", email, subscribed: false }); // unchanged
    await track(q.secretKey, { event: "e", email, subscribed: true });
    expect((await contactOf(q, id)).subscribed).toBe(true);
    names = (await eventsOf(q, id)).map((e) => e.name);
    expect(names.filter((n) => n.startsWith("contact.")).sort()).toEqual([
      "contact.subscribed",
      "contact.unsubscribed",
    ]);
    expect(names.filter((n) => !n.startsWith("contact.")).sort()).toEqual(["a", "b", "c", "d", "e"]);

    const statusEvents = (await eventsOf(q, id)).filter((e) => e.name.startsWith("contact."));
    for (const e of statusEvents) expect(e).toMatchObject({ contactId: id });
  });

  it("stores the status event with the tracked one in the same request, and the answer names the tracked one", async () => {
    const q = await createProject();
    const email = uniqueEmail();
    const first = await track(q.secretKey, { event: "a", email });
    const second = await track(q.secretKey, { event: "b", email, subscribed: false });
    const events = await eventsOf(q, first.body.data.contact);
    expect(events.find((e) => e.id === second.body.data.event)?.name).toBe("b");
    expect(events).toHaveLength(3);
  });
});

describe("POST /v1/track: concurrency and isolation", () => {
  it("makes exactly one contact and 20 events from 20 concurrent tracks of one new email", async () => {
    const q = await createProject();
    const email = uniqueEmail("race");
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        track(q.publicKey, { event: `e${i}`, email, data: { [`k${i}`]: i } }),
      ),
    );
    for (const a of answers) expect(a.status).toBe(200);
    const contactIds = new Set(answers.map((a) => a.body.data.contact));
    expect(contactIds.size).toBe(1);
    const eventIds = new Set(answers.map((a) => a.body.data.event));
    expect(eventIds.size).toBe(20);

    const contacts = await env.DB.prepare("SELECT id, data FROM contacts WHERE project_id = ?1")
      .bind(q.id)
      .all<{ id: string; data: string }>();
    expect(contacts.results).toHaveLength(1);
    expect(await eventCount(q.id)).toBe(20);
    expect(await eventCount(q.id, "name LIKE 'contact.%'")).toBe(0);
    // Every track's data was merged in.
    const data = JSON.parse(contacts.results[0]?.data ?? "{}");
    expect(Object.keys(data).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`).sort());
  });

  it("keeps projects apart: another project's key cannot see this project's contact", async () => {
    const a = await createProject();
    const b = await createProject();
    const email = uniqueEmail("iso");
    const inA = await track(a.publicKey, { event: "x", email, data: { owner: "a" } });
    const res = await call("GET", `/contacts/${inA.body.data.contact}`, { key: b.secretKey });
    expectEnvelope(res, 404, "CONTACT_NOT_FOUND");
    expect(JSON.stringify(res.body)).not.toContain(email);

    // The same email in B is a separate contact with its own data.
    const inB = await track(b.publicKey, { event: "y", email, subscribed: false });
    expect(inB.body.data.contact).not.toBe(inA.body.data.contact);
    const contactA = await contactOf(a, inA.body.data.contact);
    expect(contactA).toMatchObject({ subscribed: true, data: { owner: "a" } });
    expect((await contactOf(b, inB.body.data.contact)).data).toEqual({});
    expect((await eventsOf(a, inA.body.data.contact)).map((e) => e.name)).toEqual(["x"]);
  });
});

describe("D1 round trips of POST /v1/track", () => {
  /** Counts D1 round trips (a batch, or one statement run on its own) while `fn` runs. */
  async function roundTrips(fn: () => Promise<unknown>): Promise<number> {
    let n = 0;
    const wrap = (stmt: D1PreparedStatement): D1PreparedStatement =>
      new Proxy(stmt, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target);
          if (typeof v !== "function") return v;
          if (prop === "bind") return (...args: unknown[]) => wrap(v.apply(target, args));
          if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") {
            return (...args: unknown[]) => {
              n++;
              return v.apply(target, args);
            };
          }
          return v.bind(target);
        },
      });
    const prepare = env.DB.prepare.bind(env.DB);
    const batch = env.DB.batch.bind(env.DB);
    const spies = [
      vi.spyOn(env.DB, "prepare").mockImplementation((sql: string) => wrap(prepare(sql))),
      vi.spyOn(env.DB, "batch").mockImplementation((stmts: D1PreparedStatement[]) => {
        n++;
        // The statements inside a batch are not run one by one: unwrap them for D1.
        return batch(stmts.map((s) => (s as unknown as { valueOf(): D1PreparedStatement }).valueOf()));
      }),
    ];
    try {
      await fn();
    } finally {
      for (const s of spies) s.mockRestore();
    }
    return n;
  }

  it("is one batch when the key was seen in the last minute, two the first time", async () => {
    const q = await createProject();
    // On the shard engine the track is its contact's shard's commit (one email: one shard), which reads what
    // the event name starts the first time only (one round trip more), then commits in one batch.
    const shard = env.TEST_ENGINE === "shard" ? 1 : 0;
    const email = uniqueEmail();
    const track = (key: string) => () =>
      call("POST", "/v1/track", { key, body: { event: "nothing.listens", email } });
    expect(await roundTrips(track(q.publicKey))).toBe(2 + shard);
    expect(await roundTrips(track(q.publicKey))).toBe(1);
    // The secret key is another key: looked up once too.
    expect(await roundTrips(track(q.secretKey))).toBe(2);
    expect(await roundTrips(track(q.secretKey))).toBe(1);
  });

  it("stores the event without reading what dispatch needs (the dispatch reads it after the answer)", async () => {
    // In the batch, the read's subqueries cost about 15% of every plain request's CPU (in compiling the
    // statement: bench/notes.md, items 20 and 21); an event with something to dispatch is read by its
    // dispatch, after the answer.
    const q = await createProject();
    const batch = env.DB.batch.bind(env.DB);
    const sql: string[] = [];
    const spy = vi.spyOn(env.DB, "batch").mockImplementation((stmts: D1PreparedStatement[]) => {
      for (const st of stmts) sql.push((st as unknown as { statement: string }).statement);
      return batch(stmts);
    });
    try {
      const res = await call("POST", "/v1/track", {
        key: q.publicKey,
        body: { event: "nothing.listens", email: uniqueEmail() },
      });
      expect(res.status).toBe(200);
    } finally {
      spy.mockRestore();
    }
    expect(sql.join("\n")).toContain("INSERT INTO events");
    for (const read of ["workflow_steps", "workflow_transitions", "json_group_array"]) {
      expect(sql.join("\n")).not.toContain(read);
    }
  });
});
