/**
 * The live preview of an email being written (the template editor and the campaign composer): its subject
 * and body rendered by the worker (`POST /templates/preview`, 400 ms after the last change) for a contact
 * chosen with the picker, or for an example contact, and shown in a sandboxed <iframe srcdoc> in which no
 * script runs. The API's Liquid errors are given back for the page to show at the subject and body fields,
 * while the preview keeps the last version that rendered.
 *
 * Why the iframe is `sandbox="allow-same-origin"` (never `allow-scripts`): a srcdoc document inherits the
 * dashboard's Content-Security-Policy (`style-src 'self'`, `img-src 'self' data:`), under which an email's
 * own `<style>` elements and `style` attributes would not apply. So the HTML is read here first (DOMParser,
 * inert), its styles are taken out, and once the frame has loaded they are applied through the CSSOM (an
 * adopted style sheet, `element.style`), which the policy allows; with no script able to run in the
 * frame, the same origin only lets this page reach in. Images from other origins stay blocked by the
 * policy: they are shown as dashed boxes, and the preview says how many.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type KeyboardEvent, useEffect, useId, useMemo, useRef, useState } from "react";
import { ApiError, describeError, post } from "../api/client";
import { contactsQuery } from "../api/queries";
import type { RenderedEmail } from "../api/types";
import { fieldMessage } from "./FieldError";
import { useDebounced } from "./useDebounced";

export const PREVIEW_DEBOUNCE_MS = 400;

/** The contact a preview (and a test send) renders with; null: the example contact, with no data. */
export interface PreviewContact {
  id: string;
  email: string;
}

export interface Preview {
  /** The last subject and HTML that rendered (null before the first answer). */
  rendered: RenderedEmail | null;
  /** Typing, or the answer is on its way. */
  waiting: boolean;
  /** The last answer was an error: `rendered` is of an earlier version. */
  stale: boolean;
  error: unknown;
  /** The API's Liquid errors, by field. */
  subjectError: string | undefined;
  bodyError: string | undefined;
}

/** Renders `parts` with the worker once they have been still for 400 ms (nothing while `enabled` is false). */
export function usePreview(
  parts: { subject: string; body: string } | null,
  contact: PreviewContact | null,
): Preview {
  const json = parts
    ? JSON.stringify({
        subject: parts.subject,
        body: parts.body,
        ...(contact ? { contactId: contact.id } : {}),
      })
    : null;
  const settled = useDebounced(json, PREVIEW_DEBOUNCE_MS);
  const q = useQuery({
    queryKey: ["templates", "preview", settled],
    queryFn: () => post<RenderedEmail>("/templates/preview", JSON.parse(settled ?? "{}")),
    enabled: settled !== null,
    placeholderData: keepPreviousData,
    staleTime: 30_000,
    // A refusal (a Liquid error, an unknown contact) is final; a failure of the server is tried once more.
    retry: (n, e) => n < 1 && !(e instanceof ApiError && e.status >= 400 && e.status < 500),
  });
  const [lastGood, setLastGood] = useState<RenderedEmail | null>(null);
  useEffect(() => {
    if (q.data && !q.isPlaceholderData) setLastGood(q.data);
  }, [q.data, q.isPlaceholderData]);
  const error = q.isError ? q.error : null;
  return {
    // Nothing to render (no template chosen yet): no earlier version either.
    rendered: json === null ? null : (q.data ?? lastGood),
    waiting: json !== null && (settled !== json || q.isFetching),
    stale: q.isError,
    error,
    subjectError: fieldMessage(error, "subject"),
    bodyError: fieldMessage(error, "body"),
  };
}

