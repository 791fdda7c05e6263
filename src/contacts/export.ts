/**
 * `GET /contacts/export`: the project's contacts (or a segment's members) as CSV, streamed: a first pass
 * over the contacts' key collects the data keys (the header needs them), then the rows follow, a page
 * of the key at a time. Nothing is held beyond a page. The file imports back as it is.
 */
import type { ContactRowRaw } from "../db/contact-sql";
import { csvLine, writeCell } from "../domain/csv";
import { iso } from "../domain/shapes";
import type { Env } from "../env";
import type { Logger } from "../log";

const KEY_PAGE = 1000;
const ROW_PAGE = 500;
const FIXED = ["id", "email", "subscribed", "createdAt", "updatedAt"];

/** The page of contacts after `after` (all, or a segment's members), by the key the page is a range of. */
function pageSql(columns: string, segmentId: string | null): string {
  return segmentId
    ? `SELECT ${columns} FROM segment_members m JOIN contacts c ON c.project_id = ?1 AND c.id = m.contact_id
        WHERE m.segment_id = ?4 AND m.project_id = ?1 AND m.contact_id > ?2 ORDER BY m.contact_id LIMIT ?3`
    : `SELECT ${columns} FROM contacts c WHERE c.project_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3`;
}

/**
 * A data key's column: its name, or `data.<key>` where the name would be read as another column (one of
 * the fixed ones, one that starts with `data.`, or one with spaces around it, which the import trims).
 */
export function dataColumn(key: string): string {
  const plain =
    !FIXED.map((f) => f.toLowerCase()).includes(key.toLowerCase()) &&
    !key.startsWith("data.") &&
    key.trim() === key;
  return plain ? key : `data.${key}`;
}

export function exportContacts(
  env: Env,
  log: Logger,
  projectId: string,
  segmentId: string | null,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const bind = (s: D1PreparedStatement, after: string, limit: number) =>
    segmentId ? s.bind(projectId, after, limit, segmentId) : s.bind(projectId, after, limit);
  let keys: string[] | null = null;
  let after = "";
  let rows = 0;

  /** Pass one: every data key of the contacts, a page of ids at a time (the rows stay in D1). */
  const collectKeys = async () => {
    const seen = new Set<string>();
    const stmt = env.DB.prepare(
      `WITH page AS (${pageSql("c.id, c.data", segmentId)})
       SELECT (SELECT max(id) FROM page) AS last, (SELECT count(*) FROM page) AS n,
              (SELECT json_group_array(DISTINCT j.key) FROM page, json_each(page.data) j) AS keys`,
    );
    for (let from = ""; ; ) {
      const r = await bind(stmt, from, KEY_PAGE).first<{ last: string | null; n: number; keys: string }>();
      for (const k of JSON.parse(r?.keys ?? "[]") as string[]) if (k !== "") seen.add(k);
      if (!r?.last || r.n < KEY_PAGE) break;
      from = r.last;
    }
    return [...seen].sort();
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!keys) {
          keys = await collectKeys();
          controller.enqueue(encoder.encode(csvLine([...FIXED, ...(keys ?? []).map(dataColumn)])));
          return;
        }
        const { results } = await bind(
          env.DB.prepare(
            pageSql("c.id, c.email, c.subscribed, c.data, c.created_at, c.updated_at", segmentId),
          ),
          after,
          ROW_PAGE,
        ).all<ContactRowRaw>();
        let text = "";
        for (const r of results) {
          const data = JSON.parse(r.data) as Record<string, unknown>;
          text += csvLine([
            r.id,
            r.email,
            r.subscribed ? "true" : "false",
            iso(r.created_at) ?? "",
            iso(r.updated_at) ?? "",
            ...(keys ?? []).map((k) => writeCell(Object.hasOwn(data, k) ? data[k] : undefined)),
          ]);
        }
        rows += results.length;
        if (text) controller.enqueue(encoder.encode(text));
        const last = results[results.length - 1];
        if (!last || results.length < ROW_PAGE) {
          controller.close();
          log.info("contacts exported", { projectId, segmentId, rows, columns: FIXED.length + keys.length });
          return;
        }
        after = last.id;
      } catch (err) {
        log.error("contacts export failed", { projectId, segmentId, rows, error: String(err) });
        controller.error(err);
      }
    },
  });
}
