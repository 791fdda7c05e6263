// The browser project's shared stack and Chromium (test/e2e/shared-setup.ts).
import { sharedSetup } from "../e2e/shared-setup";

/**
 * How old an event must be before the cron's rollup counts it (the worker's ROLLUP_GRACE_SECONDS, which
 * development and tests may shorten from its 60 s): analytics-settings.test.ts waits this long for it.
 */
export const ROLLUP_GRACE_SECONDS = 5;

export default sharedSetup("browser", {
  vars: { ROLLUP_GRACE_SECONDS: String(ROLLUP_GRACE_SECONDS) },
  chromium: true,
});
