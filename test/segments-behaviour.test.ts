/**
 * Segments that see behaviour: nested groups, contact ages, event counts in windows, email activity,
 * membership of other segments, the cron's recompute of time-moved membership, and static segments.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newId } from "../src/domain/ids";
import { type Facts, matches, type SegmentCondition } from "../src/domain/segments";
import { createLogger } from "../src/log";
import {
  type BackfillMessage,
  fireDueRecomputes,
  RECOMPUTE_EVERY_MS,
  refreshSegments,
} from "../src/segments";
import {
  call,
  captureQueue,
  consume,
  createProject,
  expectEnvelope,
  type TestProject,
  uniqueEmail,
} from "./helpers";

const log = createLogger({ test: "segments-behaviour" });
const DAY = 86_400_000;

afterEach(() => vi.restoreAllMocks());

async function segment(p: TestProject, name: string, body: Record<string, unknown>) {
  const res = await call("POST", "/segments", { key: p.secretKey, body: { name, ...body } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function ready(p: TestProject, id: string) {
  return vi.waitUntil(
    async () => {
      const s = await call("GET", `/segments/${id}`, { key: p.secretKey });
      return s.body.backfill === "READY" && s.body;
    },
    { timeout: 30_000, interval: 50 },
  );
}

const memberIds = async (segmentId: string) =>
  (
    await env.DB.prepare("SELECT contact_id FROM segment_members WHERE segment_id = ?1 ORDER BY contact_id")
      .bind(segmentId)
      .all<{ contact_id: string }>()
  ).results.map((r) => r.contact_id);

const segmentEvents = async (projectId: string, slug: string) =>
  (
    await env.DB.prepare(
      "SELECT contact_id, name FROM events WHERE project_id = ?1 AND name LIKE ?2 ORDER BY id",
    )
      .bind(projectId, `segment.${slug}.%`)
      .all<{ contact_id: string; name: string }>()
  ).results;

async function track(p: TestProject, email: string, event: string, data: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/track", { key: p.publicKey, body: { email, event, data } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.contact as string;
}

/** An event of the contact stored `ageMs` ago, as SES's notifications or an old track would have. */
async function pastEvent(p: TestProject, contactId: string, name: string, ageMs: number) {
  const at = Date.now() - ageMs;
  await env.DB.prepare(
    "INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at) VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?5)",
  )
    .bind(newId("evt", at), p.id, contactId, name, at)
    .run();
}

describe("conditions (pure)", () => {
  const contact = {
    id: "c1",
    email: "a@corp.test",
    subscribed: true,
    data: { plan: "vip", country: "NL" },
    createdAt: 0,
    updatedAt: 0,
  };
  const facts: Facts = { count: () => 0, isMember: () => false };
  const f = (field: string, value: unknown) => ({ field, operator: "equals" as const, value });

  it("a group holds when all its filters and its nested condition hold; logic joins the groups", () => {
    const c: SegmentCondition = {
      logic: "AND",
      groups: [
        {
          filters: [f("contact.data.plan", "vip")],
          conditions: {
            logic: "OR",
            groups: [
              { filters: [f("contact.data.country", "DE")] },
              { filters: [f("contact.data.country", "NL")] },
            ],
          },
        },
      ],
    };
    expect(matches(c, contact, facts, 0)).toBe(true);
    expect(matches(c, { ...contact, data: { plan: "vip", country: "FR" } }, facts, 0)).toBe(false);
    expect(
      matches(
        {
          logic: "OR",
          groups: [
            { filters: [f("contact.data.plan", "free")] },
            { filters: [f("contact.email", "a@corp.test")] },
          ],
        },
        contact,
        facts,
        0,
      ),
    ).toBe(true);
  });

  it("ages, counts in windows and other segments' members", () => {
    const now = 100 * DAY;
    const young = { ...contact, createdAt: now - 2 * DAY, updatedAt: now - 40 * DAY };
    const within = (field: string, operator: string, value: number) => ({
      logic: "AND" as const,
      groups: [{ filters: [{ field, operator, value, unit: "days" }] }],
    });
    expect(matches(within("contact.createdAt", "within", 7) as SegmentCondition, young, facts, now)).toBe(
      true,
    );
    expect(matches(within("contact.createdAt", "olderThan", 7) as SegmentCondition, young, facts, now)).toBe(
      false,
    );
    expect(matches(within("contact.updatedAt", "olderThan", 30) as SegmentCondition, young, facts, now)).toBe(
      true,
    );

    const counted: Facts = {
      count: (_c, key) => (key === `${now - 30 * DAY}:purchase` ? 2 : key === "0:email.open" ? 1 : 0),
      isMember: (s) => s === "seg_a",
    };
    const one = (filter: object): SegmentCondition =>
      ({ logic: "AND", groups: [{ filters: [filter] }] }) as SegmentCondition;
    const purchases = { event: "purchase", operator: "triggeredWithin", value: 30, unit: "days" };
    expect(matches(one({ ...purchases, count: 2 }), contact, counted, now)).toBe(true);
    expect(matches(one({ ...purchases, count: 3 }), contact, counted, now)).toBe(false);
    expect(
      matches(one({ ...purchases, operator: "notTriggeredWithin", count: 3 }), contact, counted, now),
    ).toBe(true);
    expect(matches(one({ email: "opened", operator: "triggered" }), contact, counted, now)).toBe(true);
    expect(matches(one({ email: "clicked", operator: "notTriggered" }), contact, counted, now)).toBe(true);
    expect(matches(one({ segment: "seg_a", operator: "in" }), contact, counted, now)).toBe(true);
    expect(matches(one({ segment: "seg_b", operator: "in" }), contact, counted, now)).toBe(false);
    expect(matches(one({ segment: "seg_b", operator: "notIn" }), contact, counted, now)).toBe(true);
  });
});

