/** Contacts in bulk (API.md "Contacts in bulk"): CSV import and export, bulk changes by id. */
import { Hono } from "hono";
import { z } from "zod";
import { BULK_ACTIONS, BULK_IDS_MAX, bulkByIds, loadJob, showJob, startJob } from "../contacts/bulk";
import { exportContacts } from "../contacts/export";
import { IMPORT_MAX_BYTES, importContacts } from "../contacts/import";
import { type SegmentCondition, segmentCondition } from "../domain/segments";
import { projectAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { ApiError, fieldError, notFound } from "../http/errors";
import { isProjectSegment } from "../segments";

export const exportQuery = z.strictObject({
  segmentId: z.string().min(1).max(100).optional(),
});

/** Which contacts: up to 1,000 `ids` (done in the request), or a segment's members or a filter (a job). */
export const bulkBody = z
  .strictObject({
    action: z.enum(BULK_ACTIONS),
    ids: z.array(z.string().min(1).max(100)).min(1).max(BULK_IDS_MAX).optional(),
    segmentId: z.string().min(1).max(100).optional(),
    filter: segmentCondition.optional(),
  })
  .refine((b) => [b.ids, b.segmentId, b.filter].filter((x) => x !== undefined).length === 1, {
    message: "Give one of ids, segmentId and filter",
    path: ["ids"],
  });

export const contactBulkRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .post("/import", async (c) => {
    const declared = Number(c.req.header("content-length") ?? Number.NaN);
    if (declared > IMPORT_MAX_BYTES) {
      throw new ApiError(413, "PAYLOAD_TOO_LARGE", `An import is at most ${IMPORT_MAX_BYTES} bytes`);
    }
    const projectId = c.get("project").id;
    const report = await importContacts(c.env, c.get("log"), projectId, c.req.raw.body);
    c.get("log").info("contacts imported", {
      projectId,
      rows: report.rows,
      created: report.created,
      updated: report.updated,
      unchanged: report.unchanged,
      refused: report.refusedCount,
    });
    return c.json(report);
  })
  .get("/export", async (c) => {
    const q = parseQuery(c, exportQuery);
    const projectId = c.get("project").id;
    if (q.segmentId) {
      if (!(await isProjectSegment(c.env, projectId, q.segmentId)))
        throw notFound("Segment", "SEGMENT_NOT_FOUND");
    }
    const name = q.segmentId ? `contacts-${q.segmentId}.csv` : "contacts.csv";
    return c.body(exportContacts(c.env, c.get("log"), projectId, q.segmentId ?? null), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
    });
  })
  .post("/bulk", async (c) => {
    const { data } = await parseJson(c, bulkBody);
    const projectId = c.get("project").id;
    if (data.ids) return c.json(await bulkByIds(c.env, c.get("log"), projectId, data.action, data.ids));
    if (data.segmentId) {
      if (!(await isProjectSegment(c.env, projectId, data.segmentId)))
        throw fieldError("segmentId", "No segment with this id in the project", "unknown_segment");
    }
    const job = await startJob(
      c.env,
      projectId,
      data.action,
      data.segmentId ? { segmentId: data.segmentId } : { filter: data.filter as SegmentCondition },
    );
    c.get("log").info("bulk job started", { jobId: job.id, action: data.action });
    return c.json(showJob(job), 202);
  })
  .get("/bulk/:id", async (c) => {
    const job = await loadJob(c.env, c.get("project").id, c.req.param("id"));
    if (!job) throw notFound("Bulk job", "BULK_JOB_NOT_FOUND");
    return c.json(showJob(job));
  });
