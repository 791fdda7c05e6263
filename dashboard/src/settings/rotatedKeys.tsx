/**
 * The project's new keys, right after `POST /project/rotate-keys`, held here until the person has copied
 * them. The host is mounted by the app itself, above the routes, so that nothing the ended session does
 * (a query answered 401 sends the page to sign-in) can close the dialog before the keys are copied. The
 * dialog itself loads only when there are keys to show.
 */
import { lazy, Suspense, useSyncExternalStore } from "react";
import type { RotatedKeys } from "../api/types";

let current: RotatedKeys | null = null;
const listeners = new Set<() => void>();

/** Shows the new keys (Settings, with the API's answer), or forgets them (null). */
export function setRotatedKeys(keys: RotatedKeys | null) {
  current = keys;
  for (const l of listeners) l();
}

const subscribe = (l: () => void) => {
  listeners.add(l);
  return () => listeners.delete(l);
};

const RotatedKeysDialog = lazy(() =>
  import("./RotatedKeysDialog").then((m) => ({ default: m.RotatedKeysDialog })),
);

export function RotatedKeysHost() {
  const keys = useSyncExternalStore(subscribe, () => current);
  if (!keys) return null;
  return (
    <Suspense fallback={null}>
      <RotatedKeysDialog keys={keys} onDone={() => setRotatedKeys(null)} />
    </Suspense>
  );
}