describe("segments API: behaviour conditions", () => {
  it("refuses bad conditions with 422, each naming what is wrong", async () => {
    const p = await createProject();
    const group = (filters: unknown[]) => ({ logic: "AND", groups: [{ filters }] });
    const nest = (depth: number): unknown =>
      depth === 0
        ? { logic: "AND", groups: [{ filters: [{ event: "x", operator: "triggered" }] }] }
        : { logic: "AND", groups: [{ filters: [], conditions: nest(depth - 1) }] };
    for (const condition of [
      { logic: "XOR", groups: [{ filters: [{ event: "x", operator: "triggered" }] }] },
      { logic: "AND", groups: [] },
      group([]),
      group([{ event: "buy", operator: "triggeredWithin" }]),
      group([{ event: "buy", operator: "triggered", value: 3, unit: "days" }]),
      group([{ event: "buy", operator: "triggeredWithin", value: 3, unit: "fortnights" }]),
      group([{ event: "buy", operator: "triggered", count: 0 }]),
      group([{ email: "read", operator: "triggered" }]),
      group([{ field: "contact.createdAt", operator: "within", value: 0, unit: "days" }]),
      group([{ field: "contact.createdAt", operator: "equals", value: 3 }]),
      group([{ field: "contact.updatedAt", operator: "olderThan", value: 4000, unit: "days" }]),
      group([{ segment: "seg_x", operator: "maybe" }]),
      nest(4),
    ]) {
      const res = await call("POST", "/segments", { key: p.secretKey, body: { name: "X", condition } });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
    }
    // Each error names the field of the form the filter meant.
    const fieldOf = async (filter: unknown) =>
      (
        await call("POST", "/segments", {
          key: p.secretKey,
          body: { name: "X", condition: group([filter]) },
        })
      ).body.error.errors.map((e: { field: string }) => e.field);
    expect(await fieldOf({ event: "buy", operator: "triggeredWithin" })).toEqual([
      "condition.groups.0.filters.0.value",
    ]);
    expect(await fieldOf({ email: "read", operator: "triggered" })).toEqual([
      "condition.groups.0.filters.0.email",
    ]);
    expect(await fieldOf({ segment: "seg_x", operator: "maybe" })).toEqual([
      "condition.groups.0.filters.0.operator",
    ]);
    // Three bad filters in a grouped condition are three errors at the filters, not the flat form's.
    const three = await call("POST", "/segments", {
      key: p.secretKey,
      body: {
        name: "X",
        condition: group([
          { event: "buy", operator: "triggeredWithin" },
          { email: "read", operator: "triggered" },
          { segment: "seg_x", operator: "maybe" },
        ]),
      },
    });
    expect(three.body.error.errors.map((e: { field: string }) => e.field)).toEqual([
      "condition.groups.0.filters.0.value",
      "condition.groups.0.filters.1.email",
      "condition.groups.0.filters.2.operator",
    ]);
    // Four deep is allowed.
    await segment(p, "Deep", { condition: nest(3) });
  });

  it("references: only the project's segments, never back to itself; a segment read by another is kept", async () => {
    const p = await createProject();
    const other = await createProject();
    const theirs = await segment(other, "Theirs", { type: "STATIC" });
    const unknown = await call("POST", "/segments", {
      key: p.secretKey,
      body: {
        name: "B",
        condition: { logic: "AND", groups: [{ filters: [{ segment: theirs.id, operator: "in" }] }] },
      },
    });
    expectEnvelope(unknown, 422, "VALIDATION_ERROR");
    expect(JSON.stringify(unknown.body)).toContain("unknown_segment");

    const a = await segment(p, "A", {
      condition: {
        match: "all",
        filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }],
      },
    });
    const b = await segment(p, "B", {
      condition: { logic: "AND", groups: [{ filters: [{ segment: a.id, operator: "in" }] }] },
    });
    const c = await segment(p, "C", {
      condition: { logic: "OR", groups: [{ filters: [{ segment: b.id, operator: "notIn" }] }] },
    });
    // A → C → B → A would be a cycle.
    const cycle = await call("PATCH", `/segments/${a.id}`, {
      key: p.secretKey,
      body: { condition: { logic: "AND", groups: [{ filters: [{ segment: c.id, operator: "in" }] }] } },
    });
    expectEnvelope(cycle, 422, "VALIDATION_ERROR");
    expect(JSON.stringify(cycle.body)).toContain("segment_cycle");
    const self = await call("PATCH", `/segments/${a.id}`, {
      key: p.secretKey,
      body: { condition: { logic: "AND", groups: [{ filters: [{ segment: a.id, operator: "in" }] }] } },
    });
    expect(JSON.stringify(self.body)).toContain("segment_cycle");

    const del = await call("DELETE", `/segments/${a.id}`, { key: p.secretKey });
    expectEnvelope(del, 409, "CONFLICT");
    expect(del.body.error.message).toContain(b.id);
    expect((await call("DELETE", `/segments/${c.id}`, { key: p.secretKey })).status).toBe(204);
    expect((await call("DELETE", `/segments/${b.id}`, { key: p.secretKey })).status).toBe(204);
    expect((await call("DELETE", `/segments/${a.id}`, { key: p.secretKey })).status).toBe(204);
  });
});

