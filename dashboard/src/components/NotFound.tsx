/**
 * What a page of one thing (a campaign, a template, a contact, an email) shows when the API answers 404
 * for its id: said as an alert, with a way back to the list.
 */
import type { ReactNode } from "react";
import { Link } from "wouter";
import { ApiError } from "../api/client";

export const isNotFound = (error: unknown) => error instanceof ApiError && error.status === 404;

/** "There is no <what> with this id in this project", then `children` (the id, and a link to the list). */
export function NotFoundBox({ what, children }: { what: string; children: ReactNode }) {
  return (
    <div className="error-box" role="alert">
      <strong>There is no {what} with this id in this project</strong>
      <p>{children}</p>
    </div>
  );
}

/** A whole page of it: the breadcrumb to the list, the heading, and the box. */
export function NotFoundPage({
  listHref,
  listTitle,
  title,
  what,
  children,
}: {
  listHref: string;
  listTitle: string;
  title: string;
  what: string;
  children: ReactNode;
}) {
  return (
    <>
      <p className="breadcrumb">
        <Link href={listHref}>{listTitle}</Link> /
      </p>
      <h1>{title}</h1>
      <NotFoundBox what={what}>{children}</NotFoundBox>
    </>
  );
}
