/**
 * uPlot makes a number formatter for `navigator.language` when it loads. A browser whose language tag Intl
 * refuses (Chromium started with LANG=C reports "en-US@posix") would make that throw and the whole page
 * fail to load: there, the tag without its "@…" part (or the browser's default) is what uPlot reads.
 * Imported before uPlot, for this side effect only.
 */
function usable(tag: string): boolean {
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

if (typeof navigator !== "undefined" && !usable(navigator.language)) {
  const stripped = navigator.language.split("@")[0] ?? "";
  const tag = usable(stripped) ? stripped : new Intl.NumberFormat().resolvedOptions().locale;
  Object.defineProperty(navigator, "language", { configurable: true, get: () => tag });
}
