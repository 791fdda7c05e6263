/**
 * The OpenAPI 3.1 document, built from the same zod schemas the routes validate with (zod's own
 * JSON Schema output). Every route the app serves has an entry here; a test holds the two together.
 */
import { z } from "zod";
import { analyticsQuery } from "./analytics";
import {
  bulkJobResponse,
  bulkResponse,
  deliveryResponse,
  emailResponse,
  executionDetailResponse,
  executionResponse,
  importReportResponse,
  page,
  sessionResponse,
  workflowDetailResponse,
  workflowResponse,
  workflowStatsResponse,
} from "./domain/responses";
import { trackBody } from "./domain/track";
import { insertStepBody, newStepBody, patchStepBody } from "./domain/workflow/config";
import { definitionBody } from "./domain/workflow/definition";
import {
  createTransition,
  createWorkflow,
  deleteStepQuery,
  duplicateWorkflow,
  patchWorkflow,
  startBody,
  workflowFieldsQuery,
} from "./domain/workflow/requests";
import { listQuery } from "./http/pagination";
import { createProject, createSignInLink } from "./routes/admin";
import {
  countAudience,
  createCampaign,
  patchCampaign,
  scheduleCampaign,
  testCampaign,
} from "./routes/campaigns";
import { createContact, listContacts, patchContact } from "./routes/contacts";
import { bulkBody, exportQuery } from "./routes/contacts-bulk";
import { listDeliveries } from "./routes/deliveries";
import { simulateBody } from "./routes/dev";
import { listEmails } from "./routes/emails";
import { eventNamesQuery, listEvents } from "./routes/events";
import { listExecutions } from "./routes/executions";
import { patchProject } from "./routes/project";
import { countSegment, createSegment, memberEmails, patchSegment } from "./routes/segments";
import { sendBody } from "./routes/send";
import { signInBody } from "./routes/session";
import { snsBody } from "./routes/sns";
import { createTemplate, patchTemplate, previewTemplate, testTemplate } from "./routes/templates";
import { statsQuery } from "./routes/workflows";

/** "secret": a secret key, or the dashboard's session cookie (see /session). */
type Auth = "admin" | "secret" | "public" | "none";

interface Operation {
  method: "get" | "post" | "put" | "patch" | "delete";
  path: string;
  tag: string;
  summary: string;
  auth: Auth;
  body?: z.ZodType;
  query?: z.ZodObject;
  /** The success status and what it carries. */
  ok: [number, string];
  /** The answer's shape (src/domain/responses.ts), where it is described. */
  response?: z.ZodType;
  /** The request body is a CSV file (not JSON), described in words. */
  csvBody?: string;
  /** The answer is a CSV file (not JSON). */
  csvResponse?: boolean;
}

const op = (
  method: Operation["method"],
  path: string,
  tag: string,
  auth: Auth,
  summary: string,
  ok: [number, string] = [200, "OK"],
  extra: Pick<Operation, "body" | "query" | "response" | "csvBody" | "csvResponse"> = {},
): Operation => ({ method, path, tag, auth, summary, ok, ...extra });