describe("membership that follows behaviour", () => {
  it("an event count in a window: enters at the second purchase, once, and leaves when the window passes", async () => {
    const p = await createProject();
    const s = await segment(p, "Repeat buyers", {
      condition: {
        logic: "AND",
        groups: [
          {
            filters: [{ event: "purchase", operator: "triggeredWithin", value: 30, unit: "days", count: 2 }],
          },
        ],
      },
    });
    expect(s.recomputeAt ?? null).toBeNull(); // not shown: an internal time
    await ready(p, s.id);
    const email = uniqueEmail();
    const contactId = await track(p, email, "purchase");
    expect(await memberIds(s.id)).toEqual([]);
    await track(p, email, "purchase");
    expect(await memberIds(s.id)).toEqual([contactId]);
    await track(p, email, "purchase");
    expect((await segmentEvents(p.id, "repeat-buyers")).map((e) => e.name)).toEqual([
      "segment.repeat-buyers.entry",
    ]);

    // The purchases age out of the window: the cron's recompute finds it and stores the exit.
    await env.DB.prepare(
      "UPDATE events SET created_at = created_at - ?2 WHERE project_id = ?1 AND name = 'purchase'",
    )
      .bind(p.id, 31 * DAY)
      .run();
    const queued = captureQueue(env.SEGMENTS_QUEUE as Queue<unknown>);
    const due = Date.now() + RECOMPUTE_EVERY_MS + 1;
    expect(await fireDueRecomputes(env, log, due)).toBeGreaterThanOrEqual(1);
    const m = queued.sent.find((x: BackfillMessage) => x.segmentId === s.id) as BackfillMessage;
    expect(m).toMatchObject({ kind: "segment-recompute", after: "", generation: 0 });
    // Due again only a period later.
    queued.sent.length = 0;
    await fireDueRecomputes(env, log, due);
    expect(queued.sent.filter((x: BackfillMessage) => x.segmentId === s.id)).toEqual([]);

    // The page delivered twice at once: one exit.
    vi.restoreAllMocks();
    await Promise.all([consume("segments", m), consume("segments", m)]);
    expect(await memberIds(s.id)).toEqual([]);
    expect((await segmentEvents(p.id, "repeat-buyers")).map((e) => e.name)).toEqual([
      "segment.repeat-buyers.entry",
      "segment.repeat-buyers.exit",
    ]);
  });

  it("never triggered: a member until the event, then an exit", async () => {
    const p = await createProject();
    const s = await segment(p, "Never bought", {
      condition: { logic: "AND", groups: [{ filters: [{ event: "purchase", operator: "notTriggered" }] }] },
    });
    await ready(p, s.id);
    const email = uniqueEmail();
    const contactId = await track(p, email, "signup");
    expect(await memberIds(s.id)).toEqual([contactId]);
    await track(p, email, "purchase");
    expect(await memberIds(s.id)).toEqual([]);
    expect((await segmentEvents(p.id, "never-bought")).map((e) => e.name)).toEqual([
      "segment.never-bought.entry",
      "segment.never-bought.exit",
    ]);
  });

  it("email activity and contact age, over the background fill of existing contacts", async () => {
    const p = await createProject();
    const opener = await track(p, uniqueEmail(), "signup");
    const old = await track(p, uniqueEmail(), "signup");
    const bounced = await track(p, uniqueEmail(), "signup");
    await pastEvent(p, opener, "email.open", 2 * DAY);
    await pastEvent(p, old, "email.open", 20 * DAY);
    await pastEvent(p, bounced, "email.open", DAY);
    await pastEvent(p, bounced, "email.bounce", DAY);
    await env.DB.prepare("UPDATE contacts SET created_at = ?3 WHERE project_id = ?1 AND id = ?2")
      .bind(p.id, old, Date.now() - 400 * DAY)
      .run();
    const s = await segment(p, "Engaged", {
      condition: {
        logic: "AND",
        groups: [
          {
            filters: [
              { email: "opened", operator: "triggeredWithin", value: 7, unit: "days" },
              { email: "bounced", operator: "notTriggered" },
            ],
          },
        ],
      },
    });
    const older = await segment(p, "Long-time", {
      condition: {
        logic: "AND",
        groups: [
          { filters: [{ field: "contact.createdAt", operator: "olderThan", value: 52, unit: "weeks" }] },
        ],
      },
    });
    await ready(p, s.id);
    await ready(p, older.id);
    expect(await memberIds(s.id)).toEqual([opener]);
    expect(await memberIds(older.id)).toEqual([old]);
    // The fill stores no events; a fresh open (as SES's notification path refreshes) enters at once.
    expect(await segmentEvents(p.id, "engaged")).toEqual([]);
    await pastEvent(p, old, "email.open", 0);
    await refreshSegments(env, log, p.id, [old]);
    expect(await memberIds(s.id)).toEqual([opener, old].sort());
    expect(await segmentEvents(p.id, "engaged")).toEqual([
      { contact_id: old, name: "segment.engaged.entry" },
    ]);
  });

  it("a segment of another segment's members follows it in the same refresh", async () => {
    const p = await createProject();
    const vip = await segment(p, "VIP", {
      condition: {
        match: "all",
        filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }],
      },
    });
    const nl = await segment(p, "VIP in NL", {
      condition: {
        logic: "AND",
        groups: [
          {
            filters: [
              { segment: vip.id, operator: "in" },
              { field: "contact.data.country", operator: "equals", value: "NL" },
            ],
          },
        ],
      },
    });
    await ready(p, vip.id);
    await ready(p, nl.id);
    const email = uniqueEmail();
    const id = await track(p, email, "profile", { country: "NL" });
    expect(await memberIds(nl.id)).toEqual([]);
    await track(p, email, "upgrade", { plan: "vip" });
    expect(await memberIds(vip.id)).toEqual([id]);
    expect(await memberIds(nl.id)).toEqual([id]);
    await track(p, email, "downgrade", { plan: "free" });
    expect(await memberIds(nl.id)).toEqual([]);
    expect((await segmentEvents(p.id, "vip-in-nl")).map((e) => e.name)).toEqual([
      "segment.vip-in-nl.entry",
      "segment.vip-in-nl.exit",
    ]);
  });
});

