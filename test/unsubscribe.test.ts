/** Signed unsubscribe / subscribe links: the page, the one-click POST, and forged tokens. */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { tokenTarget, unsubscribeToken, verifyUnsubscribeToken } from "../src/domain/unsubscribe";
import { type Call, call, createProject, type TestProject, uniqueEmail } from "./helpers";

let p: TestProject;
let secret: string;
beforeAll(async () => {
  p = await createProject();
  secret = await signingSecret(p.id);
});

async function signingSecret(projectId: string): Promise<string> {
  const row = await env.DB.prepare("SELECT signing_secret FROM projects WHERE id = ?1")
    .bind(projectId)
    .first<{ signing_secret: string | null }>();
  expect(row?.signing_secret).toBeTruthy();
  return row?.signing_secret as string;
}

async function newContact(subscribed = true, project = p) {
  const email = uniqueEmail("unsub");
  const res = await call("POST", "/contacts", { key: project.secretKey, body: { email, subscribed } });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, email };
}

async function contact(id: string, project = p) {
  const res = await call("GET", `/contacts/${id}`, { key: project.secretKey });
  expect(res.status).toBe(200);
  return res.body;
}

async function eventNames(id: string, project = p): Promise<string[]> {
  const res = await call("GET", `/contacts/${id}/events?limit=100`, { key: project.secretKey });
  return res.body.data.map((e: { name: string }) => e.name);
}

/** A bad or altered link: a page that says so, for the person who followed it (not the API's JSON). */
function expectInvalidLinkPage(res: Call) {
  expect(res.status).toBe(404);
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  expect(res.body).toContain("<!doctype html>");
  expect(res.body).toContain("This link is not valid");
  expect(res.body).not.toContain("<form");
}

/** A raw request, for HTML answers. */
async function raw(method: string, path: string) {
  const res = await call(method, path);
  return res;
}