export const operations: Operation[] = [
  op("get", "/health", "Meta", "none", "Liveness"),
  op("get", "/openapi.json", "Meta", "none", "This document"),
  op("get", "/docs", "Meta", "none", "The interactive API reference (HTML)"),
  op("get", "/", "Meta", "none", "Redirects to the dashboard", [302, "To /app/"]),
  op("get", "/app", "Dashboard", "none", "Redirects to /app/", [301, "To /app/"]),
  op(
    "post",
    "/session",
    "Dashboard",
    "none",
    "Sign in: a secret key for a session cookie",
    [201, "Signed in"],
    {
      body: signInBody,
      response: sessionResponse,
    },
  ),
  op("get", "/session", "Dashboard", "none", "The signed-in project (the session cookie)", undefined, {
    response: sessionResponse,
  }),
  op("delete", "/session", "Dashboard", "none", "Sign out", [204, "Signed out"]),
  op("get", "/session/link/{token}", "Dashboard", "none", "Spend a one-time sign-in link", [
    303,
    "To /app/ signed in, or to the sign-in page",
  ]),
  op(
    "post",
    "/admin/projects",
    "Admin",
    "admin",
    "Create a project; its keys are shown once",
    [201, "Created"],
    {
      body: createProject,
    },
  ),
  op("get", "/admin/projects", "Admin", "admin", "List projects", undefined, { query: listQuery }),
  op(
    "post",
    "/admin/projects/{id}/rotate-keys",
    "Admin",
    "admin",
    "New public and secret keys; the old stop working (and the project's dashboard sessions end)",
  ),
  op(
    "post",
    "/admin/projects/{id}/sign-in-links",
    "Admin",
    "admin",
    "A one-time link that signs in to the project's dashboard",
    [201, "Created"],
    { body: createSignInLink },
  ),
  op("post", "/v1/track", "Public API", "public", "Track an event for a contact (Plunk's API)", undefined, {
    body: trackBody,
  }),
  op("post", "/v1/send", "Public API", "secret", "Send transactional email (Plunk's API)", undefined, {
    body: sendBody,
  }),
  op("get", "/project", "Project", "secret", "This project, with its retention and 30-day email stats"),
  op("patch", "/project", "Project", "secret", "Change the project's retention (days, 1–365)", undefined, {
    body: patchProject,
  }),
  op(
    "post",
    "/project/rotate-webhook-secret",
    "Project",
    "secret",
    "A new webhook secret; the old signs beside it 24 h",
  ),
  op("get", "/contacts", "Contacts", "secret", "List contacts", undefined, { query: listContacts }),
  op(
    "post",
    "/contacts",
    "Contacts",
    "secret",
    "Upsert a contact by email (201 new, 200 existing)",
    [201, "Created"],
    {
      body: createContact,
    },
  ),
  op(
    "post",
    "/contacts/import",
    "Contacts",
    "secret",
    "Import contacts from a CSV file (upsert by email; a report of rows created, updated, unchanged, refused)",
    undefined,
    {
      csvBody:
        "CSV with a header row: email (required), subscribed (true/false/yes/no/1/0, optional), every other column a data key (data.<key> names one explicitly; id, createdAt, updatedAt are ignored). At most 100 MB.",
      response: importReportResponse,
    },
  ),
  op(
    "get",
    "/contacts/export",
    "Contacts",
    "secret",
    "The contacts (or a segment's members) as CSV, streamed",
    [200, "text/csv: id, email, subscribed, createdAt, updatedAt, then one column per data key"],
    { query: exportQuery, csvResponse: true },
  ),
  op(
    "post",
    "/contacts/bulk",
    "Contacts",
    "secret",
    "Subscribe, unsubscribe or delete up to 1,000 contacts by id (200), or a segment's or a filter's (202: a job)",
    undefined,
    { body: bulkBody, response: bulkResponse },
  ),
  op("get", "/contacts/bulk/{id}", "Contacts", "secret", "A bulk job's progress", undefined, {
    response: bulkJobResponse,
  }),
  op("get", "/contacts/{id}", "Contacts", "secret", "Get a contact"),
  op("patch", "/contacts/{id}", "Contacts", "secret", "Update a contact", undefined, { body: patchContact }),
  op("delete", "/contacts/{id}", "Contacts", "secret", "Delete a contact, its events, its executions", [
    204,
    "Deleted",
  ]),
  op("get", "/contacts/{id}/events", "Contacts", "secret", "A contact's events", undefined, {
    query: listQuery,
  }),
  op(
    "get",
    "/events/names",
    "Contacts",
    "secret",
    "Event names among the newest events, with counts",
    undefined,
    {
      query: eventNamesQuery,
    },
  ),
  op("get", "/events", "Contacts", "secret", "The project's recent events, newest first", undefined, {
    query: listEvents,
  }),
  op("get", "/templates", "Templates", "secret", "List templates", undefined, { query: listQuery }),
  op("post", "/templates", "Templates", "secret", "Create a Liquid template", [201, "Created"], {
    body: createTemplate,
  }),
  op("get", "/templates/{id}", "Templates", "secret", "Get a template"),
  op("patch", "/templates/{id}", "Templates", "secret", "Update a template", undefined, {
    body: patchTemplate,
  }),
  op("delete", "/templates/{id}", "Templates", "secret", "Delete a template no step uses", [204, "Deleted"]),
  op(
    "post",
    "/templates/preview",
    "Templates",
    "secret",
    "Render a subject and body with a contact's data",
    undefined,
    {
      body: previewTemplate,
    },
  ),
  op("post", "/templates/{id}/test", "Templates", "secret", "Send a template once to an address", undefined, {
    body: testTemplate,
  }),
  op("get", "/segments", "Segments", "secret", "List segments", undefined, { query: listQuery }),
  op(
    "post",
    "/segments",
    "Segments",
    "secret",
    "Create a segment (filled in the background)",
    [201, "Created"],
    {
      body: createSegment,
    },
  ),
  op(
    "post",
    "/segments/count",
    "Segments",
    "secret",
    "Count a condition's matches (the first 10,000 contacts)",
    undefined,
    {
      body: countSegment,
    },
  ),
  op("get", "/segments/{id}", "Segments", "secret", "Get a segment"),
  op("patch", "/segments/{id}", "Segments", "secret", "Update a segment", undefined, { body: patchSegment }),
  op("delete", "/segments/{id}", "Segments", "secret", "Delete a segment", [204, "Deleted"]),
  op("get", "/segments/{id}/contacts", "Segments", "secret", "A segment's members", undefined, {
    query: listQuery,
  }),
  op(
    "post",
    "/segments/{id}/members",
    "Segments",
    "secret",
    "Add members to a static segment by email",
    undefined,
    {
      body: memberEmails,
    },
  ),
  op(
    "get",
    "/contacts/{id}/executions",
    "Contacts",
    "secret",
    "The contact's executions, newest first",
    undefined,
    {
      query: listQuery,
    },
  ),
  op("post", "/project/rotate-keys", "Project", "secret", "New public and secret keys, shown once"),
  op("get", "/analytics", "Analytics", "secret", "The project's counters by UTC day", undefined, {
    query: analyticsQuery,
  }),
  op("get", "/campaigns", "Campaigns", "secret", "List campaigns", undefined, { query: listQuery }),
  op("post", "/campaigns", "Campaigns", "secret", "Create a campaign (a DRAFT)", [201, "Created"], {
    body: createCampaign,
  }),
  op(
    "post",
    "/campaigns/count",
    "Campaigns",
    "secret",
    "Count an audience's subscribed contacts",
    undefined,
    {
      body: countAudience,
    },
  ),
  op("get", "/campaigns/{id}", "Campaigns", "secret", "Get a campaign with its stats"),
  op("patch", "/campaigns/{id}", "Campaigns", "secret", "Change a DRAFT campaign", undefined, {
    body: patchCampaign,
  }),
  op("delete", "/campaigns/{id}", "Campaigns", "secret", "Delete a DRAFT campaign", [204, "Deleted"]),
  op("post", "/campaigns/{id}/schedule", "Campaigns", "secret", "Schedule a campaign", undefined, {
    body: scheduleCampaign,
  }),
  op("post", "/campaigns/{id}/unschedule", "Campaigns", "secret", "Back to DRAFT"),
  op("post", "/campaigns/{id}/send", "Campaigns", "secret", "Send a campaign now", [202, "Sending"]),
  op("post", "/campaigns/{id}/cancel", "Campaigns", "secret", "Cancel a SCHEDULED or SENDING campaign"),
  op(
    "post",
    "/campaigns/{id}/test",
    "Campaigns",
    "secret",
    "Send a test of a campaign to an address",
    undefined,
    {
      body: testCampaign,
    },
  ),
  op(
    "post",
    "/segments/{id}/members/remove",
    "Segments",
    "secret",
    "Remove members from a static segment by email",
    undefined,
    { body: memberEmails },
  ),
  op("get", "/emails", "Emails", "secret", "List emails", undefined, {
    query: listEmails,
    response: page(emailResponse),
  }),
  op("get", "/emails/{id}", "Emails", "secret", "Get an email", undefined, { response: emailResponse }),
  op("get", "/webhook-deliveries", "Webhooks", "secret", "List webhook deliveries", undefined, {
    query: listDeliveries,
    response: page(deliveryResponse),
  }),
  op("get", "/webhook-deliveries/{id}", "Webhooks", "secret", "A delivery with every attempt", undefined, {
    response: deliveryResponse,
  }),
  op("post", "/webhook-deliveries/{id}/replay", "Webhooks", "secret", "Send a delivery again", [
    202,
    "Queued",
  ]),
  op(
    "post",
    "/workflows",
    "Workflows",
    "secret",
    "Create a workflow with its TRIGGER step",
    [201, "Created"],
    {
      body: createWorkflow,
    },
  ),
  op("get", "/workflows", "Workflows", "secret", "List workflows", undefined, {
    query: listQuery,
    response: page(workflowResponse),
  }),
  op(
    "get",
    "/workflows/{id}",
    "Workflows",
    "secret",
    "A workflow with its steps and transitions",
    undefined,
    {
      response: workflowDetailResponse,
    },
  ),
  op(
    "get",
    "/workflows/{id}/stats",
    "Workflows",
    "secret",
    "Per step: executions at it now, and its visits in the last days",
    undefined,
    { query: statsQuery, response: workflowStatsResponse },
  ),
  op(
    "patch",
    "/workflows/{id}",
    "Workflows",
    "secret",
    "Update name, description, enabled, allowReentry",
    undefined,
    {
      body: patchWorkflow,
    },
  ),
  op("delete", "/workflows/{id}", "Workflows", "secret", "Delete a workflow (409 while locked)", [
    204,
    "Deleted",
  ]),
  op(
    "post",
    "/workflows/{id}/steps",
    "Workflows",
    "secret",
    "Add a step (config validated by type)",
    [201, "Created"],
    {
      body: newStepBody,
    },
  ),
  op("patch", "/workflows/{id}/steps/{stepId}", "Workflows", "secret", "Update a step", undefined, {
    body: patchStepBody,
  }),
  op("delete", "/workflows/{id}/steps/{stepId}", "Workflows", "secret", "Delete a step", [204, "Deleted"], {
    query: deleteStepQuery,
  }),
  op(
    "get",
    "/workflows/fields",
    "Workflows",
    "secret",
    "Contact and trigger event fields seen, for editors",
    undefined,
    {
      query: workflowFieldsQuery,
    },
  ),
  op(
    "post",
    "/workflows/{id}/duplicate",
    "Workflows",
    "secret",
    "Copy a workflow (disabled, new ids)",
    [201, "Created: the copy with its steps and transitions"],
    { body: duplicateWorkflow },
  ),
  op(
    "post",
    "/workflows/{id}/transitions/{tid}/insert-step",
    "Workflows",
    "secret",
    "Put a new step into a transition",
    [201, "Created: the step and its two transitions"],
    { body: insertStepBody },
  ),
  op("post", "/workflows/{id}/transitions", "Workflows", "secret", "Connect two steps", [201, "Created"], {
    body: createTransition,
  }),
  op("delete", "/workflows/{id}/transitions/{tid}", "Workflows", "secret", "Delete a transition", [
    204,
    "Deleted",
  ]),
  op("get", "/workflows/{id}/definition", "Workflows", "secret", "The whole workflow as one definition"),
  op(
    "put",
    "/workflows/{id}/definition",
    "Workflows",
    "secret",
    "Create or replace a workflow from one definition",
    undefined,
    {
      body: definitionBody,
    },
  ),
  op("get", "/workflows/{id}/executions", "Executions", "secret", "List executions", undefined, {
    query: listExecutions,
    response: page(executionResponse),
  }),
  op(
    "post",
    "/workflows/{id}/executions",
    "Executions",
    "secret",
    "Start an execution by hand",
    [201, "Started"],
    {
      body: startBody,
    },
  ),
  op(
    "post",
    "/workflows/{id}/executions/cancel-all",
    "Executions",
    "secret",
    "Cancel every running or waiting one",
  ),
  op(
    "get",
    "/workflows/{id}/executions/{eid}",
    "Executions",
    "secret",
    "An execution with its step log",
    undefined,
    { response: executionDetailResponse },
  ),
  op(
    "delete",
    "/workflows/{id}/executions/{eid}",
    "Executions",
    "secret",
    "Cancel an execution (409 once ended)",
  ),
  op("get", "/unsubscribe/{token}", "Links", "none", "The unsubscribe page (HTML)"),
  op("post", "/unsubscribe/{token}", "Links", "none", "Unsubscribe (one-click)"),
  op("get", "/subscribe/{token}", "Links", "none", "The subscribe-again page (HTML)"),
  op("post", "/subscribe/{token}", "Links", "none", "Subscribe again"),
  op(
    "post",
    "/webhooks/sns",
    "SES",
    "none",
    "Amazon SNS notifications of SES (signature verified)",
    undefined,
    {
      body: snsBody,
    },
  ),
  // Development only (ENVIRONMENT "development" or "test"): 404 NOT_FOUND in production.
  op(
    "get",
    "/dev/sns-cert.pem",
    "Development",
    "none",
    "Development only: the SNS signing certificate of the local SES mailbox simulator (PEM)",
  ),
  op(
    "post",
    "/dev/ses/simulate",
    "Development",
    "secret",
    "Development only: SES's notification of one kind for a sent email, signed and posted to /webhooks/sns",
    [202, "Queued: { emailId, kind, messageId } (the SNS MessageId)"],
    { body: simulateBody },
  ),
];