describe("live count", () => {
  it("counts a condition's matches over the contacts, with unknown references refused", async () => {
    const p = await createProject();
    const buyer = await track(p, uniqueEmail(), "purchase");
    await track(p, uniqueEmail(), "signup");
    await pastEvent(p, buyer, "purchase", 0);
    const condition = {
      logic: "AND",
      groups: [{ filters: [{ event: "purchase", operator: "triggered", count: 2 }] }],
    };
    const res = await call("POST", "/segments/count", { key: p.secretKey, body: { condition } });
    expect(res.body).toEqual({ count: 1, scanned: 2, complete: true });
    const none = await call("POST", "/segments/count", {
      key: p.secretKey,
      body: {
        condition: { ...condition, groups: [{ filters: [{ event: "refund", operator: "triggered" }] }] },
      },
    });
    expect(none.body).toEqual({ count: 0, scanned: 2, complete: true });
    expectEnvelope(
      await call("POST", "/segments/count", {
        key: p.secretKey,
        body: {
          condition: { logic: "AND", groups: [{ filters: [{ segment: "seg_nope", operator: "in" }] }] },
        },
      }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("POST", "/segments/count", { key: p.secretKey, body: {} }),
      422,
      "VALIDATION_ERROR",
    );
  });
});

describe("static segments", () => {
  it("members added and removed by email, each entry and exit once; a dynamic segment's are refused", async () => {
    const p = await createProject();
    const s = await segment(p, "Beta testers", { type: "STATIC" });
    expect(s).toMatchObject({ type: "STATIC", condition: null, backfill: "READY", memberCount: 0 });
    const a = uniqueEmail("a");
    const b = uniqueEmail("b");
    const aId = await track(p, a, "signup");
    const bId = await track(p, b, "signup");
    // A dynamic segment of the static one's members follows it.
    const reader = await segment(p, "Beta and subscribed", {
      condition: {
        logic: "AND",
        groups: [
          {
            filters: [
              { segment: s.id, operator: "in" },
              { field: "contact.subscribed", operator: "equals", value: true },
            ],
          },
        ],
      },
    });
    await ready(p, reader.id);

    const missing = uniqueEmail("missing");
    const add = await call("POST", `/segments/${s.id}/members`, {
      key: p.secretKey,
      body: { emails: [a.toUpperCase(), b, missing, a] },
    });
    expect(add.status, JSON.stringify(add.body)).toBe(200);
    expect(add.body).toEqual({ added: 2, unchanged: 0, notFound: [missing] });
    // The same request again (a retry), and twice at once: nothing more.
    const again = await Promise.all(
      [1, 2].map(() =>
        call("POST", `/segments/${s.id}/members`, { key: p.secretKey, body: { emails: [a, b] } }),
      ),
    );
    for (const r of again) expect(r.body).toEqual({ added: 0, unchanged: 2, notFound: [] });
    expect(await memberIds(s.id)).toEqual([aId, bId].sort());
    expect(await memberIds(reader.id)).toEqual([aId, bId].sort());

    const rm = await call("POST", `/segments/${s.id}/members/remove`, {
      key: p.secretKey,
      body: { emails: [a] },
    });
    expect(rm.body).toEqual({ removed: 1, unchanged: 0, notFound: [] });
    expect(await memberIds(s.id)).toEqual([bId]);
    expect(await memberIds(reader.id)).toEqual([bId]);
    const names = (await segmentEvents(p.id, "beta-testers")).map((e) => `${e.contact_id} ${e.name}`);
    expect(names.sort()).toEqual(
      [
        `${aId} segment.beta-testers.entry`,
        `${bId} segment.beta-testers.entry`,
        `${aId} segment.beta-testers.exit`,
      ].sort(),
    );
    expect((await segmentEvents(p.id, "beta-and-subscribed")).length).toBe(3);

    // Bad inputs.
    for (const body of [{ emails: [] }, { emails: ["not an email"] }, { emails: Array(1001).fill(a) }, {}]) {
      expectEnvelope(
        await call("POST", `/segments/${s.id}/members`, { key: p.secretKey, body }),
        422,
        "VALIDATION_ERROR",
      );
    }
    expectEnvelope(
      await call("POST", `/segments/${reader.id}/members`, { key: p.secretKey, body: { emails: [a] } }),
      409,
      "CONFLICT",
    );
    expectEnvelope(
      await call("PATCH", `/segments/${s.id}`, {
        key: p.secretKey,
        body: { condition: { match: "all", filters: [{ field: "contact.email", operator: "exists" }] } },
      }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("POST", "/segments", {
        key: p.secretKey,
        body: {
          name: "S2",
          type: "STATIC",
          condition: { match: "all", filters: [{ field: "contact.email", operator: "exists" }] },
        },
      }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("POST", "/segments", { key: p.secretKey, body: { name: "D2" } }),
      422,
      "VALIDATION_ERROR",
    );
    const other = await createProject();
    expectEnvelope(
      await call("POST", `/segments/${s.id}/members`, { key: other.secretKey, body: { emails: [a] } }),
      404,
      "SEGMENT_NOT_FOUND",
    );
    // A static segment is never recomputed nor refilled: a contact change leaves its members as they are.
    await track(p, b, "upgrade", { plan: "vip" });
    expect(await memberIds(s.id)).toEqual([bId]);
  });
});
