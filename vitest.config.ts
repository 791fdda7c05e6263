import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    test: {
      silent: "passed-only" as const,
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ENVIRONMENT: "test",
                  ADMIN_TOKEN: "test-admin-token",
                  // SNS certificates of the tests' own (test/fixtures) are served from here by a fetch spy.
                  SNS_DEV_CERT_ORIGIN: "http://sns-certs.test",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/e2e/**", "test/browser/**"],
            setupFiles: ["./test/setup/apply-migrations.ts"],
            silent: "passed-only" as const,
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            // Each file starts its own wrangler dev: one at a time on a 2-core machine.
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
            fileParallelism: false,
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