/** The preview pane: the contact picker, the rendered subject and the email in its frame. */
export function EmailPreview(props: {
  preview: Preview;
  contact: PreviewContact | null;
  onContact: (c: PreviewContact | null) => void;
  /** Shown instead of the email when there is nothing to render yet. */
  empty?: string;
}) {
  const { preview, contact } = props;
  const titleId = useId();
  const { rendered } = preview;
  const fieldProblem = preview.subjectError ?? preview.bodyError;
  return (
    <section className="email-preview" aria-labelledby={titleId}>
      <div className="email-preview-head">
        <h2 id={titleId}>Preview</h2>
        <output className="muted" aria-live="polite" aria-busy={preview.waiting}>
          <small>
            {preview.waiting ? "Rendering…" : preview.stale ? "Not rendered" : rendered ? "Up to date" : ""}
          </small>
        </output>
      </div>
      <ContactPicker value={contact} onChange={props.onContact} />
      {preview.stale && (
        <p className="preview-problem" role="alert">
          {fieldProblem
            ? `Not rendered: ${fieldProblem}. The preview shows the last version that rendered.`
            : `Not rendered: ${describeError(preview.error)}`}
        </p>
      )}
      {props.empty && !rendered ? (
        <p className="muted email-preview-empty">{props.empty}</p>
      ) : (
        <>
          <p className="email-preview-subject">
            <span className="muted">Subject </span>
            <strong data-preview-subject>{rendered?.subject ?? ""}</strong>
          </p>
          <PreviewFrame html={rendered?.html ?? ""} stale={preview.stale} />
        </>
      )}
    </section>
  );
}

/**
 * Whom the preview renders with: the example contact, or one found by a part of its email
 * (`GET /contacts?search=`, 300 ms after the typing stops). Enter picks the first match.
 */
