import { beforeAll, describe, expect, it } from "vitest";
import { call, createProject, type TestProject, uniqueEmail } from "./helpers";

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
