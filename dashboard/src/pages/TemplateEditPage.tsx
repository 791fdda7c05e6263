/**
 * The template editor: a new template (/templates/new) or a saved one (/templates/:id). Its name, type,
 * sender, subject and body (Liquid), with a live preview rendered by the worker for a chosen contact (the
 * API's Liquid errors shown at the subject and body as they are typed, and the API's refusals of a save at
 * the fields they name); for a saved template, a test send (`POST /templates/:id/test`) and Delete (refused
 * with the workflow that uses it).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import { useHistoryState } from "wouter/use-browser-location";
import { ApiError, del, patch, post } from "../api/client";
import { keys, templateQuery } from "../api/queries";
import type { Template, TemplateBody, TestSendAnswer } from "../api/types";
import { allShown, fieldText, SenderFields, SubjectAndBody } from "../components/ComposeFields";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { EmailPreview, type PreviewContact, usePreview } from "../components/EmailPreview";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, fieldMessage, invalidProps } from "../components/FieldError";
import { isNotFound, NotFoundPage } from "../components/NotFound";

/** What the editor hands to the page it opens after creating a template. */
interface Handed {
  created?: string;
  contact?: PreviewContact | null;
}

export function TemplateNewPage() {
  return <TemplateForm template={null} />;
}

export function TemplateEditPage() {
  const { id } = useParams<{ id: string }>();
  const template = useQuery(templateQuery(id));
  if (template.isPending) return <p aria-busy="true">Loading the template…</p>;
  if (isNotFound(template.error))
    return (
      <NotFoundPage listHref="/templates" listTitle="Templates" title="Template not found" what="template">
        <code>{id}</code> may have been deleted, or the link is wrong.{" "}
        <Link href="/templates">See the templates</Link>.
      </NotFoundPage>
    );
  if (template.isError) return <ErrorBox error={template.error} title="Could not load the template" />;
  return <TemplateForm key={template.data.id} template={template.data} />;
}

interface Draft {
  name: string;
  type: "MARKETING" | "TRANSACTIONAL";
  from: string;
  fromName: string;
  replyTo: string;
  subject: string;
  body: string;
}

const draftOf = (t: Template | null): Draft => ({
  name: t?.name ?? "",
  type: t?.type === "TRANSACTIONAL" ? "TRANSACTIONAL" : "MARKETING",
  from: t?.from ?? "",
  fromName: t?.fromName ?? "",
  replyTo: t?.replyTo ?? "",
  subject: t?.subject ?? "",
  body: t?.body ?? "",
});

const STARTER_BODY = `<p>Hi {{ data.name ?? "there" }},</p>

<p>…</p>

<p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p>`;

function TemplateForm({ template }: { template: Template | null }) {
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const handed = useHistoryState<Handed | null>();
  const [draft, setDraft] = useState<Draft>(() =>
    template ? draftOf(template) : { ...draftOf(null), body: STARTER_BODY },
  );
  const [contact, setContact] = useState<PreviewContact | null>(handed?.contact ?? null);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const dirty = template !== null && JSON.stringify(draft) !== JSON.stringify(draftOf(template));
  const preview = usePreview({ subject: draft.subject, body: draft.body }, contact);
  const nameRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (!template) nameRef.current?.focus();
  }, [template]);

  const save = useMutation({
    mutationFn: (body: TemplateBody) =>
      template
        ? patch<Template, TemplateBody>(`/templates/${template.id}`, body)
        : post<Template, TemplateBody>("/templates", body),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.template(saved.id), saved);
      queryClient.invalidateQueries({ queryKey: keys.templates });
      if (!template)
        navigate(`/templates/${saved.id}`, {
          replace: true,
          state: { created: saved.name, contact } satisfies Handed,
        });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate({
      name: draft.name.trim(),
      type: draft.type,
      from: draft.from.trim(),
      fromName: draft.fromName.trim() || null,
      replyTo: draft.replyTo.trim() || null,
      subject: draft.subject,
      body: draft.body,
    });
  };

  // A save's refusal while its fields are as sent; the preview's Liquid errors as typed.
  const savedErr = (f: string) => (save.isError ? fieldText(save.error, f) : undefined);
  const err = {
    name: savedErr("name"),
    type: savedErr("type"),
    from: savedErr("from"),
    fromName: savedErr("fromName"),
    replyTo: savedErr("replyTo"),
    subject: preview.subjectError ?? savedErr("subject"),
    body: preview.bodyError ?? savedErr("body"),
  };
  const unshown = save.isError && !allShown(save.error, new Set(Object.keys(err)));
  const title = template ? template.name : "New template";

  return (
    <>
      <p className="breadcrumb">
        <Link href="/templates">Templates</Link> /
      </p>
      <h1 className="compose-title">{title}</h1>
      {template && handed?.created === template.name && !save.isSuccess && (
        <p className="notice" role="status">
          Created the template {template.name}.
        </p>
      )}
      <div className="compose">
        <div className="compose-main">
          <form className="compose-form" onSubmit={submit} aria-label={title} noValidate>
            <label>
              Name
              <input
                ref={nameRef}
                name="name"
                required
                maxLength={200}
                autoComplete="off"
                value={draft.name}
                onChange={(e) => set("name", e.target.value)}
                placeholder="Welcome"
                {...invalidProps("tpl-name-error", err.name)}
              />
              <FieldError id="tpl-name-error" message={err.name} />
            </label>
            <div className="compose-row compose-row-2">
              <label>
                Type
                <select
                  name="type"
                  value={draft.type}
                  onChange={(e) => set("type", e.target.value as Draft["type"])}
                  aria-describedby="tpl-type-hint"
                  {...(err.type ? { "aria-invalid": true } : {})}
                >
                  <option value="MARKETING">Marketing</option>
                  <option value="TRANSACTIONAL">Transactional</option>
                </select>
                <small id="tpl-type-hint" className="muted">
                  {draft.type === "MARKETING"
                    ? "Not sent to unsubscribed contacts; carries an unsubscribe header."
                    : "Always sent, also to unsubscribed contacts."}
                </small>
                <FieldError id="tpl-type-error" message={err.type} />
              </label>
              <SenderFields
                idPrefix="tpl"
                value={draft}
                onChange={set}
                errors={err}
                required
                placeholders={{ from: "hello@example.com", fromName: "Acme" }}
              />
            </div>
            <SubjectAndBody
              idPrefix="tpl"
              subject={draft.subject}
              body={draft.body}
              onSubject={(v) => set("subject", v)}
              onBody={(v) => set("body", v)}
              subjectError={err.subject}
              bodyError={err.body}
            />
            {save.isError && unshown && (
              <ErrorBox
                error={save.error}
                title={template ? "The template was not saved" : "The template was not created"}
              />
            )}
            <div className="form-actions">
              <div aria-live="polite" className="form-status">
                {template && save.isSuccess && !dirty && <span className="text-ok">Saved.</span>}
                {dirty && <span className="muted">Unsaved changes</span>}
              </div>
              <Link href="/templates" className="button-link secondary">
                {template ? "Back" : "Cancel"}
              </Link>
              <button type="submit" aria-busy={save.isPending} disabled={save.isPending}>
                {template ? "Save template" : "Create template"}
              </button>
            </div>
          </form>
          {template && <TestSend template={template} contact={contact} dirty={dirty} />}
          {template && <DeleteTemplate template={template} />}
        </div>
        <div className="compose-preview">
          <EmailPreview preview={preview} contact={contact} onContact={setContact} />
        </div>
      </div>
    </>
  );
}

