// Discovery for editors and CLIs: GET /workflows/fields and GET /events/names, from bounded samples of the
// project's newest contacts and events.
import { describe, expect, it } from "vitest";
import { CONTACTS_SAMPLED, EVENTS_SAMPLED } from "../src/db/discovery";
import { call, createProject, expectEnvelope, uniqueEmail } from "./helpers";
import { createWorkflow, track } from "./workflow-helpers";

describe("GET /workflows/fields", () => {
  it("gives the contact fields seen with their types, and each trigger event's data fields", async () => {
    const p = await createProject();
    const other = await createProject();
    await createWorkflow(p.secretKey, { eventName: "signup", enabled: false });
    await createWorkflow(p.secretKey, { eventName: "order.placed", enabled: false });
    for (const [plan, seats] of [
      ["pro", 3],
      ["free", "none"],
    ] as const) {
      const email = uniqueEmail();
      await call("POST", "/contacts", {
        key: p.secretKey,
        body: { email, data: { plan, seats, company: { name: "Acme", tags: ["a"] } } },
      });
      await track(p.publicKey, "signup", email, { plan, source: { utm: "ads" } });
    }
    await track(p.publicKey, "order.placed", uniqueEmail(), { total: 12.5, paid: true });
    await track(p.publicKey, "page.viewed", uniqueEmail(), { path: "/" });
    // Another project's data is not seen.
    await call("POST", "/contacts", {
      key: other.secretKey,
      body: { email: uniqueEmail(), data: { secret: 1 } },
    });

    const res = await call("GET", "/workflows/fields", { key: p.secretKey });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const contact = Object.fromEntries(res.body.contact.map((f: any) => [f.field, f]));
    expect(contact["contact.email"]).toEqual({ field: "contact.email", types: ["string"], seen: null });
    expect(contact["contact.subscribed"].types).toEqual(["boolean"]);
    expect(contact["contact.data.plan"]).toEqual({ field: "contact.data.plan", types: ["string"], seen: 2 });
    expect(contact["contact.data.seats"].types.sort()).toEqual(["number", "string"]);
    expect(contact["contact.data.company.name"].seen).toBe(2);
    expect(Object.keys(contact).some((f) => f.includes("tags") || f.includes("secret"))).toBe(false);
    expect(Object.keys(res.body.events).sort()).toEqual(["order.placed", "signup"]);
    expect(res.body.events.signup.map((f: any) => f.field).sort()).toEqual([
      "event.plan",
      "event.source.utm",
    ]);
    expect(res.body.events["order.placed"]).toEqual(
      expect.arrayContaining([
        { field: "event.total", types: ["number"], seen: 1 },
        { field: "event.paid", types: ["boolean"], seen: 1 },
      ]),
    );
    expect(res.body.sampled).toEqual({ contacts: CONTACTS_SAMPLED, events: EVENTS_SAMPLED });

    // More names on request (a WAIT_FOR_EVENT's); too many is refused.
    const more = await call("GET", "/workflows/fields?event=page.viewed,nothing.yet", { key: p.secretKey });
    expect(more.body.events["page.viewed"]).toEqual([{ field: "event.path", types: ["string"], seen: 1 }]);
    expect(more.body.events["nothing.yet"]).toEqual([]);
    const tooMany = Array.from({ length: 21 }, (_, i) => `e${i}`).join(",");
    expectEnvelope(
      await call("GET", `/workflows/fields?event=${tooMany}`, { key: p.secretKey }),
      422,
      "VALIDATION_ERROR",
    );
  });
});

describe("GET /events/names", () => {
  it("gives the names among the newest events, most frequent first, with counts and when last seen", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    for (let i = 0; i < 3; i++) await track(p.publicKey, "page.viewed", email);
    await track(p.publicKey, "signup", email);
    const res = await call("GET", "/events/names", { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body.data.map((n: any) => [n.name, n.count])).toEqual([
      ["page.viewed", 3],
      ["signup", 1],
    ]);
    expect(Date.parse(res.body.data[0].lastSeen)).toBeGreaterThan(0);
    expect(res.body.sampled).toBe(4);
    expect(Date.parse(res.body.since)).toBeLessThanOrEqual(Date.parse(res.body.data[0].lastSeen));
    const one = await call("GET", "/events/names?limit=1", { key: p.secretKey });
    expect(one.body.data).toHaveLength(1);
    expectEnvelope(await call("GET", "/events/names?limit=0", { key: p.secretKey }), 422, "VALIDATION_ERROR");
    const empty = await call("GET", "/events/names", { key: (await createProject()).secretKey });
    expect(empty.body).toEqual({ data: [], sampled: 0, since: null });
  });
});