const errorEnvelope = {
  type: "object",
  required: ["success", "error", "timestamp"],
  properties: {
    success: { const: false },
    error: {
      type: "object",
      required: ["code", "message", "statusCode", "requestId"],
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        statusCode: { type: "integer" },
        requestId: { type: "string" },
        errors: {
          type: "array",
          items: {
            type: "object",
            required: ["field", "message", "code"],
            properties: { field: { type: "string" }, message: { type: "string" }, code: { type: "string" } },
          },
        },
      },
    },
    timestamp: { type: "string", format: "date-time" },
  },
};

/**
 * The schemas a recursive validator defines (a segment's nested condition: zod puts them in `$defs`, referred
 * to as `#/$defs/…`), hoisted into components.schemas: inside an OpenAPI document a `#/…` reference resolves
 * against the document, not the embedded schema.
 */
const hoisted: Record<string, unknown> = {};

function jsonSchema(schema: z.ZodType, io: "input" | "output" = "input"): Record<string, unknown> {
  const {
    $schema: _drop,
    $defs,
    ...rest
  } = z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
  }) as Record<string, unknown>;
  if (!$defs) return rest;
  const names = new Map(
    Object.keys($defs as object).map((k, i) => [k, `Nested${Object.keys(hoisted).length + i + 1}`]),
  );
  const rename = <T>(v: T): T =>
    JSON.parse(
      JSON.stringify(v).replace(/"#\/\$defs\/([^"]+)"/g, (_, k: string) =>
        JSON.stringify(`#/components/schemas/${names.get(k) ?? k}`),
      ),
    );
  for (const [k, v] of Object.entries($defs as Record<string, unknown>))
    hoisted[names.get(k) as string] = rename(v);
  return rename(rest);
}

