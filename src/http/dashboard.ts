/**
 * Pages served from the ASSETS binding (dashboard/dist): the dashboard at /app/ (app/), with a strict
 * Content-Security-Policy (no inline scripts, nothing from another origin), no framing, and the
 * single-page app's index.html for any path that is not a file, so that deep links load the app; and the
 * API reference's files at /docs/ (docs/: Swagger UI), whose page is /docs itself.
 */
import type { Context } from "hono";
import type { AppEnv } from "./context";

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The API reference: Swagger UI sets style attributes as it renders, so inline styles are allowed there. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const FILE = /\/[^/]+\.[A-Za-z0-9]+$/;

export const serveDashboard = (c: Context<AppEnv>) => serveAsset(c, DASHBOARD_CSP, "/app/");
export const serveDocsAsset = (c: Context<AppEnv>) => serveAsset(c, DOCS_CSP, null);

/** `page` (HTML of our own) with the headers of the pages served from assets. */
export function withPageHeaders(c: Context<AppEnv>, res: Response, csp: string): Response {
  res.headers.set("Content-Security-Policy", csp);
  res.headers.set("X-Frame-Options", "DENY");
  res.headers.set("X-Content-Type-Options", "nosniff");
  res.headers.set("Referrer-Policy", "same-origin");
  res.headers.set("X-Request-Id", c.get("requestId"));
  return res;
}

async function serveAsset(c: Context<AppEnv>, csp: string, spaIndex: string | null): Promise<Response> {
  const url = new URL(c.req.url);
  let res = await c.env.ASSETS.fetch(new Request(url, { method: c.req.method, headers: c.req.raw.headers }));
  if (res.status === 404 && spaIndex && !FILE.test(url.pathname)) {
    res = await c.env.ASSETS.fetch(new Request(new URL(spaIndex, url), { headers: c.req.raw.headers }));
  }
  const out = withPageHeaders(c, new Response(res.body, res), csp);
  // Vite names built files by their content: they never change. The page itself is always revalidated.
  out.headers.set(
    "Cache-Control",
    url.pathname.startsWith("/app/assets/") && res.ok ? "public, max-age=31536000, immutable" : "no-cache",
  );
  return out;
}