export function ContactPicker(props: {
  value: PreviewContact | null;
  onChange: (c: PreviewContact | null) => void;
}) {
  const id = useId();
  const [text, setText] = useState("");
  const search = useDebounced(text.trim(), 300);
  const found = useQuery({
    ...contactsQuery({ search, limit: "5" }),
    enabled: search !== "",
    placeholderData: keepPreviousData,
  });
  const matches = search !== "" && text.trim() !== "" ? (found.data?.data ?? []) : [];
  const choose = (c: PreviewContact | null) => {
    props.onChange(c ? { id: c.id, email: c.email } : null);
    setText("");
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    // Inside a form, Enter would send it: here it picks the first match.
    if (e.key === "Enter") {
      e.preventDefault();
      const first = matches[0];
      if (first && search === text.trim()) choose(first);
    }
    if (e.key === "Escape") setText("");
  };
  return (
    <div className="contact-picker">
      <p className="contact-picker-current" aria-live="polite">
        {props.value ? (
          <>
            Rendered with the data of <strong>{props.value.email}</strong>{" "}
            <button type="button" className="secondary outline" onClick={() => choose(null)}>
              Use the example contact
            </button>
          </>
        ) : (
          <>Rendered with an example contact (someone@example.com, no data).</>
        )}
      </p>
      <label htmlFor={`${id}-search`}>Preview as a contact</label>
      <input
        id={`${id}-search`}
        type="search"
        placeholder="Search contacts by email"
        autoComplete="off"
        spellCheck={false}
        maxLength={254}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-describedby={`${id}-results`}
      />
      <div id={`${id}-results`} aria-live="polite">
        {text.trim() !== "" && found.isFetching && matches.length === 0 && (
          <small className="muted">Searching…</small>
        )}
        {text.trim() !== "" && found.isSuccess && !found.isFetching && matches.length === 0 && (
          <small className="muted">No contact has “{search}” in its email.</small>
        )}
        {found.isError && <small className="field-error">{describeError(found.error)}</small>}
        {matches.length > 0 && (
          <ul className="contact-picker-results" aria-label="Matching contacts">
            {matches.map((c) => (
              <li key={c.id}>
                <button type="button" className="secondary outline" onClick={() => choose(c)}>
                  {c.email}
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

interface Prepared {
  html: string;
  css: string;
  inline: string[];
  blocked: number;
}

/** Of what the page's policy lets a frame load: data: URLs and this origin. */
function loadable(url: string): boolean {
  if (/^\s*data:/i.test(url)) return true;
  try {
    return new URL(url, window.location.href).origin === window.location.origin;
  } catch {
    return false;
  }
}

/** `url(…)` of other origins in CSS, which the policy would block (each a console error): dropped. */
function dropRemoteUrls(css: string, count: () => void): string {
  return css.replace(/url\(\s*(['"]?)([^'")]*)\1\s*\)/gi, (all, _q, url: string) => {
    if (loadable(url)) return all;
    count();
    return "none";
  });
}

/**
 * The email's HTML, read inertly, without what the frame cannot or must not run, and its styles apart.
 * Styles are taken out of the text before it is parsed: even an inert document (DOMParser, <template>)
 * reports each `style` it parses as a violation of the page's policy.
 */
export function prepareHtml(source: string): Prepared {
  let blocked = 0;
  const count = () => {
    blocked++;
  };
  const css: string[] = [];
  const html = source
    // <style> elements are raw text up to their end tag: taken out whole.
    .replace(/<style\b[^>]*>([\s\S]*?)(<\/style\s*>|$)/gi, (_all, text: string) => {
      css.push(dropRemoteUrls(text, count));
      return "";
    })
    // A `style` attribute in a start tag is renamed, to be applied once the frame has loaded.
    .replace(/<[a-zA-Z][^>]*>/g, (tag) => tag.replace(/(\s)style(\s*=)/gi, "$1data-preview-style$2"));
  const doc = new DOMParser().parseFromString(html, "text/html");
  for (const el of doc.querySelectorAll(
    "script, noscript, base, meta[http-equiv], link, iframe, object, embed",
  ))
    el.remove();
  const inline: string[] = [];
  for (const el of doc.querySelectorAll("*")) {
    for (const attr of [...el.attributes]) if (/^on/i.test(attr.name)) el.removeAttribute(attr.name);
    const style = el.getAttribute("data-preview-style");
    if (style !== null) {
      el.setAttribute("data-preview-style", String(inline.length));
      inline.push(dropRemoteUrls(style, count));
    }
    const background = el.getAttribute("background");
    if (background !== null && !loadable(background)) {
      el.removeAttribute("background");
      count();
    }
  }
  for (const el of doc.querySelectorAll("img, source")) {
    const src = el.getAttribute("src");
    if (src !== null && !loadable(src)) {
      el.setAttribute("data-preview-src", src);
      el.removeAttribute("src");
      count();
    }
    if (el.hasAttribute("srcset")) el.removeAttribute("srcset");
  }
  return { html: `<!doctype html>\n${doc.documentElement.outerHTML}`, css: css.join("\n"), inline, blocked };
}

/** What the frame adds: a box where an image of another origin would be. */
const FRAME_CSS =
  "img[data-preview-src]{outline:1px dashed #98a2b3;outline-offset:-1px;min-width:24px;min-height:24px}";

function applyStyles(frame: HTMLIFrameElement, prepared: Prepared) {
  const doc = frame.contentDocument;
  const win = frame.contentWindow as (Window & typeof globalThis) | null;
  if (!doc || !win || !doc.documentElement) return;
  for (const el of doc.querySelectorAll<HTMLElement>("[data-preview-style]")) {
    el.style.cssText = prepared.inline[Number(el.dataset.previewStyle)] ?? "";
  }
  try {
    const sheet = new win.CSSStyleSheet();
    sheet.replaceSync(`${FRAME_CSS}\n${prepared.css}`);
    doc.adoptedStyleSheets = [sheet];
  } catch {
    // A sheet that cannot be made: the email shows without its <style> rules.
  }
  // The email's links go nowhere from the preview.
  doc.addEventListener("click", (e) => {
    if ((e.target as Element | null)?.closest?.("a")) e.preventDefault();
  });
}

export function PreviewFrame({ html, stale }: { html: string; stale?: boolean }) {
  const prepared = useMemo(() => prepareHtml(html), [html]);
  const ref = useRef<HTMLIFrameElement>(null);
  return (
    <>
      <iframe
        ref={ref}
        title="Email preview"
        className={stale ? "email-preview-frame is-stale" : "email-preview-frame"}
        // No allow-scripts: nothing of the email runs. See the comment at the top of this file.
        sandbox="allow-same-origin"
        srcDoc={prepared.html}
        onLoad={() => ref.current && applyStyles(ref.current, prepared)}
      />
      {prepared.blocked > 0 && (
        <p className="muted email-preview-note">
          <small>
            {prepared.blocked} image{prepared.blocked === 1 ? "" : "s"} from other sites{" "}
            {prepared.blocked === 1 ? "is" : "are"} not loaded in the preview (shown as dashed boxes); the
            email itself loads {prepared.blocked === 1 ? "it" : "them"}.
          </small>
        </p>
      )}
    </>
  );
}
