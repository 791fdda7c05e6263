import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { matches, noFacts, slugify } from "../src/domain/segments";
import { call, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";

const vip = { match: "all", filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }] };

async function segment(p: TestProject, name: string, condition: unknown = vip) {
  const res = await call("POST", "/segments", { key: p.secretKey, body: { name, condition } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Waits for the background fill to finish. */
async function ready(p: TestProject, id: string) {
  return vi.waitUntil(
    async () => {
      const s = await call("GET", `/segments/${id}`, { key: p.secretKey });
      return s.body.backfill === "READY" && s.body;
    },
    { timeout: 60_000, interval: 100 },
  );
}

const eventNames = async (p: TestProject, contactId: string) =>
  ((await call("GET", `/contacts/${contactId}/events?limit=100`, { key: p.secretKey })).body.data as any[])
    .map((e) => e.name)
    .reverse();

describe("segment rules", () => {
  it("slugifies names as Plunk does", () => {
    expect(slugify("VIP Users")).toBe("vip-users");
    expect(slugify("  Café  Owners!! ")).toBe("cafe-owners");
  });

  it("matches all or any of the filters over contact fields", () => {
    const contact = {
      id: "ctc_1",
      email: "a@corp.com",
      subscribed: true,
      data: { plan: "vip", seats: 12 },
      createdAt: 0,
      updatedAt: 0,
    };
    const all = {
      match: "all" as const,
      filters: [
        { field: "contact.data.plan", operator: "equals" as const, value: "vip" },
        { field: "contact.data.seats", operator: "greaterThan" as const, value: 20 },
      ],
    };
    expect(matches(all, contact, noFacts, 0)).toBe(false);
    expect(matches({ ...all, match: "any" }, contact, noFacts, 0)).toBe(true);
    expect(
      matches(
        { match: "all", filters: [{ field: "contact.email", operator: "contains", value: "@corp" }] },
        contact,
        noFacts,
        0,
      ),
    ).toBe(true);
  });
});

describe("segments API", () => {
  it("creates, lists, gets, patches and deletes; the slug is unique per project", async () => {
    const p = await createProject();
    const s = await segment(p, "VIP Users");
    expect(s).toMatchObject({ name: "VIP Users", slug: "vip-users", memberCount: 0, condition: vip });
    expect(
      (await call("POST", "/segments", { key: p.secretKey, body: { name: "vip users", condition: vip } }))
        .status,
    ).toBe(409);
    const list = await call("GET", "/segments", { key: p.secretKey });
    expect(list.body.data.map((x: any) => x.id)).toEqual([s.id]);
    const patched = await call("PATCH", `/segments/${s.id}`, {
      key: p.secretKey,
      body: { description: "best" },
    });
    expect(patched.body.description).toBe("best");
    expect((await call("DELETE", `/segments/${s.id}`, { key: p.secretKey })).status).toBe(204);
    expect((await call("GET", `/segments/${s.id}`, { key: p.secretKey })).status).toBe(404);
  });

  it("refuses bad conditions with 422 and another project's segment with 404", async () => {
    const p = await createProject();
    for (const condition of [
      { match: "most", filters: vip.filters },
      { match: "all", filters: [] },
      { match: "all", filters: [{ field: "event.plan", operator: "equals", value: 1 }] },
      { match: "all", filters: [{ field: "contact.data.plan", operator: "like", value: 1 }] },
      { match: "all", filters: [{ field: "contact.data.plan", operator: "equals" }] },
    ]) {
      expectEnvelope(
        await call("POST", "/segments", { key: p.secretKey, body: { name: "X", condition } }),
        422,
        "VALIDATION_ERROR",
      );
    }
    expectEnvelope(
      await call("POST", "/segments", { key: p.secretKey, body: { name: "!!!", condition: vip } }),
      422,
      "VALIDATION_ERROR",
    );
    const s = await segment(p, "Mine");
    const other = await createProject();
    expectEnvelope(
      await call("GET", `/segments/${s.id}`, { key: other.secretKey }),
      404,
      "SEGMENT_NOT_FOUND",
    );
    expectEnvelope(
      await call("GET", `/segments/${s.id}/contacts`, { key: other.secretKey }),
      404,
      "SEGMENT_NOT_FOUND",
    );
  });
});

describe("membership on every contact change", () => {
  it("enters and exits on track, with segment.<slug>.entry/.exit carrying segmentId and segmentName", async () => {
    const p = await createProject();
    const s = await segment(p, "VIP Users");
    await ready(p, s.id);
    const email = uniqueEmail();
    const t = await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "upgrade", email, data: { plan: "vip" } },
    });
    const contactId = t.body.data.contact;
    expect((await call("GET", `/segments/${s.id}`, { key: p.secretKey })).body.memberCount).toBe(1);
    const members = await call("GET", `/segments/${s.id}/contacts`, { key: p.secretKey });
    expect(members.body.data.map((c: any) => c.email)).toEqual([email]);
    await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "upgrade", email, data: { plan: "vip", seats: 3 } },
    });
    await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "downgrade", email, data: { plan: "free" } },
    });
    expect((await call("GET", `/segments/${s.id}`, { key: p.secretKey })).body.memberCount).toBe(0);
    expect(await eventNames(p, contactId)).toEqual([
      "upgrade",
      "segment.vip-users.entry",
      "upgrade",
      "downgrade",
      "segment.vip-users.exit",
    ]);
    const evs = (await call("GET", `/contacts/${contactId}/events?limit=100`, { key: p.secretKey })).body
      .data as any[];
    expect(evs.find((e) => e.name === "segment.vip-users.entry").data).toEqual({
      segmentId: s.id,
      segmentName: "VIP Users",
    });
  });

  it("enters on a contact update through the API", async () => {
    const p = await createProject();
    const s = await segment(p, "Subscribed corp", {
      match: "all",
      filters: [
        { field: "contact.email", operator: "contains", value: "@corp.test" },
        { field: "contact.subscribed", operator: "equals", value: true },
      ],
    });
    await ready(p, s.id);
    const c = await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: `x${Date.now()}@corp.test`, subscribed: false },
    });
    expect((await call("GET", `/segments/${s.id}`, { key: p.secretKey })).body.memberCount).toBe(0);
    await call("PATCH", `/contacts/${c.body.id}`, { key: p.secretKey, body: { subscribed: true } });
    expect((await call("GET", `/segments/${s.id}`, { key: p.secretKey })).body.memberCount).toBe(1);
    expect(await eventNames(p, c.body.id)).toContain("segment.subscribed-corp.entry");
  });

  it("enters on an UPDATE_CONTACT step, and the entry event triggers another workflow", async () => {
    const p = await createProject();
    const sk = p.secretKey;
    const s = await segment(p, "VIP");
    await ready(p, s.id);
    const wf = await call("POST", "/workflows", {
      key: sk,
      body: { name: "Promote", eventName: "promote", enabled: true },
    });
    const up = await call("POST", `/workflows/${wf.body.id}/steps`, {
      key: sk,
      body: { type: "UPDATE_CONTACT", name: "VIP", config: { data: { plan: "vip" } } },
    });
    await call("POST", `/workflows/${wf.body.id}/transitions`, {
      key: sk,
      body: { fromStepId: wf.body.steps[0].id, toStepId: up.body.id },
    });
    const welcome = await call("POST", "/workflows", {
      key: sk,
      body: { name: "Welcome VIP", eventName: "segment.vip.entry", enabled: true },
    });
    const t = await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "promote", email: uniqueEmail() },
    });
    expect((await call("GET", `/segments/${s.id}`, { key: sk })).body.memberCount).toBe(1);
    const runs = await call("GET", `/workflows/${welcome.body.id}/executions`, { key: sk });
    expect(runs.body.data).toHaveLength(1);
    expect(runs.body.data[0]).toMatchObject({ contactId: t.body.data.contact, status: "COMPLETED" });
  });

  it("two racing refreshes of one change store one entry event", async () => {
    const p = await createProject();
    const s = await segment(p, "Racers");
    await ready(p, s.id);
    const email = uniqueEmail();
    await Promise.all(
      Array.from({ length: 10 }, () =>
        call("POST", "/v1/track", {
          key: p.publicKey,
          body: { event: "race", email, data: { plan: "vip" } },
        }),
      ),
    );
    const list = await call("GET", `/contacts?search=${encodeURIComponent(email)}`, { key: p.secretKey });
    const names = await eventNames(p, list.body.data[0].id);
    expect(names.filter((n) => n === "segment.racers.entry")).toHaveLength(1);
  });
});

