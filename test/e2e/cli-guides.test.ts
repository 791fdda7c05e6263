// The CLI commands the guides use, run as a child process against wrangler dev (with the local SES):
// templates, contacts, a contact's events, names and ISO times in the execution and delivery views, the
// notice for a disabled workflow on apply, the development SES simulator, and finding the development
// project's key by itself. Every bad input too: exit 2 for a bad command line, 1 for a failure.
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalSes, startLocalSes } from "./local-servers";
import { sharedStack } from "./shared-stack";
import { freePort, type Stack } from "./stack";

const root = path.resolve(import.meta.dirname, "../..");
const node = path.join(root, "node_modules", ".bin", "node");
const entry = path.join(root, "cli", "index.ts");

let stack: Stack;
let ses: LocalSes;
let key: string;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node cli/index.ts …` with PLUNK_EDGE_URL and PLUNK_EDGE_KEY set, never the repo's own dev-project.json. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith("PLUNK_EDGE_")) delete base[k];
  const full: Record<string, string | undefined> = {
    ...base,
    PLUNK_EDGE_URL: stack.base,
    PLUNK_EDGE_KEY: key,
    PLUNK_EDGE_DEV_PROJECT: path.join(dir, "no-dev-project.json"),
    ...env,
  };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  return new Promise((resolve) => {
    execFile(node, [entry, ...args], { cwd: root, env: full, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const oneLine = (run: Run) => run.stderr.split("\n")[0] ?? "";

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

async function until<T>(what: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 300));
  }
}

const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/;

beforeAll(async () => {
  ses = await startLocalSes();
  // The project's shared stack (shared-setup.ts), whose PUBLIC_URL, where the simulator posts its SNS
  // notifications, is the worker itself (its own /webhooks/sns).
  stack = await sharedStack({ SES_ENDPOINT: ses.url, RETRY_DELAY_SCALE: "0" });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plunk-edge-cli-guides-"));
  const made = await stack.admin("POST", "/admin/projects", { name: "CLI guides" });
  key = made.body.secretKey;
});

afterAll(async () => {
  await stack?.stop();
  await ses?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("templates", () => {
  let id: string;

  it("creates one from YAML with --body-file, lists it and gets it", async () => {
    const file = write(
      "welcome.yaml",
      "name: Welcome\nsubject: 'Welcome, {{ data.name }}'\nfrom: hello@example.com\ntype: transactional\n",
    );
    const html = write("welcome.html", "<h1>Hi {{ data.name }}</h1>\n<p>Welcome.</p>\n");
    const made = await cli(["templates", "create", file, "--body-file", html]);
    expect(made.code, made.stderr).toBe(0);
    id = /^id\s+(tpl_\S+)$/m.exec(made.stdout)?.[1] as string;
    expect(id).toBeDefined();
    expect(made.stdout).toMatch(/^type\s+TRANSACTIONAL$/m);
    expect(made.stdout).toMatch(new RegExp(`^createdAt\\s+${ISO.source}$`, "m"));
    expect(made.stderr).toContain(`created ${id}`);

    const list = await cli(["templates", "list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+TYPE\s+FROM\s+SUBJECT\s+UPDATED$/);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+Welcome\\s+TRANSACTIONAL\\s+hello@example.com`));

    const get = await cli(["templates", "get", id]);
    expect(get.stdout).toMatch(/^subject\s+Welcome, \{\{ data.name \}\}$/m);
    expect(get.stdout).toContain("\nbody\n<h1>Hi {{ data.name }}</h1>\n<p>Welcome.</p>\n");
    const json = JSON.parse((await cli(["templates", "get", id, "--json"])).stdout);
    expect(json).toMatchObject({ id, name: "Welcome", from: "hello@example.com", fromName: null });
  });

  it("updates only the fields a file gives (JSON), or just the body with --body-file", async () => {
    const patch = write("patch.json", JSON.stringify({ subject: "Hello {{ data.name }}", fromName: "Ada" }));
    const run = await cli(["templates", "update", id, patch]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`updated ${id}: subject, fromName`);
    const after = JSON.parse((await cli(["templates", "get", id, "--json"])).stdout);
    expect(after).toMatchObject({ name: "Welcome", subject: "Hello {{ data.name }}", fromName: "Ada" });
    expect(after.body).toContain("<h1>Hi");

    const body = write("body2.html", "<p>New body</p>");
    const onlyBody = await cli(["templates", "update", id, "--body-file", body, "--json"]);
    expect(onlyBody.code, onlyBody.stderr).toBe(0);
    expect(JSON.parse(onlyBody.stdout)).toMatchObject({
      body: "<p>New body</p>",
      subject: "Hello {{ data.name }}",
    });
  });

  it("refuses bad files and flags before sending anything", async () => {
    const unknown = write("unknown.yaml", "name: X\nsubject: S\nbody: B\nfrom: a@example.com\ncolour: red\n");
    const u = await cli(["templates", "create", unknown]);
    expect(u.code).toBe(1);
    expect(oneLine(u)).toMatch(/unknown\.yaml: colour: not a template field/);

    const missing = write("missing.yaml", "name: X\nsubject: S\n");
    const m = await cli(["templates", "create", missing]);
    expect(m.code).toBe(1);
    expect(oneLine(m)).toContain("missing.yaml: missing body, from (or give --body-file)");

    const badType = write("type.json", JSON.stringify({ type: "NEWSLETTER" }));
    const t = await cli(["templates", "update", id, badType]);
    expect(t.code).toBe(1);
    expect(oneLine(t)).toContain("type: must be MARKETING or TRANSACTIONAL");

    const list = write("list.yaml", "- name: X\n");
    const l = await cli(["templates", "create", list]);
    expect(l.code).toBe(1);
    expect(oneLine(l)).toContain("list.yaml: a template file is a mapping with name, subject, body, from");

    const syntax = write("syntax.yaml", "name: [X\n");
    const s = await cli(["templates", "create", syntax]);
    expect(s.code).toBe(1);
    expect(oneLine(s)).toMatch(/syntax\.yaml:\d+:\d+: not valid YAML/);

    const both = write("both.yaml", "name: X\nsubject: S\nbody: B\nfrom: a@example.com\n");
    const b = await cli(["templates", "create", both, "--body-file", both]);
    expect(b.code).toBe(2);
    expect(oneLine(b)).toContain("has a body and --body-file gives one too");

    const absent = await cli(["templates", "create", path.join(dir, "nope.yaml")]);
    expect(absent.code).toBe(1);
    expect(oneLine(absent)).toContain("cannot read");
    const absentBody = await cli(["templates", "update", id, "--body-file", path.join(dir, "nope.html")]);
    expect(absentBody.code).toBe(1);
    expect(oneLine(absentBody)).toContain("nope.html: no such file");

    const nothing = await cli(["templates", "update", id]);
    expect(nothing.code).toBe(2);
    expect(oneLine(nothing)).toContain("give a file with the fields to change, or --body-file");
    const empty = await cli(["templates", "update", id, write("empty.json", "{}")]);
    expect(empty.code).toBe(1);
    expect(oneLine(empty)).toContain("nothing to update");
    const extra = await cli(["templates", "get", id, "more"]);
    expect(extra.code).toBe(2);
    expect(oneLine(extra)).toBe('plunk-edge: unexpected argument "more"');

    // What only the server checks: the Liquid, answered as field errors.
    const liquid = write("liquid.json", JSON.stringify({ body: "{% if %}" }));
    const q = await cli(["templates", "update", id, liquid]);
    expect(q.code).toBe(1);
    expect(oneLine(q)).toMatch(/422 VALIDATION_ERROR: .*\(body: /);
    expect(JSON.parse((await cli(["templates", "get", id, "--json"])).stdout).body).toBe("<p>New body</p>");
  });

  it("deletes one; a second delete and a get are 404", async () => {
    const del = await cli(["templates", "delete", id]);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toBe(`${id} deleted\n`);
    const again = await cli(["templates", "delete", id]);
    expect(again.code).toBe(1);
    expect(oneLine(again)).toMatch(/404 TEMPLATE_NOT_FOUND/);
    expect((await cli(["templates", "get", id])).code).toBe(1);
  });
});

