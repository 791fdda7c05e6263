import { describe, expect, it } from "vitest";
import { newId } from "../src/domain/ids";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const timeOf = (id: string) =>
  [...(id.split("_")[1] ?? "").slice(0, 10)].reduce((t, ch) => t * 32 + ALPHABET.indexOf(ch), 0);

describe("newId", () => {
  it("is the prefix, 10 characters of time and 16 random ones, in Crockford base32", () => {
    const now = Date.UTC(2026, 10, 23, 9, 30);
    const id = newId("evt", now);
    expect(id).toMatch(/^evt_[0-9a-hjkmnp-tv-z]{26}$/);
    expect(timeOf(id)).toBe(now);
  });

  it("sorts ids made in one millisecond in the order they were made, across carries", () => {
    const now = Date.UTC(2026, 10, 23, 9, 31);
    const ids = Array.from({ length: 2_000 }, () => newId("ctc", now));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(timeOf(id)).toBe(now);
  });

  it("sorts by time first, and draws a new random part for a new millisecond", () => {
    const now = Date.UTC(2026, 10, 23, 9, 32);
    const a = newId("evt", now);
    const b = newId("evt", now + 1);
    const c = newId("evt", now + 2);
    expect([c, a, b].sort()).toEqual([a, b, c]);
    // Not the previous id's random part plus one (1 in 2^80 to fail by chance).
    const randomOf = (id: string) => id.slice(-16);
    expect(new Set([a, b, c].map(randomOf)).size).toBe(3);
  });
});
