// The CLI's workflow file handling on its own (no worker): parsing with file:line:col errors, the local
// checks, and the canonical layout that export writes. cli.test.ts runs the same files against the worker.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { canonical, parseText, problemsOf, readDefinition, serialize } from "../../cli/definition.ts";

const fixtures = path.resolve(import.meta.dirname, "../cli/fixtures");
const fixture = (name: string) => fs.readFileSync(path.join(fixtures, name), "utf8");

describe("workflow files", () => {
  it("the fixtures are in the canonical layout: serialize(parse(text)) is the text", () => {
    for (const [name, format] of [
      ["onboarding.yaml", "yaml"],
      ["welcome.json", "json"],
    ] as const) {
      const text = fixture(name);
      expect(serialize(readDefinition(text, name), format)).toBe(text);
    }
  });

  it("YAML and JSON of one workflow are the same object", () => {
    const fromJson = readDefinition(fixture("welcome.json"), "welcome.json");
    const asYaml = serialize(fromJson, "yaml");
    expect(readDefinition(asYaml, "welcome.yaml")).toEqual(fromJson);
    expect(asYaml).toContain("  - { from: trigger, to: pause }\n");
  });

  it("orders keys canonically, drops null description and branch, keeps unknown keys last", () => {
    const out = canonical({
      transitions: [{ branch: null, to: "b", from: "trigger" }],
      steps: { b: { config: { reason: "x" }, type: "EXIT" } },
      extra: 1,
      allowReentry: false,
      enabled: true,
      eventName: "e",
      description: null,
      name: "N",
      id: "wf_a",
    });
    expect(Object.keys(out)).toEqual([
      "id",
      "name",
      "eventName",
      "enabled",
      "allowReentry",
      "steps",
      "transitions",
      "extra",
    ]);
    expect(out.transitions).toEqual([{ from: "trigger", to: "b" }]);
    expect(Object.keys((out.steps as any).b)).toEqual(["type", "config"]);
  });

  it("quotes strings that YAML 1.1 readers take for booleans, and never folds long lines", () => {
    const long = `https://example.com/${"x".repeat(200)}`;
    const text = serialize(
      {
        id: "wf_q",
        name: "yes",
        eventName: "on",
        steps: { w: { type: "WEBHOOK", config: { url: long } } },
        transitions: [{ from: "trigger", to: "w", branch: "no" }],
      },
      "yaml",
    );
    expect(text).toContain('name: "yes"\n');
    expect(text).toContain('eventName: "on"\n');
    expect(text).toContain(`url: ${long}\n`);
    expect(text).toContain('branch: "no"');
  });

  it("syntax errors name the file, line and column", () => {
    expect(() => parseText("id: wf_a\nsteps:\n  a: [1, 2\n", "x.yaml")).toThrow(
      /^x\.yaml:\d+:\d+: not valid YAML: /,
    );
    expect(() => parseText("id: a\nid: b\n", "dup.yaml")).toThrow(/^dup\.yaml:2:1: not valid YAML: .*unique/);
    expect(() => parseText('{\n  "id": "wf_a",\n  "name" 1\n}', "x.json")).toThrow(
      /^x\.json:3:10: not valid JSON: Expected ':' after property name/,
    );
    // No extension: the first character decides.
    expect(parseText(' {"id": "wf_a"}', "wf")).toEqual({ id: "wf_a" });
    expect(parseText("id: wf_a\n", "wf")).toEqual({ id: "wf_a" });
  });

  it("finds every structural problem, with the API's field paths", () => {
    expect(problemsOf([])).toHaveLength(1);
    expect(problemsOf({})).toEqual([
      "id: missing (the file names its workflow: id: wf_…)",
      "name: missing (a non-empty string)",
      "eventName: missing (the event that starts the workflow, or give schedule)",
    ]);
    expect(problemsOf({ id: "wf_a", name: "N", eventName: "e", schedule: { cron: "@daily" } })).toEqual([
      "eventName: give eventName or schedule, not both",
    ]);
    expect(problemsOf({ id: "wf_a", name: "N", schedule: "daily" })).toEqual([
      'schedule: must be {cron: "0 9 * * 1", segmentId?: seg_…} (when the workflow starts)',
    ]);
    const problems = problemsOf({
      id: "wf_bad id",
      name: "N",
      eventName: "e",
      enabled: "yes",
      steps: {
        trigger: { type: "EXIT", config: {} },
        t: { type: "TRIGGER", config: {} },
        s: { type: "SLEEP", config: [] },
        "bad key": { type: "EXIT" },
      },
      transitions: [
        { from: "trigger", to: "ghost" },
        { from: "s", to: "trigger" },
        { from: "trigger", to: "s", branch: "maybe" },
        "x",
      ],
    });
    expect(problems).toEqual([
      'id: "wf_bad id" is not a workflow id (wf_ then 1–64 of A-Z a-z 0-9 _ -)',
      "enabled: must be true or false",
      'steps.trigger: "trigger" is the TRIGGER step, made from eventName or schedule: do not list it',
      "steps.t.type: the TRIGGER step is made from eventName or schedule: do not list it",
      'steps.s.type: unknown step type "SLEEP" (one of SEND_EMAIL, DELAY, WAIT_FOR_EVENT, CONDITION, WEBHOOK, UPDATE_CONTACT, EXIT)',
      "steps.s.config: must be a mapping",
      "steps.bad key: a step key is 1–64 of A-Z a-z 0-9 _ -",
      'transitions.0.to: no step "ghost" in steps',
      "transitions.1.to: nothing leads into the trigger",
      'transitions.2.branch: "maybe" is not a branch of "trigger" (this step\'s way on has none: leave it out)',
      "transitions.3: must be a mapping {from, to, branch?}",
    ]);
  });

  it("checks a transition's branch against its step: a multi-branch CONDITION's ids and default", () => {
    const plan = {
      type: "CONDITION",
      config: {
        mode: "multi",
        field: "event.plan",
        branches: [
          { id: "pro", name: "Pro", operator: "equals", value: "pro" },
          { id: "team", name: "Team", operator: "equals", value: "team" },
        ],
      },
    };
    const file = (branches: string[]) => ({
      id: "wf_a",
      name: "N",
      eventName: "e",
      steps: { plan, two: { type: "CONDITION", config: {} }, end: { type: "EXIT" } },
      transitions: branches.map((branch) => ({ from: branch === "yes" ? "two" : "plan", to: "end", branch })),
    });
    expect(problemsOf(file(["pro", "team", "default", "yes"]))).toEqual([]);
    expect(problemsOf(file(["gold", "no"]))).toEqual([
      'transitions.0.branch: "gold" is not a branch of "plan" (one of pro, team, default)',
      'transitions.1.branch: "no" is not a branch of "plan" (one of pro, team, default)',
    ]);
  });

  it("steps, transitions, step names and description may be left out", () => {
    expect(problemsOf({ id: "wf_a", name: "N", eventName: "e" })).toEqual([]);
    expect(
      problemsOf({ id: "wf_a", name: "N", schedule: { cron: "0 9 * * 1", segmentId: "seg_x" } }),
    ).toEqual([]);
    expect(problemsOf({ id: "wf_a", name: "N", eventName: "e", steps: { a: { type: "EXIT" } } })).toEqual([]);
    expect(() => readDefinition("id: wf_a\nname: N\neventName: e\nsteps: 3\n", "f.yaml")).toThrow(
      /^f\.yaml: steps: must be a mapping/,
    );
  });
});
