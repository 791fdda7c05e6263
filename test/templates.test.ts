/** Templates: CRUD, lists, validation, Liquid parse errors, rendering bounds, and the in-use guard. */
import { beforeAll, describe, expect, it, vi } from "vitest";
import { checkTemplate, desugar, renderJsonStrings, renderTemplate } from "../src/domain/templates";
import { call, createProject, expectEnvelope, type TestProject } from "./helpers";
import { createWorkflow } from "./workflow-helpers";

let p: TestProject;
beforeAll(async () => {
  p = await createProject();
});

const base = {
  name: "Welcome",
  subject: "Hello {{ name ?? 'there' }}",
  body: "<p>Hi {{ email }}</p>",
  from: "team@example.com",
};

const create = (key: string, body: unknown) => call("POST", "/templates", { key, body });

function fieldsOf(res: { body: any }): string[] {
  return res.body.error.errors.map((e: { field: string }) => e.field);
}

describe("templates CRUD", () => {
  it("creates with defaults (type MARKETING), reads, patches, deletes", async () => {
    const res = await create(p.secretKey, base);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      name: "Welcome",
      subject: base.subject,
      body: base.body,
      from: "team@example.com",
      fromName: null,
      replyTo: null,
      type: "MARKETING",
    });
    expect(res.body.id).toMatch(/^tpl_/);
    const id = res.body.id as string;

    const got = await call("GET", `/templates/${id}`, { key: p.secretKey });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);

    const patched = await call("PATCH", `/templates/${id}`, {
      key: p.secretKey,
      body: { name: "Welcome 2", type: "TRANSACTIONAL", fromName: "Team", replyTo: "Reply@Example.com" },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({
      id,
      name: "Welcome 2",
      subject: base.subject,
      body: base.body,
      type: "TRANSACTIONAL",
      fromName: "Team",
      replyTo: "reply@example.com",
    });
    const again = await call("GET", `/templates/${id}`, { key: p.secretKey });
    expect(again.body).toMatchObject({ name: "Welcome 2", type: "TRANSACTIONAL", fromName: "Team" });

    // null clears an optional field
    const cleared = await call("PATCH", `/templates/${id}`, { key: p.secretKey, body: { fromName: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.fromName).toBeNull();
    expect(cleared.body.replyTo).toBe("reply@example.com");

    const del = await call("DELETE", `/templates/${id}`, { key: p.secretKey });
    expect(del.status).toBe(204);
    expectEnvelope(await call("GET", `/templates/${id}`, { key: p.secretKey }), 404, "TEMPLATE_NOT_FOUND");
    expectEnvelope(await call("DELETE", `/templates/${id}`, { key: p.secretKey }), 404, "TEMPLATE_NOT_FOUND");
  });

  it("keeps all given fields; the from address is trimmed and lower-cased", async () => {
    const res = await create(p.secretKey, {
      ...base,
      from: "  News@Example.COM ",
      fromName: "News",
      replyTo: "reply@example.com",
      type: "TRANSACTIONAL",
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      from: "news@example.com",
      fromName: "News",
      replyTo: "reply@example.com",
      type: "TRANSACTIONAL",
    });
  });

  it("lists newest first with a cursor", async () => {
    const q = await createProject();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await create(q.secretKey, { ...base, name: `T${i}` });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const first = await call("GET", "/templates?limit=2", { key: q.secretKey });
    expect(first.status).toBe(200);
    expect(first.body.data.map((t: { id: string }) => t.id)).toEqual([ids[4], ids[3]]);
    expect(first.body.hasMore).toBe(true);
    expect(typeof first.body.cursor).toBe("string");
    const second = await call("GET", `/templates?limit=2&cursor=${encodeURIComponent(first.body.cursor)}`, {
      key: q.secretKey,
    });
    expect(second.body.data.map((t: { id: string }) => t.id)).toEqual([ids[2], ids[1]]);
    expect(second.body.hasMore).toBe(true);
    const third = await call("GET", `/templates?limit=2&cursor=${encodeURIComponent(second.body.cursor)}`, {
      key: q.secretKey,
    });
    expect(third.body.data.map((t: { id: string }) => t.id)).toEqual([ids[0]]);
    expect(third.body.hasMore).toBe(false);
    expect(third.body.cursor).toBeNull();

    const all = await call("GET", "/templates", { key: q.secretKey });
    expect(all.body.data).toHaveLength(5);
    expectEnvelope(await call("GET", "/templates?limit=0", { key: q.secretKey }), 422, "VALIDATION_ERROR");
    expectEnvelope(await call("GET", "/templates?limit=101", { key: q.secretKey }), 422, "VALIDATION_ERROR");
    expectEnvelope(await call("GET", "/templates?cursor=%%%", { key: q.secretKey }), 422, "VALIDATION_ERROR");
  });

  it("another project's template is 404 on every route, and is not listed", async () => {
    const res = await create(p.secretKey, base);
    const other = await createProject();
    const id = res.body.id as string;
    expectEnvelope(
      await call("GET", `/templates/${id}`, { key: other.secretKey }),
      404,
      "TEMPLATE_NOT_FOUND",
    );
    expectEnvelope(
      await call("PATCH", `/templates/${id}`, { key: other.secretKey, body: { name: "x" } }),
      404,
      "TEMPLATE_NOT_FOUND",
    );
    expectEnvelope(
      await call("DELETE", `/templates/${id}`, { key: other.secretKey }),
      404,
      "TEMPLATE_NOT_FOUND",
    );
    const list = await call("GET", "/templates", { key: other.secretKey });
    expect(list.body.data).toEqual([]);
    // Untouched.
    const mine = await call("GET", `/templates/${id}`, { key: p.secretKey });
    expect(mine.body.name).toBe("Welcome");
  });

  it("needs the secret key", async () => {
    expectEnvelope(await call("GET", "/templates"), 401, "MISSING_AUTH");
    expectEnvelope(await call("GET", "/templates", { key: p.publicKey }), 403, "FORBIDDEN");
    expectEnvelope(await create(p.publicKey, base), 403, "FORBIDDEN");
  });
});

describe("templates: bad input → 422", () => {
  it.each([
    ["name missing", { subject: "s", body: "b", from: "a@example.com" }, "name"],
    ["subject missing", { name: "n", body: "b", from: "a@example.com" }, "subject"],
    ["body missing", { name: "n", subject: "s", from: "a@example.com" }, "body"],
    ["from missing", { name: "n", subject: "s", body: "b" }, "from"],
    ["from not an email", { ...base, from: "not-an-email" }, "from"],
    ["replyTo not an email", { ...base, replyTo: "nope" }, "replyTo"],
    ["type PROMO", { ...base, type: "PROMO" }, "type"],
    ["empty name", { ...base, name: "   " }, "name"],
    ["empty subject", { ...base, subject: "" }, "subject"],
    ["name not a string", { ...base, name: 5 }, "name"],
  ])("%s", async (_label, body, field) => {
    const res = await create(p.secretKey, body);
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(fieldsOf(res)).toContain(field);
  });

  it("unknown keys are refused", async () => {
    const res = await create(p.secretKey, { ...base, html: "<p>x</p>" });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0].code).toBe("unrecognized_keys");
  });

  it("PATCH: unknown keys, a bad type and an empty body are refused, and nothing changes", async () => {
    const t = await create(p.secretKey, base);
    for (const body of [{ html: "x" }, { type: "PROMO" }, {}, { from: "bad" }]) {
      const res = await call("PATCH", `/templates/${t.body.id}`, { key: p.secretKey, body });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
    }
    const got = await call("GET", `/templates/${t.body.id}`, { key: p.secretKey });
    expect(got.body).toEqual(t.body);
  });

  it("a body that is not JSON is 400", async () => {
    const res = await call("POST", "/templates", {
      key: p.secretKey,
      raw: "{nope",
      headers: { "content-type": "application/json" },
    });
    expectEnvelope(res, 400, "INVALID_REQUEST_BODY");
  });
});

