// The test-only bindings vitest.config.ts adds to the worker's bindings (worker-configuration.d.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** "shard" in the `shard` vitest project: the engine of the projects tests make (test/helpers.ts). */
    TEST_ENGINE?: string;
  }
}
