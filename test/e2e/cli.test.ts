// The operator CLI (cli/index.ts) run as a child process against wrangler dev: every command, the
// workflow file round trip (apply → export gives the same text), and every error path.
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalSes, startLocalSes } from "./local-servers";
import { sharedStack } from "./shared-stack";
import { E2E_ADMIN_TOKEN, freePort, type Stack } from "./stack";

const root = path.resolve(import.meta.dirname, "../..");
const node = path.join(root, "node_modules", ".bin", "node");
const entry = path.join(root, "cli", "index.ts");
const fixtures = path.join(root, "test", "cli", "fixtures");

let stack: Stack;
let ses: LocalSes;
let key: string;
let dir: string;
let hooks: http.Server;
let hookUrl: string;
let hooksReceived = 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it: `node cli/index.ts …` with PLUNK_EDGE_URL and PLUNK_EDGE_KEY set. */
function cli(args: string[], env: Record<string, string | undefined> = {}, command = node): Promise<Run> {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith("PLUNK_EDGE_")) delete base[k];
  const full: Record<string, string | undefined> = {
    ...base,
    PLUNK_EDGE_URL: stack.base,
    PLUNK_EDGE_KEY: key,
    // Never the repo's own .wrangler/dev-project.json (cli-guides.test.ts tests that discovery).
    PLUNK_EDGE_DEV_PROJECT: path.join(os.tmpdir(), "plunk-edge-no-dev-project.json"),
    ...env,
  };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  const argv = command === node ? [entry, ...args] : args;
  return new Promise((resolve) => {
    execFile(command, argv, { cwd: root, env: full, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function oneLine(run: Run): string {
  return run.stderr.split("\n")[0] ?? "";
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const fixture = (name: string) => fs.readFileSync(path.join(fixtures, name), "utf8");

async function until<T>(what: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  // The local SES: campaigns' test sends go to it.
  ses = await startLocalSes();
  stack = await sharedStack({ SES_ENDPOINT: ses.url, RETRY_DELAY_SCALE: "0" });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plunk-edge-cli-"));
  hooks = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      hooksReceived++;
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((r) => hooks.listen(0, "127.0.0.1", () => r()));
  hookUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}/hooks`;
});

afterAll(async () => {
  await new Promise((r) => hooks?.close(r));
  await stack?.stop();
  await ses?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("projects (admin token)", () => {
  it("creates a project and prints its keys, as a table and as JSON", async () => {
    const made = await cli(["projects", "create", "CLI table"], { PLUNK_EDGE_ADMIN_TOKEN: E2E_ADMIN_TOKEN });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^id\s+prj_/m);
    expect(made.stdout).toMatch(/^secretKey\s+sk_/m);
    expect(made.stderr).toContain("shown only once");

    const json = await cli(["projects", "create", "CLI", "--json", "--admin-token", E2E_ADMIN_TOKEN]);
    expect(json.code, json.stderr).toBe(0);
    const project = JSON.parse(json.stdout);
    expect(project).toMatchObject({ name: "CLI", secretKey: expect.stringMatching(/^sk_/) });
    expect(json.stderr).toBe("");
    key = project.secretKey;
    // The shard engine by default (README "Engines").
    expect(project.engine).toBe("shard");

    // The engine its executions run on, chosen now (README "Engines"); an unknown one is the API's 422.
    const admin = ["--json", "--admin-token", E2E_ADMIN_TOKEN];
    const objects = await cli(["projects", "create", "CLI objects", "--engine", "objects", ...admin]);
    expect(objects.code, objects.stderr).toBe(0);
    expect(JSON.parse(objects.stdout)).toMatchObject({ name: "CLI objects", engine: "objects" });
    const sharded = await cli(["projects", "create", "CLI shard", "--engine", "shard", ...admin]);
    expect(sharded.code, sharded.stderr).toBe(0);
    expect(JSON.parse(sharded.stdout)).toMatchObject({ name: "CLI shard", engine: "shard", shards: 1 });
    const four = await cli(["projects", "create", "CLI four", "--shards", "4", ...admin]);
    expect(four.code, four.stderr).toBe(0);
    expect(JSON.parse(four.stdout)).toMatchObject({ name: "CLI four", engine: "shard", shards: 4 });
    for (const shards of ["0", "many"]) {
      const refused = await cli(["projects", "create", "CLI none", "--shards", shards, ...admin]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("shards");
    }
    const bad = await cli(["projects", "create", "CLI bad", "--engine", "fast", ...admin]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("engine");
  });

  it("lists projects, one page or all of them", async () => {
    const env = { PLUNK_EDGE_ADMIN_TOKEN: E2E_ADMIN_TOKEN };
    const list = await cli(["projects", "list"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+PUBLIC KEY\s+SECRET KEY\s+ENGINE\s+CREATED$/);
    expect(list.stdout).toContain("CLI table");
    expect(list.stdout).toMatch(/CLI four\s.*\sshard \(4\)\s/);

    const page = await cli(["projects", "list", "--limit", "1", "--json"], env);
    expect(JSON.parse(page.stdout)).toMatchObject({ hasMore: true, cursor: expect.any(String) });
    expect(JSON.parse(page.stdout).data).toHaveLength(1);
    const all = await cli(["projects", "list", "--limit", "1", "--all", "--json"], env);
    const names = JSON.parse(all.stdout).data.map((p: any) => p.name);
    expect(names).toEqual(expect.arrayContaining(["CLI", "CLI table"]));
    expect(JSON.parse(all.stdout).hasMore).toBe(false);
  });

  it("rotates a project's keys: the old secret key stops working", async () => {
    const env = { PLUNK_EDGE_ADMIN_TOKEN: E2E_ADMIN_TOKEN };
    const made = JSON.parse((await cli(["projects", "create", "Rotated", "--json"], env)).stdout);
    const rotated = await cli(["projects", "rotate-keys", made.id, "--json"], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    const keys = JSON.parse(rotated.stdout);
    expect(keys.secretKey).toMatch(/^sk_/);
    const old = await cli(["workflows", "list"], { PLUNK_EDGE_KEY: made.secretKey });
    expect(old.code).toBe(1);
    expect((await cli(["workflows", "list"], { PLUNK_EDGE_KEY: keys.secretKey })).code).toBe(0);
  });

  it("needs the admin token", async () => {
    const run = await cli(["projects", "list"]);
    expect(run.code).toBe(2);
    expect(oneLine(run)).toContain("no admin token");
    const wrong = await cli(["projects", "list", "--admin-token", "nope"]);
    expect(wrong.code).toBe(1);
    expect(oneLine(wrong)).toMatch(/401/);
  });
});

describe("workflows as code", () => {
  it("applies a YAML file, and export gives back the same text", async () => {
    const file = path.join(fixtures, "onboarding.yaml");
    const applied = await cli(["workflows", "apply", file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).toContain("applied wf_cli_onboarding (1/1)");
    expect(applied.stdout).toMatch(/onboarding\.yaml\s+wf_cli_onboarding\s+created/);

    const out = path.join(dir, "exported.yaml");
    const exported = await cli(["workflows", "export", "wf_cli_onboarding", "--out", out]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(fs.readFileSync(out, "utf8")).toBe(fixture("onboarding.yaml"));

    const toStdout = await cli(["workflows", "export", "wf_cli_onboarding"]);
    expect(toStdout.stdout).toBe(fixture("onboarding.yaml"));

    // Applying the export again changes nothing, and answers 200.
    const again = await cli(["workflows", "apply", out]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/wf_cli_onboarding\s+updated/);
    expect((await cli(["workflows", "export", "wf_cli_onboarding"])).stdout).toBe(fixture("onboarding.yaml"));
  });

  it("applies the JSON form, and exports it back as the same JSON", async () => {
    const file = path.join(fixtures, "welcome.json");
    const applied = await cli(["workflows", "apply", file, "--json"]);
    expect(applied.code, applied.stderr).toBe(0);
    const [result] = JSON.parse(applied.stdout);
    expect(result).toMatchObject({ id: "wf_cli_welcome", status: 201, body: { id: "wf_cli_welcome" } });
    expect(applied.stderr).toContain("applied wf_cli_welcome (1/1)");

    const out = path.join(dir, "welcome.json");
    expect((await cli(["workflows", "export", "wf_cli_welcome", "--out", out])).code).toBe(0);
    expect(fs.readFileSync(out, "utf8")).toBe(fixture("welcome.json"));
    const asYaml = await cli(["workflows", "export", "wf_cli_welcome", "--format", "yaml"]);
    expect(asYaml.stdout).toMatch(/^id: wf_cli_welcome\n/);
    const raw = await cli(["workflows", "export", "wf_cli_welcome", "--json"]);
    expect(JSON.parse(raw.stdout)).toEqual(JSON.parse(fixture("welcome.json")));
  });

  it("applies an edited file (200) and the change is there", async () => {
    const edited = fixture("onboarding.yaml")
      .replace("name: Pro onboarding", "name: Pro onboarding v2")
      .replace("amount: 1\n", "amount: 2\n");
    const file = write("onboarding-v2.yaml", edited);
    const applied = await cli(["workflows", "apply", file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/wf_cli_onboarding\s+updated/);
    expect((await cli(["workflows", "export", "wf_cli_onboarding"])).stdout).toBe(edited);
  });

  it("applies several files with a line per file, and says which failed", async () => {
    const a = write("a.yaml", fixture("welcome.json").replace(/wf_cli_welcome/, "wf_cli_multi_a"));
    const b = write(
      "b.json",
      fixture("welcome.json")
        .replace(/wf_cli_welcome/, "wf_cli_welcome")
        .replace("cli-welcome", "changed"),
    );
    const c = write("c.yml", fixture("welcome.json").replace(/wf_cli_welcome/, "wf_cli_multi_c"));
    const run = await cli(["workflows", "apply", a, b, c]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("applied wf_cli_multi_a (1/3)");
    expect(run.stderr).toMatch(/failed wf_cli_welcome \(2\/3\): 422 VALIDATION_ERROR.*eventName/);
    expect(run.stderr).toContain("applied wf_cli_multi_c (3/3)");
    expect(run.stderr).toMatch(/plunk-edge: 1 of 3 files failed: .*b\.json \(wf_cli_welcome\)/);
    expect(run.stdout).toMatch(/b\.json\s+wf_cli_welcome\s+failed/);
  });

  it("refuses bad files before sending anything, naming the problem", async () => {
    const good = write("good.yaml", fixture("onboarding.yaml").replace("wf_cli_onboarding", "wf_cli_never"));

    const badYaml = write("bad.yaml", "id: wf_cli_bad\nname: Bad\nsteps:\n  a: { type: EXIT\n  b: 1\n");
    const syntax = await cli(["workflows", "apply", good, badYaml]);
    expect(syntax.code).toBe(1);
    expect(oneLine(syntax)).toMatch(/bad\.yaml:\d+:\d+: not valid YAML/);
    expect(syntax.stderr.trim().split("\n")).toHaveLength(1);

    const badJson = write("bad.json", '{\n  "id": "wf_cli_bad",\n  "name" "x"\n}\n');
    const jsonRun = await cli(["workflows", "apply", badJson]);
    expect(jsonRun.code).toBe(1);
    expect(oneLine(jsonRun)).toMatch(/bad\.json:3:\d+: not valid JSON/);

    const unknownType = write(
      "type.yaml",
      fixture("onboarding.yaml")
        .replace("type: DELAY", "type: SLEEP")
        .replace("wf_cli_onboarding", "wf_cli_t"),
    );
    const typeRun = await cli(["workflows", "apply", unknownType]);
    expect(typeRun.code).toBe(1);
    expect(oneLine(typeRun)).toMatch(/type\.yaml: steps\.wait\.type: unknown step type "SLEEP"/);

    const missing = write(
      "missing.yaml",
      fixture("onboarding.yaml")
        .replace("{ from: crm, to: wait }", "{ from: crm, to: ghost }")
        .replace("wf_cli_onboarding", "wf_cli_m"),
    );
    const missingRun = await cli(["workflows", "apply", missing]);
    expect(missingRun.code).toBe(1);
    expect(oneLine(missingRun)).toContain('transitions.2.to: no step "ghost" in steps');

    const noId = write("noid.yaml", "name: No id\neventName: x\nsteps: {}\ntransitions: []\n");
    const noIdRun = await cli(["workflows", "apply", noId]);
    expect(noIdRun.code).toBe(1);
    expect(oneLine(noIdRun)).toContain("noid.yaml: id: missing");

    const absent = await cli(["workflows", "apply", path.join(dir, "nope.yaml")]);
    expect(absent.code).toBe(1);
    expect(oneLine(absent)).toContain("cannot read");

    // None of them, and not the good file beside the bad one, reached the server.
    const never = await cli(["workflows", "get", "wf_cli_never"]);
    expect(never.code).toBe(1);
    expect(oneLine(never)).toContain("404");
  });

  it("shows the server's field errors for what only the server checks", async () => {
    const file = write(
      "server.yaml",
      fixture("onboarding.yaml")
        .replace("wf_cli_onboarding", "wf_cli_server")
        .replace("unit: days", "unit: fortnights"),
    );
    const run = await cli(["workflows", "apply", file]);
    expect(run.code).toBe(1);
    expect(oneLine(run)).toMatch(/422 VALIDATION_ERROR: .*steps\.wait\.config\.unit/);
  });

  it("lists, gets, enables and disables workflows", async () => {
    const list = await cli(["workflows", "list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+TRIGGER\s+ENABLED\s+REENTRY\s+UPDATED$/);
    expect(list.stdout).toMatch(/wf_cli_onboarding\s+Pro onboarding v2\s+cli-signup\s+yes/);

    const get = await cli(["workflows", "get", "wf_cli_onboarding"]);
    expect(get.stdout).toMatch(/^eventName\s+cli-signup$/m);
    expect(get.stdout).toMatch(/Pro\?\s+yes\s+CRM/);

    const disabled = await cli(["workflows", "disable", "wf_cli_onboarding"]);
    expect(disabled.stdout).toBe("wf_cli_onboarding disabled\n");
    const json = await cli(["workflows", "enable", "wf_cli_onboarding", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: "wf_cli_onboarding", enabled: true });
  });
});

describe("executions", () => {
  const wf = "wf_cli_locked";
  const locked = () =>
    write(
      "locked.yaml",
      [
        `id: ${wf}`,
        "name: Locked",
        "eventName: cli-locked",
        "enabled: false",
        "allowReentry: false",
        "steps:",
        "  wait: { type: DELAY, config: { amount: 1, unit: days } }",
        "transitions:",
        "  - { from: trigger, to: wait }",
        "",
      ].join("\n"),
    );

  it("apply exits non-zero with WORKFLOW_LOCKED while an execution waits", async () => {
    expect((await cli(["workflows", "apply", locked()])).code).toBe(0);
    const started = await cli(["executions", "start", wf, "ada@example.com", "--json"]);
    expect(started.code, started.stderr).toBe(0);
    // An execution id: exec_… on the objects engine, xpg_… on the shard engine (API.md, "Engines").
    expect(JSON.parse(started.stdout).id).toMatch(/^(exec|xpg)_/);
    await until(async () => {
      const run = await cli(["executions", "list", wf, "--status", "waiting", "--json"]);
      return JSON.parse(run.stdout).data.length === 1 ? true : undefined;
    });
    const run = await cli(["workflows", "apply", locked()]);
    expect(run.code).toBe(1);
    expect(oneLine(run)).toContain("409 WORKFLOW_LOCKED");
    expect(oneLine(run)).toContain("locked.yaml (wf_cli_locked)");
  });

  it("lists, gets and cancels one execution", async () => {
    const list = await cli(["executions", "list", wf]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(
      /^ID\s+STATUS\s+CONTACT\s+EMAIL\s+STEP\s+STEP NAME\s+STARTED\s+ENDED/,
    );
    expect(list.stdout).toMatch(/WAITING\s+ctc_\S+\s+ada@example.com\s+stp_\S+\s+wait \(DELAY\)/);
    const id = /^((?:exec|xpg)_\S+)\s+WAITING/m.exec(list.stdout)?.[1] as string;
    expect(id).toBeDefined();

    const get = await cli(["executions", "get", wf, id]);
    expect(get.stdout).toMatch(/^status\s+WAITING$/m);
    expect(get.stdout).toContain("step log");

    const cancelled = await cli(["executions", "cancel", wf, id]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe(`${id} CANCELLED\n`);
    const again = await cli(["executions", "cancel", wf, id]);
    expect(again.code).toBe(1);
    expect(oneLine(again)).toMatch(/409 CONFLICT/);
  });

  it("cancel-all cancels every active execution and prints the count; then apply works", async () => {
    for (const email of ["b@example.com", "c@example.com"]) {
      expect((await cli(["executions", "start", wf, email])).code).toBe(0);
    }
    const run = await cli(["executions", "cancel-all", wf]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("cancelled 2 executions\n");
    const json = await cli(["executions", "cancel-all", wf, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ cancelled: 0 });
    expect(json.stderr).toBe("");
    expect((await cli(["workflows", "apply", locked()])).code).toBe(0);
  });
});

describe("track and deliveries", () => {
  it("track starts a workflow whose webhook delivery is listed, shown and replayed", async () => {
    const file = write(
      "hook.yaml",
      [
        "id: wf_cli_hook",
        "name: Hook",
        "eventName: cli-hook",
        "enabled: true",
        "allowReentry: true",
        "steps:",
        `  hook: { type: WEBHOOK, config: { url: "${hookUrl}" } }`,
        "transitions:",
        "  - { from: trigger, to: hook }",
        "",
      ].join("\n"),
    );
    expect((await cli(["workflows", "apply", file])).code).toBe(0);

    const tracked = await cli(["track", "cli-hook", "Ada@Example.com", "--data", '{"plan":"pro"}']);
    expect(tracked.code, tracked.stderr).toBe(0);
    expect(tracked.stdout).toMatch(/^contact\s+ctc_/m);
    const trackedJson = await cli(["track", "cli-other", "ada@example.com", "--json"]);
    expect(JSON.parse(trackedJson.stdout)).toMatchObject({ success: true });

    const delivery = await until(async () => {
      const run = await cli(["deliveries", "list", "--status", "DELIVERED", "--json"]);
      return JSON.parse(run.stdout).data[0];
    });
    expect(delivery).toMatchObject({ workflowId: "wf_cli_hook", url: hookUrl });
    const list = await cli(["deliveries", "list", "--workflow", "wf_cli_hook"]);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+STATUS\s+ATTEMPTS\s+METHOD\s+URL/);
    expect(list.stdout).toMatch(new RegExp(`${delivery.id}\\s+DELIVERED\\s+1\\s+POST`));
    expect(list.stdout.split("\n")[0]).toMatch(/\sWORKFLOW\s+STEP\s+STEP NAME\s+EXECUTION\s+CREATED$/);
    expect(list.stdout).toMatch(/wf_cli_hook\s+stp_\S+\s+hook \(WEBHOOK\)\s+(exec|xpg)_/);

    const get = await cli(["deliveries", "get", delivery.id]);
    expect(get.stdout).toMatch(/^status\s+DELIVERED$/m);
    expect(get.stdout).toMatch(/^step\s+hook \(WEBHOOK\)$/m);
    expect(get.stdout).toMatch(/^AT\s+STATUS CODE.*\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+200/m);
    expect(get.stdout).toMatch(/attempts\nAT\s+STATUS CODE/);

    const before = hooksReceived;
    const replay = await cli(["deliveries", "replay", delivery.id]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`${delivery.id} queued again`);
    await until(async () => (hooksReceived > before ? true : undefined));
  });

  it("track and send check their flags before sending", async () => {
    const data = await cli(["track", "x", "a@example.com", "--data", "{nope"]);
    expect(data.code).toBe(2);
    expect(oneLine(data)).toContain("--data is not valid JSON");
    const send = await cli(["send", "a@example.com", "--subject", "Hi"]);
    expect(send.code).toBe(2);
    expect(oneLine(send)).toContain("give --subject and --body, or --template");
    const reserved = await cli(["track", "email.sent", "a@example.com"]);
    expect(reserved.code).toBe(1);
    expect(oneLine(reserved)).toMatch(/422 VALIDATION_ERROR: .*\(event: /);
  });
});

describe("contacts in bulk", () => {
  it("imports a CSV file (streamed), lists refused rows by line, and a second run changes nothing", async () => {
    const file = write(
      "people.csv",
      'email,subscribed,plan\nbulk-a@example.com,yes,pro\n"bulk-b@example.com",no,"free, for now"\nnot-an-email,,x\n',
    );
    const first = await cli(["contacts", "import", file]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("3 rows");
    expect(first.stdout).toContain("created 2, updated 0, unchanged 0, refused 1");
    expect(first.stdout).toContain("line 4 (not-an-email): invalid email");
    const again = JSON.parse((await cli(["contacts", "import", file, "--json"])).stdout);
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 2, refusedCount: 1 });
    const missing = await cli(["contacts", "import", path.join(dir, "nope.csv")]);
    expect(missing.code).toBe(1);
    expect(oneLine(missing)).toContain("cannot read");
  });

  it("exports to a file that imports back unchanged; bulk unsubscribes and deletes by id", async () => {
    const out = path.join(dir, "export.csv");
    const exp = await cli(["contacts", "export", "--out", out]);
    expect(exp.code, exp.stderr).toBe(0);
    const text = fs.readFileSync(out, "utf8");
    expect(text.split("\r\n")[0]).toMatch(/^id,email,subscribed,createdAt,updatedAt,.*plan/);
    expect(text).toContain('"free, for now"');
    const back = JSON.parse((await cli(["contacts", "import", out, "--json"])).stdout);
    expect(back).toMatchObject({ created: 0, updated: 0, refusedCount: 0 });
    const stdout = await cli(["contacts", "export"]);
    expect(stdout.stdout).toBe(text);

    const ids = text
      .split("\r\n")
      .filter((l) => l.includes("bulk-"))
      .map((l) => l.split(",")[0] as string);
    expect(ids).toHaveLength(2);
    const unsub = await cli(["contacts", "bulk", "unsubscribe", ...ids]);
    expect(unsub.code, unsub.stderr).toBe(0);
    expect(unsub.stdout).toBe("unsubscribe: 2 ids, 2 contacts of this project, 1 changed\n");
    const del = JSON.parse((await cli(["contacts", "bulk", "delete", ...ids, "--json"])).stdout);
    expect(del).toEqual({ action: "delete", requested: 2, matched: 2, changed: 2 });
    const bad = await cli(["contacts", "bulk", "archive", ids[0] as string]);
    expect(bad.code).toBe(2);
    expect(oneLine(bad)).toContain('unknown action "archive"');
    const neither = await cli(["contacts", "bulk", "unsubscribe"]);
    expect(neither.code).toBe(2);
    expect(oneLine(neither)).toContain("give contact ids or --segment");
    const unknown = await cli(["contacts", "bulk", "unsubscribe", "--segment", "seg_nope"]);
    expect(unknown.code).toBe(1);
    expect(oneLine(unknown)).toMatch(/422 VALIDATION_ERROR: .*segmentId/);
  });
});

describe("segments", () => {
  it("creates a static segment from a file, adds and removes members by email, lists and shows it", async () => {
    for (const email of ["seg-a@example.com", "seg-b@example.com"]) {
      expect((await cli(["track", "signup", email])).code).toBe(0);
    }
    const made = await cli([
      "segments",
      "create",
      write("beta.yaml", "name: CLI beta\ntype: STATIC\n"),
      "--json",
    ]);
    expect(made.code, made.stderr).toBe(0);
    const seg = JSON.parse(made.stdout);
    expect(seg).toMatchObject({ type: "STATIC", condition: null, slug: "cli-beta" });
    const list = write(
      "emails.txt",
      "# beta testers\nseg-a@example.com\n\nSEG-B@example.com\nseg-none@example.com\n",
    );
    const add = await cli(["segments", "add", seg.id, "--file", list]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe("added 2, unchanged 0, 1 with no contact: seg-none@example.com\n");
    const again = JSON.parse((await cli(["segments", "add", seg.id, "seg-a@example.com", "--json"])).stdout);
    expect(again).toEqual({ added: 0, unchanged: 1, notFound: [] });
    const rm = await cli(["segments", "remove", seg.id, "seg-a@example.com"]);
    expect(rm.stdout).toBe("removed 1, unchanged 0\n");
    const shown = await cli(["segments", "get", seg.id]);
    expect(shown.stdout).toMatch(/memberCount\s+1\n/);
    expect(shown.stdout).not.toContain("condition");
    const listed = await cli(["segments", "list"]);
    expect(listed.stdout).toMatch(new RegExp(`${seg.id}\\s+CLI beta\\s+STATIC\\s+1`));
    const none = await cli(["segments", "add", seg.id]);
    expect(none.code).toBe(2);
    expect(oneLine(none)).toContain("give emails, or --file");
    const bad = await cli([
      "segments",
      "create",
      write("bad.yaml", "name: Bad\ncondition: {logic: XOR, groups: []}\n"),
    ]);
    expect(bad.code).toBe(1);
    expect(oneLine(bad)).toMatch(/422 VALIDATION_ERROR: .*condition/);
  });
});

describe("campaigns", () => {
  it("creates a campaign from a file, test-sends, schedules, unschedules, sends it and shows its stats", async () => {
    const file = write(
      "news.yaml",
      "name: CLI news\nsubject: 'News for {{ email }}'\nbody: '<p>Hello</p>'\nfrom: news@example.com\naudience:\n  type: ALL\n",
    );
    const made = await cli(["campaigns", "create", file, "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const c = JSON.parse(made.stdout);
    expect(c).toMatchObject({ status: "DRAFT", audience: { type: "ALL" } });
    const test = await cli(["campaigns", "test", c.id, "tester@example.com"]);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^sent "News for someone@example.com" to tester@example.com \(.+\)\n$/);
    const inbox = await ses.emails();
    expect(inbox.some((e) => e.subject === "News for someone@example.com")).toBe(true);
    const sched = await cli([
      "campaigns",
      "schedule",
      c.id,
      "2099-12-24T09:00",
      "--time-zone",
      "Europe/Berlin",
      "--json",
    ]);
    expect(JSON.parse(sched.stdout)).toMatchObject({
      status: "SCHEDULED",
      scheduledAt: "2099-12-24T08:00:00.000Z",
    });
    expect(JSON.parse((await cli(["campaigns", "unschedule", c.id, "--json"])).stdout).status).toBe("DRAFT");
    const sent = await cli(["campaigns", "send", c.id]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/status\s+SENDING/);
    // Through wrangler dev's queues to the local SES: every subscribed contact once, then SENT.
    const done = await until(async () => {
      const got = JSON.parse((await cli(["campaigns", "get", c.id, "--json"])).stdout);
      return got.status === "SENT" ? got : undefined;
    }, 60_000);
    expect(done.stats.recipients).toBeGreaterThan(0);
    expect(done.stats.sent).toBe(done.stats.recipients);
    const delivered = (await ses.emails()).filter(
      (e) => String(e.subject).startsWith("News for ") && e.destination?.to?.[0] !== "tester@example.com",
    );
    expect(delivered.length).toBeGreaterThanOrEqual(done.stats.recipients);
    const list = await cli(["campaigns", "list"]);
    expect(list.stdout).toContain(c.id);
    const again = await cli(["campaigns", "send", c.id]);
    expect(again.code).toBe(1);
    expect(oneLine(again)).toMatch(/409 CONFLICT/);
    const past = await cli(["campaigns", "schedule", c.id, "2020-01-01T00:00:00Z"]);
    expect(past.code).toBe(1);
  });
});

describe("errors", () => {
  it("no key: exit 2 and says how to give one", async () => {
    const run = await cli(["workflows", "list"], { PLUNK_EDGE_KEY: undefined });
    expect(run.code).toBe(2);
    expect(oneLine(run)).toBe(
      "plunk-edge: no project key: give --key sk_… or set PLUNK_EDGE_KEY (or run npm start, which keeps its development project's key in .wrangler/dev-project.json)",
    );
  });

  it("a bad key: the API's 401 message", async () => {
    const run = await cli(["workflows", "list", "--key", "sk_nope"]);
    expect(run.code).toBe(1);
    expect(oneLine(run)).toMatch(/^plunk-edge: 401 INVALID_API_KEY: /);
    expect(run.stdout).toBe("");
  });

  it("an unknown command or flag: exit 2 with the usage", async () => {
    const unknown = await cli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(oneLine(unknown)).toBe('plunk-edge: unknown command "frobnicate"');
    expect(unknown.stderr).toContain("usage: plunk-edge <command>");
    const sub = await cli(["workflows", "frobnicate"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("usage: plunk-edge workflows <list|get|export|apply|enable|disable>");
    const flag = await cli(["workflows", "list", "--frob"]);
    expect(flag.code).toBe(2);
    expect(oneLine(flag)).toBe("plunk-edge: unknown flag --frob");
    expect(flag.stderr).toContain("usage: plunk-edge workflows list");
    const notHere = await cli(["workflows", "get", "wf_x", "--status", "x"]);
    expect(notHere.code).toBe(2);
    expect(oneLine(notHere)).toContain("workflows get takes no --status");
    const missingArg = await cli(["executions", "get", "wf_x"]);
    expect(missingArg.code).toBe(2);
    expect(oneLine(missingArg)).toBe("plunk-edge: missing <execId>");
  });

  it("an unreachable URL: cannot reach it", async () => {
    const port = await freePort();
    const run = await cli(["workflows", "list", "--url", `http://127.0.0.1:${port}`]);
    expect(run.code).toBe(1);
    expect(oneLine(run)).toBe(
      `plunk-edge: cannot reach http://127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    );
  });

  it("--help everywhere, on stdout, exit 0", async () => {
    for (const args of [
      ["--help"],
      ["workflows", "--help"],
      ["executions", "cancel-all", "-h"],
      ["track", "--help"],
    ]) {
      const run = await cli(args, { PLUNK_EDGE_KEY: undefined });
      expect(run.code, args.join(" ")).toBe(0);
      expect(run.stdout).toMatch(/^usage: plunk-edge/);
    }
  });

  it("runs as `npx plunk-edge` and `npm run cli --`", async () => {
    const npx = await cli(["plunk-edge", "workflows", "list", "--json"], {}, "npx");
    expect(npx.code, npx.stderr).toBe(0);
    expect(JSON.parse(npx.stdout).data.length).toBeGreaterThan(0);
    const npm = await cli(
      ["run", "--silent", "cli", "--", "workflows", "get", "wf_cli_welcome", "--json"],
      {},
      "npm",
    );
    expect(npm.code, npm.stderr).toBe(0);
    expect(JSON.parse(npm.stdout).id).toBe("wf_cli_welcome");
  });
});
