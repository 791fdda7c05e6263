/**
 * The new keys, shown once (the API answers them to `POST /project/rotate-keys` only): each with a Copy
 * button, and a clear note that they are not shown again. This session ended with the old secret key, so
 * the one way out is to sign in again, with the new one. Escape does not close it (the keys would be lost).
 */
import "./settings.css";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { useLocation } from "wouter";
import type { RotatedKeys } from "../api/types";
import { CopyField } from "./CopyField";

export function RotatedKeysDialog({ keys, onDone }: { keys: RotatedKeys; onDone: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const closing = useRef(false);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const done = () => {
    closing.current = true;
    ref.current?.close();
    onDone();
    // The old session is over: forget what it loaded, and sign in with the new secret key.
    queryClient.clear();
    navigate("/sign-in");
  };
  return (
    <dialog
      ref={ref}
      className="rotated-keys"
      aria-labelledby="rotated-keys-title"
      aria-describedby="rotated-keys-note"
      onCancel={(e) => e.preventDefault()}
      // The browser may close it anyway (Escape pressed twice): open it again until the button is used.
      onClose={() => {
        if (!closing.current) ref.current?.showModal();
      }}
    >
      <article>
        <h2 id="rotated-keys-title">Your new API keys</h2>
        <p id="rotated-keys-note" className="keys-once">
          <strong>Copy them now: they are not shown again.</strong> The old keys stopped working, and this
          session ended with them.
        </p>
        <CopyField
          id="new-public-key"
          label="Public key"
          value={keys.publicKey}
          hint="For POST /v1/track from your app or a browser."
        />
        <CopyField
          id="new-secret-key"
          label="Secret key"
          value={keys.secretKey}
          hint="For the whole API, and to sign in here. Keep it on your servers."
        />
        <footer>
          <button type="button" onClick={done}>
            I have copied them: sign in again
          </button>
        </footer>
      </article>
    </dialog>
  );
}