let cached: Record<string, unknown> | null = null;

export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const o of operations) {
    const params = [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const query = o.query
      ? Object.entries((jsonSchema(o.query).properties ?? {}) as Record<string, unknown>).map(
          ([name, schema]) => ({
            name,
            in: "query",
            required: false,
            schema,
          }),
        )
      : [];
    const security =
      o.auth === "none"
        ? []
        : o.auth === "admin"
          ? [{ adminToken: [] }]
          : o.auth === "public"
            ? [{ publicKey: [] }, { secretKey: [] }]
            : [{ secretKey: [] }];
    const responses: Record<string, unknown> = {
      [String(o.ok[0])]: {
        description: o.ok[1],
        ...(o.response
          ? { content: { "application/json": { schema: jsonSchema(o.response, "output") } } }
          : o.csvResponse
            ? { content: { "text/csv": { schema: { type: "string" } } } }
            : {}),
      },
      default: {
        description: "The error envelope",
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      },
    };
    const entry = paths[o.path] ?? {};
    paths[o.path] = entry;
    entry[o.method] = {
      tags: [o.tag],
      summary: o.summary,
      operationId: `${o.method}${o.path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? "").toUpperCase())}`,
      security,
      ...(params.length + query.length > 0 ? { parameters: [...params, ...query] } : {}),
      ...(o.body
        ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(o.body) } } } }
        : o.csvBody
          ? {
              requestBody: {
                required: true,
                description: o.csvBody,
                content: { "text/csv": { schema: { type: "string" } } },
              },
            }
          : {}),
      responses,
    };
  }
  cached = {
    openapi: "3.1.0",
    info: {
      title: "Plunk Edge",
      version: "0.1.0",
      description:
        "Plunk's event-triggered workflows and webhooks on Cloudflare Workers. Every error is the envelope in components.schemas.Error.",
    },
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas: { Error: errorEnvelope, ...hoisted },
      securitySchemes: {
        secretKey: {
          type: "http",
          scheme: "bearer",
          description:
            "The project's secret key, sk_… (or, from the dashboard's pages, the plunk_session cookie that POST /session sets)",
        },
        publicKey: {
          type: "http",
          scheme: "bearer",
          description: "The project's public key, pk_… (only /v1/track)",
        },
        adminToken: { type: "http", scheme: "bearer", description: "The ADMIN_TOKEN secret" },
      },
    },
  };
  return cached;
}

/**
 * The reference page: Swagger UI over /openapi.json, its files served by this worker from its assets
 * (/docs/…, copied from swagger-ui-dist by scripts/build-docs-assets.mjs), so it asks nothing of another
 * origin and works offline.
 */
export const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plunk Edge API</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body>
<div id="swagger-ui" data-url="/openapi.json"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
<noscript><p>The API reference needs JavaScript. The document itself is at <a href="/openapi.json">/openapi.json</a>.</p></noscript>
</body></html>`;