describe("templates: Liquid that does not parse → 422 with line and column", () => {
  it.each([
    ["body", "<p>\n  {% if vip %}VIP</p>", 2, 3],
    ["body", "{{ a | nosuchfilter }}", 1, 1],
    ["subject", "Hi {{ unclosed", 1, 4],
    ["subject", "{% if %}x{% endif %}", 1, 6],
    ["body", "line 1\nline 2\n    {% for x in %}{% endfor %}", 3, 5],
  ])("%s %j", async (field, source, line, column) => {
    const res = await create(p.secretKey, { ...base, [field]: source });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    const err = res.body.error.errors.find((e: { field: string }) => e.field === field);
    expect(err).toMatchObject({ field, code: "invalid_template", line, column });
    expect(typeof err.message).toBe("string");
    expect(err.message.length).toBeGreaterThan(0);
  });

  it("both subject and body are reported", async () => {
    const res = await create(p.secretKey, { ...base, subject: "{{ x", body: "{% if a %}" });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(fieldsOf(res).sort()).toEqual(["body", "subject"]);
  });

  it("PATCH checks the new source too, and keeps the old", async () => {
    const t = await create(p.secretKey, base);
    const res = await call("PATCH", `/templates/${t.body.id}`, {
      key: p.secretKey,
      body: { body: "{% for x in list %}" },
    });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0]).toMatchObject({ field: "body", code: "invalid_template", line: 1 });
    expect((await call("GET", `/templates/${t.body.id}`, { key: p.secretKey })).body.body).toBe(base.body);
  });

  it("a template cannot include files: refused when saved", async () => {
    for (const body of ['{% include "x" %}', '{% render "/etc/passwd" %}', 'hi\n {% layout "base" %}']) {
      const res = await create(p.secretKey, { ...base, body });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors[0]).toMatchObject({ field: "body", code: "invalid_template" });
      expect(res.body.error.errors[0].line).toBeGreaterThanOrEqual(1);
    }
  });

  it("Plunk's ?? fallback saves", async () => {
    const res = await create(p.secretKey, { ...base, subject: 'Hi {{ name ?? "there" }}' });
    expect(res.status).toBe(201);
  });
});

