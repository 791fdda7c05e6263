/**
 * The dashboard's build: a React single-page app served by the worker at /app/ (Workers Static Assets,
 * `[assets]` in wrangler.toml). The output goes to dist/app/ so that a URL /app/x is the file app/x of
 * the assets directory (dashboard/dist).
 */
import path from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "/app/",
  plugins: [react()],
  build: {
    outDir: path.join(import.meta.dirname, "dist", "app"),
    emptyOutDir: true,
    // No inline scripts or styles: the pages' Content-Security-Policy allows only files of this origin.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
