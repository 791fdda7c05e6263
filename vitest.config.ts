import os from "node:os";
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  /** The worker under test in workerd, with the test-only bindings (`engine`: TEST_ENGINE, test/helpers.ts). */
  const worker = (extra: Record<string, string> = {}) =>
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: migrations,
          ENVIRONMENT: "test",
          ADMIN_TOKEN: "test-admin-token",
          // SNS certificates of the tests' own (test/fixtures) are served from here by a fetch spy.
          SNS_DEV_CERT_ORIGIN: "http://sns-certs.test",
          ...extra,
        },
      },
    });
  return {
    test: {
      silent: "passed-only" as const,
      projects: [
        {
          plugins: [worker()],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/e2e/**", "test/browser/**"],
            setupFiles: ["./test/setup/apply-migrations.ts"],
            silent: "passed-only" as const,
            // Two files at a time even on a 2-core machine (vitest's default there is one: cores - 1): most
            // of a file's time is its runtime starting, which overlaps well. These files run first, then
            // e2e's and browser's, one at a time.
            maxWorkers: Math.max(2, os.availableParallelism() - 1),
          },
        },
        {
          // The worker suite's files about what events set off, run again with the test projects on the shard
          // engine (test/helpers.ts reads TEST_ENGINE): the same assertions hold on both engines. The other
          // files read the objects engine's insides (docs/engine.md, "Where the port stands").
          plugins: [worker({ TEST_ENGINE: "shard" })],
          test: {
            name: "shard",
            include: [
              "test/track.test.ts",
              "test/idempotency.test.ts",
              "test/segments-behaviour.test.ts",
              "test/unsubscribe.test.ts",
              "test/email-consumer.test.ts",
              "test/campaigns.test.ts",
              "test/analytics.test.ts",
              "test/contacts.test.ts",
              "test/reliability/tenants.test.ts",
              "test/workflow-definition.test.ts",
              "test/segments.test.ts",
              "test/contacts-bulk.test.ts",
            ],
            setupFiles: ["./test/setup/apply-migrations.ts"],
            silent: "passed-only" as const,
            maxWorkers: Math.max(2, os.availableParallelism() - 1),
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            // One wrangler dev for the files that can share it (each file its own project and SES; started
            // when first asked: test/e2e/shared-setup.ts), another for reliability-faults.test.ts; the
            // files run one at a time, as the shared stack's SES goes to the file running now.
            globalSetup: ["./test/e2e/global-setup.ts"],
            fileParallelism: false,
            testTimeout: 90_000,
            hookTimeout: 120_000,
          },
        },
        {
          test: {
            name: "browser",
            // The dashboard in a real Chromium against wrangler dev (needs `npm run build:dashboard` first).
            include: ["test/browser/**/*.test.ts"],
            environment: "node",
            // One wrangler dev and one Chromium for all the files, each file with its own project, SES and
            // browser contexts (test/browser/global-setup.ts); one file at a time, as for e2e.
            globalSetup: ["./test/browser/global-setup.ts"],
            fileParallelism: false,
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