function TestSend({
  template,
  contact,
  dirty,
}: {
  template: Template;
  contact: PreviewContact | null;
  dirty: boolean;
}) {
  const id = useId();
  const [to, setTo] = useState("");
  const send = useMutation({
    mutationFn: () =>
      post<TestSendAnswer>(`/templates/${template.id}/test`, {
        to: to.trim(),
        ...(contact ? { contactId: contact.id } : {}),
      }),
  });
  const toError = fieldMessage(send.error, "to");
  return (
    <section className="compose-section" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Send a test</h2>
      <p className="muted">
        <small>
          Sends the saved template once, now, rendered with{" "}
          {contact ? `the data of ${contact.email}` : "the example contact"} (the preview's choice): no email
          is recorded and no event is made.
          {dirty && <strong> Your unsaved changes are not in it: save first.</strong>}
        </small>
      </p>
      <form
        className="inline-form"
        aria-label="Send a test"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          send.mutate();
        }}
      >
        <label>
          Send to
          <input
            name="to"
            type="email"
            autoComplete="email"
            value={to}
            onChange={(e) => setTo(e.target.value)}
            placeholder="you@example.com"
            {...invalidProps(`${id}-to-error`, toError)}
          />
          <FieldError id={`${id}-to-error`} message={toError} />
        </label>
        <button type="submit" className="outline" aria-busy={send.isPending} disabled={send.isPending}>
          Send test
        </button>
      </form>
      <div aria-live="polite">
        {send.isSuccess && (
          <p className="notice" role="status">
            Sent “{send.data.subject}” to {send.data.to} (SES message <code>{send.data.messageId}</code>).
          </p>
        )}
      </div>
      {send.isError && !toError && <ErrorBox error={send.error} title="The test was not sent" />}
    </section>
  );
}

function DeleteTemplate({ template }: { template: Template }) {
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation({
    mutationFn: () => del<void>(`/templates/${template.id}`),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.template(template.id) });
      queryClient.invalidateQueries({ queryKey: keys.templates });
      navigate("/templates", { state: { deleted: template.name } });
    },
    onSettled: () => setConfirming(false),
  });
  const usedBy =
    remove.error instanceof ApiError && remove.error.status === 409
      ? /workflow (\S+)$/.exec(remove.error.message)?.[1]
      : undefined;
  return (
    <section className="compose-section" aria-label="Delete the template">
      <button type="button" className="danger" onClick={() => setConfirming(true)}>
        Delete template
      </button>
      {remove.isError &&
        (usedBy ? (
          <div className="error-box" role="alert">
            <strong>The template was not deleted</strong>
            <p>
              {remove.error.message}: <Link href={`/workflows/${usedBy}`}>open the workflow</Link> and change
              its step first.
            </p>
          </div>
        ) : (
          <ErrorBox error={remove.error} title="The template was not deleted" />
        ))}
      <ConfirmDialog
        open={confirming}
        title="Delete this template?"
        confirmLabel="Yes, delete it"
        danger
        busy={remove.isPending}
        onConfirm={() => remove.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          <strong>{template.name}</strong> is deleted. <strong>This cannot be undone.</strong>
        </p>
        <p className="muted">
          A template that a workflow's Send email step uses is kept: the step must use another one first.
          Emails already sent stay in the emails log.
        </p>
      </ConfirmDialog>
    </section>
  );
}
