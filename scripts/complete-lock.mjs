#!/usr/bin/env node
// Completes package-lock.json with the platform-specific optional packages (darwin, win32, musl, …) that
// the registry mirror on our build machines does not serve, so npm left them out of the lock, and then
// `npm ci` refuses the lock as out of sync. Each one is added as an optional entry with the os/cpu its
// name states, so that npm skips it on every other platform without fetching it. Run it after every
// `npm install` that changes the lock: `node scripts/complete-lock.mjs`.
import fs from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, "utf8"));
const pkgs = lock.packages;

function platformOf(name) {
  const n = name.toLowerCase();
  const os = /darwin|macos/.test(n)
    ? "darwin"
    : /win32|windows/.test(n)
      ? "win32"
      : /android/.test(n)
        ? "android"
        : /freebsd/.test(n)
          ? "freebsd"
          : /openbsd/.test(n)
            ? "openbsd"
            : /netbsd/.test(n)
              ? "netbsd"
              : /sunos/.test(n)
                ? "sunos"
                : /aix/.test(n)
                  ? "aix"
                  : /linux/.test(n)
                    ? "linux"
                    : null;
  const cpu = /arm64|aarch64/.test(n)
    ? "arm64"
    : /x64|amd64|-64\b|64$/.test(n)
      ? "x64"
      : /ia32|x86/.test(n)
        ? "ia32"
        : /arm/.test(n)
          ? "arm"
          : /ppc64/.test(n)
            ? "ppc64"
            : /s390x/.test(n)
              ? "s390x"
              : /riscv64/.test(n)
                ? "riscv64"
                : /loong64/.test(n)
                  ? "loong64"
                  : /mips64el/.test(n)
                    ? "mips64el"
                    : null;
  const libc = /musl/.test(n) ? "musl" : null;
  return { os, cpu, libc };
}

/** Where npm would look for `dep` from the package at `path`: its own node_modules, then upward. */
function resolves(path, dep) {
  let base = path;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${dep}` : `node_modules/${dep}`;
    if (pkgs[candidate]) return true;
    if (!base) return false;
    const i = base.lastIndexOf("/node_modules/");
    base = i === -1 ? "" : base.slice(0, i);
  }
}

let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    if (resolves(path, dep)) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os || (os === "linux" && !libc && cpu === "x64")) continue; // this machine's own: npm has it
    const at = path ? `${path}/node_modules/${dep}` : `node_modules/${dep}`;
    const entry = { version: spec.replace(/^[\^~=]/, ""), optional: true };
    if (meta.dev) entry.dev = true;
    entry.os = [os];
    if (cpu) entry.cpu = [cpu];
    if (libc) entry.libc = [libc];
    pkgs[at] = entry;
    added++;
  }
}
const sorted = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
);
lock.packages = sorted;
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} platform entries`);
