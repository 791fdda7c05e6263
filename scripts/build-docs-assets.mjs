#!/usr/bin/env node
// The API reference's files (served at /docs/… from the assets directory, beside the dashboard's app/):
// Swagger UI's bundle and stylesheet from the swagger-ui-dist package, and our init.js (dashboard/docs/).
// Run by `npm run build:dashboard` and `npm start`.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const out = path.join(root, "dashboard", "dist", "docs");
const ui = path.join(root, "node_modules", "swagger-ui-dist");
fs.mkdirSync(out, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"]) {
  fs.copyFileSync(path.join(ui, file), path.join(out, file === "LICENSE" ? "swagger-ui-LICENSE.txt" : file));
}
fs.copyFileSync(path.join(root, "dashboard", "docs", "init.js"), path.join(out, "init.js"));