describe("unsubscribe links", () => {
  it("GET shows an HTML page with a form, and changes nothing", async () => {
    const c = await newContact();
    const token = await unsubscribeToken(secret, p.id, c.id);
    const res = await raw("GET", `/unsubscribe/${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.body).toContain("<!doctype html>");
    expect(res.body).toContain(c.email);
    expect(res.body).toContain(`<form method="post" action="/unsubscribe/${token}">`);
    expect((await contact(c.id)).subscribed).toBe(true);
    expect(await eventNames(c.id)).not.toContain("contact.unsubscribed");
  });

  it("a link made before tokens named their project (contact id and signature only) still works", async () => {
    const c = await newContact();
    const token = await unsubscribeToken(secret, p.id, c.id);
    const legacy = token.replace(`.${p.id}.`, ".");
    expect(legacy.split(".")).toHaveLength(2);
    const res = await raw("POST", `/unsubscribe/${legacy}`);
    expect(res.status).toBe(200);
    expect((await contact(c.id)).subscribed).toBe(false);
    // Another project in the token: no such contact there.
    const other = await createProject();
    expectInvalidLinkPage(await call("POST", `/subscribe/${token.replace(p.id, other.id)}`));
    expect((await contact(c.id)).subscribed).toBe(false);
  });

  it("POST unsubscribes and stores one contact.unsubscribed event; a repeat stores no second", async () => {
    const c = await newContact();
    const token = await unsubscribeToken(secret, p.id, c.id);
    const res = await raw("POST", `/unsubscribe/${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect((await contact(c.id)).subscribed).toBe(false);
    expect((await eventNames(c.id)).filter((n) => n === "contact.unsubscribed")).toHaveLength(1);

    // The answer offers to subscribe again.
    expect(res.body).toContain(`<form method="post" action="/subscribe/${token}">`);
    expect(res.body).toContain("Subscribe again");

    expect((await raw("POST", `/unsubscribe/${token}`)).status).toBe(200);
    expect((await eventNames(c.id)).filter((n) => n === "contact.unsubscribed")).toHaveLength(1);

    // The page now offers to subscribe again.
    const page = await raw("GET", `/unsubscribe/${token}`);
    expect(page.body).toContain(`action="/subscribe/${token}"`);
  });

  it("one-click POST with the List-Unsubscribe-Post form body works", async () => {
    const c = await newContact();
    const token = await unsubscribeToken(secret, p.id, c.id);
    const res = await call("POST", `/unsubscribe/${token}`, {
      raw: "List-Unsubscribe=One-Click",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(200);
    expect((await contact(c.id)).subscribed).toBe(false);
  });

  it("POST /subscribe/:token subscribes again with a contact.subscribed event; GET shows a page", async () => {
    const c = await newContact(false);
    const token = await unsubscribeToken(secret, p.id, c.id);
    const page = await raw("GET", `/subscribe/${token}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`action="/subscribe/${token}"`);
    expect((await contact(c.id)).subscribed).toBe(false);

    const res = await raw("POST", `/subscribe/${token}`);
    expect(res.status).toBe(200);
    expect((await contact(c.id)).subscribed).toBe(true);
    expect((await eventNames(c.id)).filter((n) => n === "contact.subscribed")).toHaveLength(1);
  });

  it("unsubscribe then subscribe round-trips", async () => {
    const c = await newContact();
    const token = await unsubscribeToken(secret, p.id, c.id);
    await raw("POST", `/unsubscribe/${token}`);
    await raw("POST", `/subscribe/${token}`);
    expect((await contact(c.id)).subscribed).toBe(true);
    const names = await eventNames(c.id);
    expect(names).toContain("contact.unsubscribed");
    expect(names).toContain("contact.subscribed");
  });
});

describe("bad tokens → 404 with the error envelope, nothing changes", () => {
  const flip = (ch: string) => (ch === "A" ? "B" : "A");

  it.each(["GET", "POST"])(
    "%s /unsubscribe with forged, altered, swapped and garbage tokens",
    async (method) => {
      const c = await newContact();
      const other = await newContact();
      const token = await unsubscribeToken(secret, p.id, c.id);
      const sig = token.slice(token.indexOf(".") + 1);
      const otherProject = await createProject();
      const bad = [
        // signed with another secret
        await unsubscribeToken("not-the-secret", p.id, c.id),
        // signed with another project's secret
        await unsubscribeToken(await signingSecret(otherProject.id), p.id, c.id),
        // one character of the signature altered
        `${c.id}.${flip(sig[0] as string)}${sig.slice(1)}`,
        `${c.id}.${sig.slice(0, -1)}${flip(sig.at(-1) as string)}`,
        // another contact's id with this signature
        `${other.id}.${sig}`,
        // a truncated signature, no signature, garbage
        `${c.id}.${sig.slice(0, 20)}`,
        `${c.id}.`,
        c.id,
        "garbage",
        "ctc_nope.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        `${token}x`,
        encodeURIComponent(`${token} `),
      ];
      for (const t of bad) {
        const res = await call(method, `/unsubscribe/${t}`);
        expectInvalidLinkPage(res);
      }
      expect((await contact(c.id)).subscribed).toBe(true);
      expect((await contact(other.id)).subscribed).toBe(true);
      expect(await eventNames(c.id)).not.toContain("contact.unsubscribed");
      expect(await eventNames(other.id)).not.toContain("contact.unsubscribed");
    },
  );

  it("POST /subscribe with another contact's id and this signature is refused", async () => {
    const c = await newContact(false);
    const other = await newContact(false);
    const token = await unsubscribeToken(secret, p.id, c.id);
    const sig = token.slice(token.indexOf(".") + 1);
    expectInvalidLinkPage(await call("POST", `/subscribe/${other.id}.${sig}`));
    expectInvalidLinkPage(await call("POST", "/subscribe/garbage"));
    expectInvalidLinkPage(await call("GET", "/subscribe/garbage"));
    expect((await contact(other.id)).subscribed).toBe(false);
    expect(await eventNames(other.id)).not.toContain("contact.subscribed");
  });

  it("a token for a deleted contact is 404", async () => {
    const c = await newContact();
    const token = await unsubscribeToken(secret, p.id, c.id);
    expect((await call("DELETE", `/contacts/${c.id}`, { key: p.secretKey })).status).toBeLessThan(300);
    expectInvalidLinkPage(await call("POST", `/unsubscribe/${token}`));
  });
});

describe("token functions", () => {
  it("a token names its contact and verifies only under its secret", async () => {
    const token = await unsubscribeToken("s3cret", "prj_p1", "ctc_abc123");
    expect(token.startsWith("ctc_abc123.prj_p1.")).toBe(true);
    expect(tokenTarget(token)).toEqual({ contactId: "ctc_abc123", projectId: "prj_p1" });
    expect(await verifyUnsubscribeToken("s3cret", token)).toBe(true);
    expect(await verifyUnsubscribeToken("other", token)).toBe(false);
    expect(await verifyUnsubscribeToken("s3cret", token.replace("ctc_abc123", "ctc_abc124"))).toBe(false);
    // Naming another project: the lookup finds no such contact there (it is not signed, nor needed to be).
    expect(tokenTarget(token.replace("prj_p1", "prj_p2"))).toEqual({
      contactId: "ctc_abc123",
      projectId: "prj_p2",
    });
    expect(tokenTarget("nope")).toBeNull();
    expect(await verifyUnsubscribeToken("s3cret", "nope")).toBe(false);
  });
});
