/**
 * Sign in with a project's secret key: the worker exchanges it for an HttpOnly session cookie, so the
 * key leaves this page's memory at once and no script can read the session.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useLocation, useSearch } from "wouter";
import { post } from "../api/client";
import { keys } from "../api/queries";
import type { Session } from "../api/types";
import { ErrorBox } from "../components/ErrorBox";

export function SignInPage() {
  const [key, setKey] = useState("");
  const [, navigate] = useLocation();
  const search = new URLSearchParams(useSearch());
  const queryClient = useQueryClient();
  const signIn = useMutation({
    mutationFn: (secretKey: string) => post<Session>("/session", { secretKey }),
    onSuccess: (session) => {
      setKey("");
      queryClient.setQueryData(keys.session, session);
      navigate("/workflows");
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    signIn.mutate(key.trim());
  };
  return (
    <main className="container sign-in">
      <article>
        <header>
          <h1>Plunk Edge</h1>
          <p>Sign in to a project with its secret key.</p>
        </header>
        {search.get("error") === "link" && (
          <div className="error-box" role="alert">
            <strong>That sign-in link is not valid</strong>
            <p>
              It was used already, it expired, or the project's keys were rotated. Sign in with the secret
              key.
            </p>
          </div>
        )}
        <form onSubmit={submit}>
          <label>
            Secret key
            <input
              name="secretKey"
              type="password"
              autoComplete="off"
              placeholder="sk_…"
              required
              value={key}
              onChange={(e) => setKey(e.target.value)}
              aria-invalid={signIn.isError ? true : undefined}
              aria-describedby={signIn.isError ? "sign-in-error" : undefined}
            />
          </label>
          {signIn.isError && (
            <div id="sign-in-error">
              <ErrorBox error={signIn.error} title="Sign-in refused" />
            </div>
          )}
          <button type="submit" aria-busy={signIn.isPending} disabled={signIn.isPending}>
            Sign in
          </button>
        </form>
        <footer>
          <small>
            <code>npm start</code> prints a link that signs straight in to the development project. The API
            reference is at <a href="/docs">/docs</a>.
          </small>
        </footer>
      </article>
    </main>
  );
}