describe("background fill", () => {
  it("fills a new segment over 10,000 contacts without entry events, a page at a time", async () => {
    const p = await createProject();
    const now = Date.now();
    // 10,000 contacts, every third one a VIP, written straight to D1 in chunks.
    for (let chunk = 0; chunk < 10; chunk++) {
      const rows = Array.from({ length: 1000 }, (_, i) => {
        const n = chunk * 1000 + i;
        return {
          id: `ctc_bf${String(n).padStart(6, "0")}`,
          email: `bf${n}@example.com`,
          data: JSON.stringify({ plan: n % 3 === 0 ? "vip" : "free" }),
        };
      });
      await env.DB.prepare(
        `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
         SELECT json_extract(value, '$.id'), ?1, json_extract(value, '$.email'), 1, json_extract(value, '$.data'), ?2, ?2
         FROM json_each(?3)`,
      )
        .bind(p.id, now, JSON.stringify(rows))
        .run();
    }
    const s = await segment(p, "Big VIP");
    const done = await ready(p, s.id);
    expect(done.memberCount).toBe(3334);
    const entries = await env.DB.prepare(
      "SELECT count(*) AS n FROM events WHERE project_id = ?1 AND name LIKE 'segment.%'",
    )
      .bind(p.id)
      .first<{ n: number }>();
    expect(entries?.n).toBe(0);
    // A new condition refills it, again without events.
    await call("PATCH", `/segments/${s.id}`, {
      key: p.secretKey,
      body: {
        condition: {
          match: "all",
          filters: [{ field: "contact.data.plan", operator: "equals", value: "free" }],
        },
      },
    });
    expect((await ready(p, s.id)).memberCount).toBe(6666);
  });
});
