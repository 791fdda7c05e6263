/**
 * The Chromium that the npm package @sparticuz/chromium ships (no browser can be downloaded on these
 * machines), launched by playwright-core headless. Shared by the browser tests and bench/dashboard.mjs.
 */
import chromium from "@sparticuz/chromium";
import { chromium as playwright } from "playwright-core";

/**
 * Chromium's flags. Not @sparticuz/chromium's own `args`: those are for AWS Lambda and include
 * --single-process (closing one context ends the browser) and --disable-web-security (no same-origin
 * policy), which would hide exactly what these tests check. Background networking is off: this machine
 * has no network, and Chromium's own connections would be refused many at a time.
 */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--font-render-hinting=none",
];

export const launchChromium = async () =>
  playwright.launch({ executablePath: await chromium.executablePath(), args: CHROMIUM_ARGS, headless: true });

/** The same Chromium as a browser server on loopback, for several test files to connect to (`playwright.connect`). */
export const launchChromiumServer = async () =>
  playwright.launchServer({
    executablePath: await chromium.executablePath(),
    args: CHROMIUM_ARGS,
    headless: true,
    host: "127.0.0.1",
  });
