// Plunk's official client, unchanged, against the running worker.
import Plunk from "@plunk/node";
import { NotFoundError } from "@plunk/node/dist/errors/NotFound.js";
import { TokenError } from "@plunk/node/dist/errors/TokenError.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedStack } from "./shared-stack";
import type { Stack } from "./stack";

let stack: Stack;
let keys: { publicKey: string; secretKey: string };

beforeAll(async () => {
  stack = await sharedStack();
  const made = await stack.admin("POST", "/admin/projects", { name: "Plunk client" });
  expect(made.status).toBe(201);
  keys = made.body;
});

afterAll(async () => {
  await stack?.stop();
});

describe("@plunk/node against the worker", () => {
  it("tracks an event with the public key and the contact exists afterwards", async () => {
    const plunk = new Plunk(keys.publicKey, { baseUrl: `${stack.base}/v1/` });
    const res = (await plunk.events.track({
      event: "signed-up",
      email: "Ada@Example.com",
      data: { plan: "pro" },
    })) as any;
    expect(res.success).toBe(true);
    expect(res.data.contact).toMatch(/^ctc_/);
    expect(res.data.event).toMatch(/^evt_/);

    const contact = await fetch(`${stack.base}/contacts/${res.data.contact}`, {
      headers: { authorization: `Bearer ${keys.secretKey}` },
    });
    expect(await contact.json()).toMatchObject({ email: "ada@example.com", data: { plan: "pro" } });
  });

  it("a bad key raises the client's TokenError (401)", async () => {
    const plunk = new Plunk("pk_not-a-real-key", { baseUrl: `${stack.base}/v1/` });
    await expect(plunk.events.track({ event: "x", email: "a@example.com" })).rejects.toBeInstanceOf(
      TokenError,
    );
  });

  it("an unknown route raises the client's NotFoundError (404)", async () => {
    const plunk = new Plunk(keys.secretKey, { baseUrl: `${stack.base}/v1/nowhere/` });
    await expect(plunk.events.track({ event: "x", email: "a@example.com" })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});
