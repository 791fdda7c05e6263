/** The shell of every signed-in page: the project, the navigation and Sign out. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useLocation } from "wouter";
import { del } from "../api/client";
import type { Session } from "../api/types";
import { ErrorBox } from "./ErrorBox";

export function Layout({ session, children }: { session: Session; children: ReactNode }) {
  const [location, navigate] = useLocation();
  const queryClient = useQueryClient();
  const signOut = useMutation({
    mutationFn: () => del<void>("/session"),
    onSuccess: () => {
      queryClient.clear();
      navigate("/sign-in");
    },
  });
  const current = (prefix: string) => (location.startsWith(prefix) ? "page" : undefined);
  return (
    <>
      <header className="app-header">
        <nav className="container-fluid" aria-label="Main">
          <ul>
            <li>
              <strong>Plunk Edge</strong> <small className="muted">{session.project.name}</small>
            </li>
          </ul>
          <ul>
            <li>
              <Link href="/workflows" aria-current={current("/workflows")}>
                Workflows
              </Link>
            </li>
            <li>
              <Link href="/contacts" aria-current={current("/contacts")}>
                Contacts
              </Link>
            </li>
            <li>
              <Link href="/emails" aria-current={current("/emails")}>
                Emails
              </Link>
            </li>
            <li>
              <Link href="/segments" aria-current={current("/segments")}>
                Segments
              </Link>
            </li>
            <li>
              <Link href="/templates" aria-current={current("/templates")}>
                Templates
              </Link>
            </li>
            <li>
              <Link href="/campaigns" aria-current={current("/campaigns")}>
                Campaigns
              </Link>
            </li>
            <li>
              <Link href="/deliveries" aria-current={current("/deliveries")}>
                Webhook deliveries
              </Link>
            </li>
            <li>
              <Link href="/analytics" aria-current={current("/analytics")}>
                Analytics
              </Link>
            </li>
            <li>
              <Link href="/settings" aria-current={current("/settings")}>
                Settings
              </Link>
            </li>
            <li>
              <button
                type="button"
                className="secondary outline"
                onClick={() => signOut.mutate()}
                aria-busy={signOut.isPending}
              >
                Sign out
              </button>
            </li>
          </ul>
        </nav>
      </header>
      <main className="container-fluid">
        {signOut.isError && <ErrorBox error={signOut.error} title="Could not sign out" />}
        {children}
      </main>
    </>
  );
}
