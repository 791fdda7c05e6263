/**
 * Unsubscribe and subscribe links (no key: the signed token names one contact). GET shows a page,
 * POST acts (also the one-click `List-Unsubscribe-Post` of mail clients). A status change is stored as
 * `contact.unsubscribed` / `contact.subscribed` on the one event path.
 */
import { Hono } from "hono";
import { statusChangeEvent } from "../db/contact-sql";
import { databaseOf, everyDatabase, projectEnv } from "../db/databases";
import { dispatchOrDefer } from "../dispatch";
import { newId } from "../domain/ids";
import { tokenTarget, verifyUnsubscribeToken } from "../domain/unsubscribe";
import type { Env } from "../env";
import type { AppEnv } from "../http/context";
import { refreshSegments } from "../segments";

interface Target {
  /** The env of the contact's project (its database). */
  env: Env;
  contactId: string;
  projectId: string;
  email: string;
  subscribed: boolean;
}

/** A link that names no contact, or whose signature does not hold: a page that says so (HTTP 404). */
class InvalidLink extends Error {}

interface ContactOfToken {
  id: string;
  project_id: string;
  email: string;
  subscribed: number;
  signing_secret: string | null;
}

async function resolve(env: Env, token: string): Promise<Target> {
  const refused = new InvalidLink();
  const target = tokenTarget(token);
  if (!target) throw refused;
  // By (project, id), the key of contacts, in the project's database. A token made before tokens named
  // their project reads the contact by id alone, in each database: a scan of contacts, for links in
  // emails sent before that change.
  const database = target.projectId ? await databaseOf(env, target.projectId) : null;
  if (target.projectId && !database) throw refused;
  let row: ContactOfToken | null = null;
  let projectDbEnv = env;
  for (const dbEnv of database ? [projectEnv(env, database)] : everyDatabase(env)) {
    projectDbEnv = dbEnv;
    row = await dbEnv.DB.prepare(
      `SELECT c.id, c.project_id, c.email, c.subscribed, p.signing_secret FROM contacts c
       JOIN projects p ON p.id = c.project_id WHERE c.id = ?1 ${target.projectId ? "AND c.project_id = ?2" : ""}`,
    )
      .bind(target.contactId, ...(target.projectId ? [target.projectId] : []))
      .first<ContactOfToken>();
    if (row) break;
  }
  if (!row?.signing_secret || !(await verifyUnsubscribeToken(row.signing_secret, token))) throw refused;
  return {
    env: projectDbEnv,
    contactId: row.id,
    projectId: row.project_id,
    email: row.email,
    subscribed: Boolean(row.subscribed),
  };
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch] as string,
  );

function page(title: string, text: string, action?: { path: string; label: string }) {
  const form = action
    ? `<form method="post" action="${escapeHtml(action.path)}"><button type="submit">${escapeHtml(action.label)}</button></form>`
    : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font-size:1rem;padding:.5rem 1rem}</style></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>${form}</body></html>`;
}

async function setStatus(
  env: Env,
  log: AppEnv["Variables"]["log"],
  t: Target,
  subscribed: boolean,
  campaignId?: string,
) {
  const now = Date.now();
  const eventId = newId("evt", now);
  const [changed] = await env.DB.batch([
    statusChangeEvent(env, { contactId: t.contactId }, { eventId, projectId: t.projectId, subscribed, now }),
    // From a campaign's email: the campaign counts the unsubscription, if the status really changed.
    ...(campaignId && !subscribed
      ? [
          env.DB.prepare(
            "UPDATE campaigns SET unsubscribed = unsubscribed + 1 WHERE id = ?1 AND project_id = ?2 AND changes() = 1",
          ).bind(campaignId, t.projectId),
        ]
      : []),
    env.DB.prepare(
      "UPDATE contacts SET subscribed = ?1, updated_at = ?2 WHERE project_id = ?3 AND id = ?4",
    ).bind(subscribed ? 1 : 0, now, t.projectId, t.contactId),
  ]);
  if (changed?.meta.changes) {
    await dispatchOrDefer(env, log, t.projectId, [eventId]);
    await refreshSegments(env, log, t.projectId, [t.contactId]);
  }
}

const invalidPage = () =>
  page(
    "This link is not valid",
    "It may have been copied incompletely, or altered. Use the link from the latest email you received; nothing was changed.",
  );

export const unsubscribeRoutes = new Hono<AppEnv>()
  // A person follows these links from an email: a bad one gets a page in words, not the API's JSON.
  .onError((err, c) => {
    if (err instanceof InvalidLink) return c.html(invalidPage(), 404);
    throw err;
  })
  .get("/unsubscribe/:token", async (c) => {
    const t = await resolve(c.env, c.req.param("token"));
    const campaign = c.req.query("campaign");
    const path = `/unsubscribe/${c.req.param("token")}${campaign ? `?campaign=${encodeURIComponent(campaign)}` : ""}`;
    return c.html(
      t.subscribed
        ? page("Unsubscribe", `Stop emails to ${t.email}?`, { path, label: "Unsubscribe" })
        : page("Unsubscribed", `${t.email} gets no more emails.`, {
            path: `/subscribe/${c.req.param("token")}`,
            label: "Subscribe again",
          }),
    );
  })
  .post("/unsubscribe/:token", async (c) => {
    const t = await resolve(c.env, c.req.param("token"));
    await setStatus(t.env, c.get("log"), t, false, c.req.query("campaign"));
    return c.html(
      page("Unsubscribed", `${t.email} gets no more emails.`, {
        path: `/subscribe/${c.req.param("token")}`,
        label: "Subscribe again",
      }),
    );
  })
  .get("/subscribe/:token", async (c) => {
    const t = await resolve(c.env, c.req.param("token"));
    return c.html(
      page("Subscribe", `Receive emails at ${t.email} again?`, {
        path: `/subscribe/${c.req.param("token")}`,
        label: "Subscribe",
      }),
    );
  })
  .post("/subscribe/:token", async (c) => {
    const t = await resolve(c.env, c.req.param("token"));
    await setStatus(t.env, c.get("log"), t, true);
    return c.html(page("Subscribed", `${t.email} is subscribed again.`));
  });
