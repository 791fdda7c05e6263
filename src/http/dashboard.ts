/**
 * The dashboard's pages (dashboard/, built into the ASSETS binding under app/): served at /app/ with a
 * strict Content-Security-Policy (no inline scripts, nothing from another origin), no framing, and the
 * single-page app's index.html for any path that is not a file, so that deep links load the app.
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

const FILE = /\/[^/]+\.[A-Za-z0-9]+$/;

export async function serveDashboard(c: Context<AppEnv>): Promise<Response> {
  const url = new URL(c.req.url);
  let res = await c.env.ASSETS.fetch(new Request(url, { method: c.req.method, headers: c.req.raw.headers }));
  if (res.status === 404 && !FILE.test(url.pathname)) {
    res = await c.env.ASSETS.fetch(new Request(new URL("/app/", url), { headers: c.req.raw.headers }));
  }
  const out = new Response(res.body, res);
  out.headers.set("Content-Security-Policy", DASHBOARD_CSP);
  out.headers.set("X-Frame-Options", "DENY");
  out.headers.set("X-Content-Type-Options", "nosniff");
  out.headers.set("Referrer-Policy", "same-origin");
  out.headers.set("X-Request-Id", c.get("requestId"));
  // Vite names built files by their content: they never change. The page itself is always revalidated.
  out.headers.set(
    "Cache-Control",
    url.pathname.startsWith("/app/assets/") && res.ok ? "public, max-age=31536000, immutable" : "no-cache",
  );
  return out;
}