describe("renderTemplate and desugar", () => {
  it('{{ name ?? "there" }} falls back to the literal, and uses the value when there is one', async () => {
    expect(await renderTemplate('Hi {{ name ?? "there" }}!', {})).toBe("Hi there!");
    expect(await renderTemplate('Hi {{ name ?? "there" }}!', { name: "Ada" })).toBe("Hi Ada!");
    expect(await renderTemplate("Hi {{name??'you'}}", { name: "" })).toBe("Hi you");
    expect(await renderTemplate("{{ data.plan ?? 'free' }}", { data: { plan: "pro" } })).toBe("pro");
    expect(await renderTemplate("{{ a ?? b }}", { b: "B" })).toBe("B");
  });

  it("desugar turns ?? into default and leaves everything else alone", () => {
    expect(desugar('{{ name ?? "there" }}')).toBe('{{ name | default: "there" }}');
    expect(desugar("{{ name }}")).toBe("{{ name }}");
    expect(desugar("a ?? b")).toBe("a ?? b");
    expect(desugar("{% if a %}{{ x ?? 'y' }}{% endif %}")).toBe(
      "{% if a %}{{ x | default: 'y' }}{% endif %}",
    );
  });

  it("a ?? inside a quoted string is text, not a fallback", async () => {
    expect(desugar("{{ 'What??' }}")).toBe("{{ 'What??' }}");
    expect(await renderTemplate("{{ 'What??' }}", {})).toBe("What??");
    expect(await renderTemplate('{{ a | append: "??" }}', { a: "A" })).toBe("A??");
  });

  it("whitespace control survives the fallback", async () => {
    expect(await renderTemplate('a\n  {{- name ?? "y" -}}  \nb', {})).toBe("ayb");
  });

  it("renders variables, filters and loops", async () => {
    expect(await renderTemplate("{{ email | upcase }}", { email: "a@b.c" })).toBe("A@B.C");
    expect(await renderTemplate("{% for i in (1..3) %}{{ i }}{% endfor %}", {})).toBe("123");
    expect(await renderTemplate("{{ missing }}", {})).toBe("");
  });

  it("does not read inherited properties", async () => {
    expect(await renderTemplate("{{ obj.constructor }}", { obj: {} })).toBe("");
  });

  it("renderJsonStrings renders strings at every depth and keeps other values", async () => {
    const out = await renderJsonStrings(
      { a: "{{ x }}", b: [1, "{{ x }}!", null, { c: "{{ x ?? 'z' }}" }], d: true },
      {
        x: "X",
      },
    );
    expect(out).toEqual({ a: "X", b: [1, "X!", null, { c: "X" }], d: true });
  });

  it("a template that loops without end is stopped by the render limit", async () => {
    const started = Date.now();
    await expect(
      renderTemplate("{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}", {}),
    ).rejects.toThrow(/limit/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a template that grows without end is stopped", async () => {
    const started = Date.now();
    await expect(
      renderTemplate(
        "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
        {},
      ),
    ).rejects.toThrow(/limit/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("include, render and layout are refused; nothing is read", async () => {
    for (const src of ['{% include "x" %}', '{% render "/etc/passwd" %}', '{% layout "x" %}hi']) {
      await expect(renderTemplate(src, {})).rejects.toThrow(/cannot include files/);
      expect(checkTemplate(src)).toMatchObject({
        message: expect.stringMatching(/cannot include files/),
        line: 1,
      });
    }
  });

  it("checkTemplate gives line and column, or null", () => {
    expect(checkTemplate("fine {{ x }}")).toBeNull();
    expect(checkTemplate("a\n{{ x | nosuchfilter }}")).toMatchObject({ line: 2, column: 1 });
  });
});

describe("DELETE of a template in use", () => {
  it("409 while a SEND_EMAIL step uses it; deletable once the step is gone", async () => {
    const q = await createProject();
    const t = await create(q.secretKey, base);
    const unused = await create(q.secretKey, { ...base, name: "Unused" });
    const wf = await createWorkflow(q.secretKey, {
      eventName: "signup",
      enabled: false,
      steps: { mail: { type: "SEND_EMAIL", config: { templateId: t.body.id } } },
      edges: [["trigger", "mail"]],
    });
    const res = await call("DELETE", `/templates/${t.body.id}`, { key: q.secretKey });
    expectEnvelope(res, 409, "CONFLICT");
    expect(res.body.error.message).toContain(wf.id);
    expect((await call("GET", `/templates/${t.body.id}`, { key: q.secretKey })).status).toBe(200);

    expect((await call("DELETE", `/templates/${unused.body.id}`, { key: q.secretKey })).status).toBe(204);

    const delStep = await call("DELETE", `/workflows/${wf.id}/steps/${wf.steps.mail}`, { key: q.secretKey });
    expect(delStep.status, JSON.stringify(delStep.body)).toBeLessThan(300);
    expect((await call("DELETE", `/templates/${t.body.id}`, { key: q.secretKey })).status).toBe(204);
  });
});

describe("templates: preview and test send", () => {
  it("renders a subject and body with a chosen contact's data (or an example), and refuses what does not parse", async () => {
    const p = await createProject();
    const made = await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: "ada@example.com", data: { firstName: "Ada", plan: "pro" } },
    });
    const body = {
      subject: "Hi {{ firstName ?? 'there' }}",
      body: "<p>{{ data.plan }} <a href='{{ unsubscribeUrl }}'>x</a></p>",
    };
    const withContact = await call("POST", "/templates/preview", {
      key: p.secretKey,
      body: { ...body, contactId: made.body.id },
    });
    expect(withContact.status, JSON.stringify(withContact.body)).toBe(200);
    expect(withContact.body.subject).toBe("Hi Ada");
    expect(withContact.body.html).toMatch(/^<p>pro <a href='http.+\/unsubscribe\/.+'>x<\/a><\/p>$/);
    const example = await call("POST", "/templates/preview", { key: p.secretKey, body });
    expect(example.body.subject).toBe("Hi there");
    const withEvent = await call("POST", "/templates/preview", {
      key: p.secretKey,
      body: { subject: "Order {{ event.order }}", body: "b", event: { order: 42 } },
    });
    expect(withEvent.body.subject).toBe("Order 42");
    const broken = await call("POST", "/templates/preview", {
      key: p.secretKey,
      body: { subject: "{{ x", body: "b" },
    });
    expect(broken.status).toBe(422);
    expect(broken.body.error.errors[0]).toMatchObject({ field: "subject", code: "invalid_template" });
    const other = await createProject();
    const stranger = await call("POST", "/templates/preview", {
      key: other.secretKey,
      body: { ...body, contactId: made.body.id },
    });
    expect(stranger.status).toBe(404);
    // Nothing stored.
    expect((await call("GET", "/emails", { key: p.secretKey })).body.data).toEqual([]);
  });

  it("sends a saved template once to an address", async () => {
    const p = await createProject();
    const t = await call("POST", "/templates", {
      key: p.secretKey,
      body: { name: "Hello", subject: "Hello {{ email }}", body: "<p>Hi</p>", from: "hi@example.com" },
    });
    let sent: any;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      sent = JSON.parse(await new Request(input as RequestInfo, init).text());
      return Response.json({ MessageId: "tpl-test-1" });
    });
    const res = await call("POST", `/templates/${t.body.id}/test`, {
      key: p.secretKey,
      body: { to: "me@example.com" },
    });
    expect(res.body).toEqual({
      to: "me@example.com",
      subject: "Hello someone@example.com",
      messageId: "tpl-test-1",
    });
    expect(sent.Destination.ToAddresses).toEqual(["me@example.com"]);
    expect(sent.FromEmailAddress).toBe("hi@example.com");
    const bad = await call("POST", `/templates/${t.body.id}/test`, {
      key: p.secretKey,
      body: { to: "nope" },
    });
    expect(bad.status).toBe(422);
    vi.restoreAllMocks();
  });
});
