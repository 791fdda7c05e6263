/**
 * The hot statements of campaigns and behaviour segments read by keys, whatever the table's size: their
 * EXPLAIN QUERY PLAN names an index or the primary key for each table and scans none (a plain join once let
 * SQLite scan a project's contacts for each fan-out page: 100,000 contacts made a campaign crawl).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FANOUT_INSERT } from "../src/campaigns";
import { EVENT_COUNTS } from "../src/segments";
import { GROUP_READ, TRACKS_READ } from "../src/shard/pages";

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}

describe("query plans", () => {
  for (const [name, sql, params, uses] of [
    ["a campaign page's emails", FANOUT_INSERT, ["prj_x", "cmp_x", 1, "[]"], /SEARCH c USING PRIMARY KEY/],
    [
      "a segment's event counts",
      EVENT_COUNTS,
      ["prj_x", "[]", "[]"],
      /SEARCH e USING INDEX events_contact_created/,
    ],
    [
      "a shard commit's read (workflows, contacts, stored events, earlier runs)",
      GROUP_READ,
      ["prj_x", '["a"]', '["evt_x"]', '["a@b.c"]', '[["wf_x","ctc_x"]]'],
      /SEARCH e USING INDEX events_contact_created/,
    ],
    [
      "a shard commit's read of tracks whose workflows it knows",
      TRACKS_READ,
      ["prj_x", "[]", "[]", '["a@b.c"]', "[]", '["wf_x"]'],
      /SEARCH e USING INDEX events_contact_created/,
    ],
  ] as const) {
    it(`${name}: by keys, no table scanned`, async () => {
      const details = await plan(sql, [...params]);
      const text = details.join("\n");
      expect(
        details.filter(
          (d) =>
            /^SCAN /.test(d) &&
            !/^SCAN (json_each|r|ct|q|m|x|g|j|w)\b/.test(d) &&
            !/^SCAN (CONSTANT ROW|\(subquery-\d+\))/.test(d),
        ),
        text,
      ).toEqual([]);
      expect(text).toMatch(uses);
    });
  }
});
