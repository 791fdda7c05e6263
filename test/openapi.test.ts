import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { call } from "./helpers";

describe("GET /openapi.json", () => {
  it("documents every route the app serves, and nothing it does not", async () => {
    const res = await call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe("3.1.0");
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const served = new Set<string>();
    for (const r of app.routes) {
      if (r.method === "ALL" || r.path.endsWith("*")) continue; // middleware
      served.add(`${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    }
    expect([...served].filter((s) => !documented.has(s))).toEqual([]);
    expect([...documented].filter((d) => !served.has(d))).toEqual([]);
  });

  it("describes request bodies with the validators' schemas", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    const track = doc.paths["/v1/track"].post.requestBody.content["application/json"].schema;
    expect(track.required).toEqual(expect.arrayContaining(["event", "email"]));
    const step = doc.paths["/workflows/{id}/steps"].post.requestBody.content["application/json"].schema;
    expect(JSON.stringify(step)).toContain("WAIT_FOR_EVENT");
    expect(doc.paths["/workflows/{id}/executions"].get.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(["id", "status", "limit", "cursor"]),
    );
  });

  it("serves an interactive reference at /docs", async () => {
    const res = await call("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(String(res.body)).toContain("/openapi.json");
  });
});