describe("contacts and events", () => {
  let id: string;

  it("creates a contact (201), then the same email again updates it", async () => {
    const made = await cli([
      "contacts",
      "create",
      "--email",
      "Grace@Example.com",
      "--subscribed",
      "false",
      "--data",
      '{"plan":"pro"}',
    ]);
    expect(made.code, made.stderr).toBe(0);
    id = /^id\s+(ctc_\S+)$/m.exec(made.stdout)?.[1] as string;
    expect(made.stdout).toMatch(/^email\s+grace@example.com$/m);
    expect(made.stdout).toMatch(/^subscribed\s+no$/m);
    expect(made.stderr).toBe(`created ${id}\n`);
    const again = await cli(["contacts", "create", "--email", "grace@example.com"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^id\\s+${id}$`, "m"));
    expect(again.stderr).toBe(`${id} already had this email: updated it\n`);
    const json = await cli(["contacts", "create", "--email", "grace@example.com", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ id, data: { plan: "pro" } });
    expect(json.stderr).toBe("");
    expect((await cli(["contacts", "create", "--email", "ada@example.com"])).code).toBe(0);
  });

  it("lists with --subscribed and --search, and gets by id or by email", async () => {
    const list = await cli(["contacts", "list"]);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+EMAIL\s+SUBSCRIBED\s+DATA\s+CREATED$/);
    expect(list.stdout).toMatch(
      new RegExp(`${id}\\s+grace@example.com\\s+no\\s+\\{"plan":"pro"\\}\\s+${ISO.source}`),
    );
    const unsub = JSON.parse((await cli(["contacts", "list", "--subscribed", "false", "--json"])).stdout);
    expect(unsub.data.map((c: any) => c.email)).toEqual(["grace@example.com"]);
    const search = JSON.parse((await cli(["contacts", "list", "--search", "ada@", "--json"])).stdout);
    expect(search.data.map((c: any) => c.email)).toEqual(["ada@example.com"]);

    const byId = await cli(["contacts", "get", id]);
    expect(byId.stdout).toMatch(/^email\s+grace@example.com$/m);
    const byEmail = JSON.parse((await cli(["contacts", "get", "GRACE@example.com", "--json"])).stdout);
    expect(byEmail.id).toBe(id);
  });

  it("updates by email (data merged), and lists a contact's events by id or email", async () => {
    const up = await cli([
      "contacts",
      "update",
      "grace@example.com",
      "--data",
      '{"seats":3}',
      "--subscribed",
      "true",
    ]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^data\s+\{"plan":"pro","seats":3\}$/m);
    expect(up.stdout).toMatch(/^subscribed\s+yes$/m);

    expect(
      (await cli(["track", "cli-guide-login", "grace@example.com", "--data", '{"ip":"1.2.3.4"}'])).code,
    ).toBe(0);
    const events = await cli(["events", "--contact", "grace@example.com"]);
    expect(events.code, events.stderr).toBe(0);
    expect(events.stdout.split("\n")[0]).toMatch(/^ID\s+EVENT\s+CREATED\s+DATA$/);
    expect(events.stdout).toMatch(
      new RegExp(`evt_\\S+\\s+cli-guide-login\\s+${ISO.source}\\s+\\{"ip":"1.2.3.4"\\}`),
    );
    // Resubscribing was an event of its own.
    expect(events.stdout).toContain("contact.subscribed");
    const byId = JSON.parse((await cli(["contacts", "events", id, "--json", "--limit", "1"])).stdout);
    expect(byId).toMatchObject({ hasMore: true, data: [{ name: "cli-guide-login", contactId: id }] });

    // The project's recent events, with each contact's email beside its id; or those of one name.
    const recent = await cli(["events", "--limit", "5"]);
    expect(recent.code, recent.stderr).toBe(0);
    expect(recent.stdout.split("\n")[0]).toMatch(/^ID\s+EVENT\s+CONTACT\s+EMAIL\s+CREATED\s+DATA$/);
    expect(recent.stdout.split("\n")[1]).toMatch(
      new RegExp(`^evt_\\S+\\s+cli-guide-login\\s+${id}\\s+grace@example.com\\s+${ISO.source}`),
    );
    const named = JSON.parse((await cli(["events", "--event", "cli-guide-login", "--json"])).stdout);
    expect(named.data.map((e: any) => e.name)).toEqual(["cli-guide-login"]);
  });

  it("refuses bad input: exit 2 for the command line, 1 for what the API refuses", async () => {
    const cases: [string[], number, string | RegExp][] = [
      [
        ["events", "--contact", "x@example.com", "--event", "signup"],
        2,
        "give --contact or --event, not both",
      ],
      [["contacts", "create"], 2, "give --email"],
      [
        ["contacts", "create", "--email", "x@example.com", "--subscribed", "maybe"],
        2,
        "--subscribed must be true or false",
      ],
      [
        ["contacts", "create", "--email", "x@example.com", "--data", "[1]"],
        2,
        "--data must be a JSON object",
      ],
      [["contacts", "list", "--subscribed", "yes"], 2, "--subscribed must be true or false"],
      [["contacts", "update", id], 2, "give at least one of --email, --subscribed, --data"],
      [["contacts", "get", "nobody"], 2, '"nobody" is neither a contact id (ctc_…) nor an email'],
      [["events", "--contact", "nobody@example.com"], 1, "no contact has the email nobody@example.com"],
      [["contacts", "get", "ctc_nope"], 1, /404 CONTACT_NOT_FOUND/],
      [["contacts", "create", "--email", "not-an-email"], 1, /422 VALIDATION_ERROR: .*\(email: /],
      [["contacts", "update", "ada@example.com", "--email", "grace@example.com"], 1, /409 CONFLICT/],
    ];
    for (const [args, code, message] of cases) {
      const run = await cli(args);
      expect(run.code, args.join(" ")).toBe(code);
      if (typeof message === "string") expect(oneLine(run), args.join(" ")).toContain(message);
      else expect(oneLine(run), args.join(" ")).toMatch(message);
      expect(run.stdout, args.join(" ")).toBe("");
    }
  });

  it("deletes a contact by email; then it is gone", async () => {
    const del = await cli(["contacts", "delete", "ada@example.com", "--json"]);
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toMatchObject({ deleted: true, id: expect.stringMatching(/^ctc_/) });
    const gone = await cli(["contacts", "get", "ada@example.com"]);
    expect(gone.code).toBe(1);
    expect(oneLine(gone)).toContain("no contact has the email ada@example.com");
  });
});

describe("names and times in executions", () => {
  const wf = "wf_cli_guide_delay";
  const file = () =>
    write(
      "delay.yaml",
      [
        `id: ${wf}`,
        "name: Guide delay",
        "eventName: cli-guide-delay",
        "enabled: false",
        "allowReentry: true",
        "steps:",
        "  wait: { type: DELAY, name: Wait a day, config: { amount: 1, unit: days } }",
        "transitions:",
        "  - { from: trigger, to: wait }",
        "",
      ].join("\n"),
    );

  it("apply says when a workflow it applied is disabled, and how to enable it", async () => {
    const run = await cli(["workflows", "apply", file()]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe(
      `applied ${wf} (1/1) (disabled: it starts no executions until enabled; \`plunk-edge workflows enable ${wf}\`)\n`,
    );
    expect(run.stdout).toMatch(new RegExp(`delay\\.yaml\\s+${wf}\\s+created\\s+no`));
    expect((await cli(["workflows", "enable", wf])).stdout).toBe(`${wf} enabled\n`);
    const on = write(
      "delay-on.yaml",
      fs.readFileSync(file(), "utf8").replace("enabled: false", "enabled: true"),
    );
    const applied = await cli(["workflows", "apply", on]);
    expect(applied.stderr).toBe(`applied ${wf} (1/1)\n`);
    expect(applied.stdout).toMatch(/updated\s+yes/);
  });

  it("lists executions with the contact's email and the step's name and type; a DELAY shows when it is due", async () => {
    const before = Date.now();
    expect((await cli(["track", "cli-guide-delay", "lin@example.com"])).code).toBe(0);
    const id = await until(async () => {
      const page = JSON.parse(
        (await cli(["executions", "list", wf, "--status", "WAITING", "--json"])).stdout,
      );
      return page.data[0]?.id as string | undefined;
    });
    const list = await cli(["executions", "list", wf]);
    expect(list.stdout.split("\n")[0]).toMatch(
      /^ID\s+STATUS\s+CONTACT\s+EMAIL\s+STEP\s+STEP NAME\s+STARTED\s+ENDED\s+EXIT REASON$/,
    );
    expect(list.stdout).toMatch(
      new RegExp(
        `${id}\\s+WAITING\\s+ctc_\\S+\\s+lin@example.com\\s+stp_\\S+\\s+Wait a day \\(DELAY\\)\\s+${ISO.source}`,
      ),
    );

    const get = await cli(["executions", "get", wf, id]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toMatch(/^contactEmail\s+lin@example.com$/m);
    expect(get.stdout).toMatch(/^currentStep\s+Wait a day \(DELAY\)$/m);
    expect(get.stdout).toMatch(new RegExp(`^startedAt\\s+${ISO.source}$`, "m"));
    expect(get.stdout).toMatch(/step log\nSTEP\s+NAME\s+STATUS\s+STARTED\s+FINISHED\s+OUTPUT\s+ERROR/);
    expect(get.stdout).toMatch(/\(TRIGGER\)\s+COMPLETED/);
    const due = /Wait a day \(DELAY\).*due (\S+)/.exec(get.stdout)?.[1] as string;
    expect(due).toMatch(new RegExp(`^${ISO.source}$`));
    const dueMs = Date.parse(due);
    expect(dueMs).toBeGreaterThanOrEqual(before + 86_400_000 - 2000);
    expect(dueMs).toBeLessThan(Date.now() + 86_400_000 + 2000);
    expect(get.stdout).not.toContain("timedOut");
    expect(get.stdout).not.toMatch(/\d{4}-\d\d-\d\d \d\d:/);

    const cancelled = await cli(["executions", "cancel-all", wf]);
    expect(cancelled.stdout).toBe("cancelled 1 execution\n");
  });
});

describe("simulate (the development SES simulator)", () => {
  it("checks its arguments before sending anything", async () => {
    const cases: [string[], string][] = [
      [
        ["simulate", "explode", "eml_x"],
        'unknown kind "explode": one of bounce, complaint, delivery, open, click',
      ],
      [["simulate", "open", "msg_x"], '"msg_x" is not an email id (eml_…)'],
      [["simulate", "open", "eml_x", "--link", "https://example.com"], "--link goes with click only"],
      [["simulate", "click", "eml_x", "--link", "nope"], '--link is not a URL: "nope"'],
      [["simulate", "click", "eml_x", "--link", "ftp://example.com"], "--link must be an http or https URL"],
      [["simulate", "bounce"], "missing <emailId>"],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(oneLine(run), args.join(" ")).toContain(message);
    }
  });

  it("an unknown email is the API's 404; a production deployment (404 NOT_FOUND) is named as such", async () => {
    const unknown = await cli(["simulate", "delivery", "eml_nope"]);
    expect(unknown.code).toBe(1);
    expect(oneLine(unknown)).toMatch(/404 EMAIL_NOT_FOUND/);

    // What a production deployment answers for /dev/*, from a stand-in server.
    const prod = http.createServer((req, res) => {
      req.resume();
      res.writeHead(404, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: { code: "NOT_FOUND", message: `No route for POST ${req.url}`, statusCode: 404 },
        }),
      );
    });
    await new Promise<void>((r) => prod.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(prod.address() as { port: number }).port}`;
    const run = await cli(["simulate", "bounce", "eml_x", "--url", url]);
    await new Promise((r) => prod.close(r));
    expect(run.code).toBe(1);
    expect(oneLine(run)).toBe(
      `plunk-edge: ${url} has no POST /dev/ses/simulate (404 NOT_FOUND): it is a production deployment; simulate works only against a development one (npm start, ENVIRONMENT=development)`,
    );
  });

  it("simulates a delivery and a click of a sent email: the contact's events show them", async () => {
    const sent = await cli([
      "send",
      "kim@example.com",
      "--subject",
      "Hi",
      "--body",
      "<a href='https://example.com/x'>x</a>",
      "--type",
      "html",
      "--json",
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    const emailId = JSON.parse(sent.stdout).data.emails[0].email as string;
    expect(emailId).toMatch(/^eml_/);
    // Once SES has accepted it (409 EMAIL_NOT_SENT until then).
    const delivered = await until(async () => {
      const run = await cli(["simulate", "delivery", emailId]);
      if (run.code === 0) return run;
      expect(oneLine(run)).toMatch(/409 EMAIL_NOT_SENT/);
      return undefined;
    });
    expect(delivered.stdout).toMatch(
      new RegExp(`^delivery simulated for ${emailId} \\(SES message \\S+\\)\\n$`),
    );
    const click = await cli(["simulate", "click", emailId, "--link", "https://example.com/x", "--json"]);
    expect(click.code, click.stderr).toBe(0);
    expect(JSON.parse(click.stdout)).toMatchObject({ emailId, kind: "click", messageId: expect.any(String) });
    await until(async () => {
      const page = JSON.parse((await cli(["events", "--contact", "kim@example.com", "--json"])).stdout);
      const names = page.data.map((e: any) => e.name);
      return names.includes("email.delivery") && names.includes("email.click") ? true : undefined;
    });
  });
});

describe("the development project's key", () => {
  it("is used, with a notice on stderr, when no key is given and the URL is a loopback one", async () => {
    const file = write(
      "dev-project.json",
      JSON.stringify({ id: "prj_x", publicKey: "pk_x", secretKey: key }),
    );
    const run = await cli(["templates", "list", "--json"], {
      PLUNK_EDGE_KEY: undefined,
      PLUNK_EDGE_DEV_PROJECT: file,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ data: expect.any(Array) });
    expect(run.stderr).toBe(`using the development project's key from ${file}\n`);
    const localhost = await cli(["contacts", "list"], {
      PLUNK_EDGE_KEY: undefined,
      PLUNK_EDGE_DEV_PROJECT: file,
      PLUNK_EDGE_URL: stack.base.replace("127.0.0.1", "localhost"),
    });
    expect(localhost.code, localhost.stderr).toBe(0);
    expect(localhost.stderr.match(/using the development project's key/g)).toHaveLength(1);

    // A key given wins, without a word.
    const given = await cli(["templates", "list"], { PLUNK_EDGE_DEV_PROJECT: file });
    expect(given.code).toBe(0);
    expect(given.stderr).toBe("");
  });

  it("is not used for another host, and a broken, missing or stale file says so", async () => {
    const file = write("dev-project2.json", JSON.stringify({ secretKey: key }));
    const remote = await cli(["templates", "list", "--url", "https://plunk-edge.example.com"], {
      PLUNK_EDGE_KEY: undefined,
      PLUNK_EDGE_DEV_PROJECT: file,
    });
    expect(remote.code).toBe(2);
    expect(oneLine(remote)).toBe("plunk-edge: no project key: give --key sk_… or set PLUNK_EDGE_KEY");

    const missing = await cli(["templates", "list"], { PLUNK_EDGE_KEY: undefined });
    expect(missing.code).toBe(2);
    expect(oneLine(missing)).toContain(
      "no project key: give --key sk_… or set PLUNK_EDGE_KEY (or run npm start",
    );

    const broken = write("broken.json", "{ not json");
    const b = await cli(["templates", "list"], { PLUNK_EDGE_KEY: undefined, PLUNK_EDGE_DEV_PROJECT: broken });
    expect(b.code).toBe(1);
    expect(oneLine(b)).toBe(
      `plunk-edge: ${broken} has no secretKey (sk_…): give --key, or delete the file and run npm start again`,
    );

    const stale = write("stale.json", JSON.stringify({ secretKey: "sk_stale" }));
    const s = await cli(["templates", "list"], { PLUNK_EDGE_KEY: undefined, PLUNK_EDGE_DEV_PROJECT: stale });
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`using the development project's key from ${stale}\n`);
    expect(s.stderr).toMatch(
      /401 INVALID_API_KEY: .*the key came from .*stale\.json, which npm start writes/,
    );
  });
});

it("the unreachable-port case stays a network failure with a dev key", async () => {
  const port = await freePort();
  const file = write("dev-project3.json", JSON.stringify({ secretKey: key }));
  const run = await cli(["contacts", "list", "--url", `http://127.0.0.1:${port}`], {
    PLUNK_EDGE_KEY: undefined,
    PLUNK_EDGE_DEV_PROJECT: file,
  });
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(`cannot reach http://127.0.0.1:${port}: connection refused`);
});
