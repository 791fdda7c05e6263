/**
 * A campaign. A new one (/campaigns/new) or a DRAFT (/campaigns/:id) opens the composer: its name, a
 * subject and body (Liquid) or one of the project's templates, the sender, and the audience (all subscribed
 * contacts or a segment's) with its count now (`POST /campaigns/count`), beside a live preview rendered for
 * a chosen contact; then a test send, a schedule (a wall-clock time in a time zone, the project's by
 * default) or Send now (after a confirmation that says to how many). Each action saves the draft first.
 *
 * Any other campaign shows its status: when it is scheduled (Unschedule, Send now, Cancel), its progress
 * while SENDING (polled every 2 s: the recipients' emails made so far, sent and skipped of them), and its
 * stats with open and click rates.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useId, useMemo, useRef, useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import { useHistoryState } from "wouter/use-browser-location";
import { zonedTime } from "../../../src/domain/schedule";
import { ApiError, del, describeError, patch, post } from "../api/client";
import { campaignQuery, keys, segmentsQuery, templatesQuery } from "../api/queries";
import type { AudienceCount, Campaign, CampaignAudience, CampaignBody, TestSendAnswer } from "../api/types";
import { allShown, fieldText, SenderFields, SubjectAndBody } from "../components/ComposeFields";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { EmailPreview, type PreviewContact, usePreview } from "../components/EmailPreview";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, invalidProps } from "../components/FieldError";
import { isNotFound, NotFoundPage } from "../components/NotFound";
import { RadioOptions } from "../components/RadioOptions";
import { useProjectTimeZone, useSegmentName } from "../components/ScheduleFields";
import { StatusBadge } from "../components/StatusBadge";
import { formatInZone } from "../components/schedule";
import { Time } from "../components/Time";

/** What the composer hands to the page it opens after creating a draft. */
interface Handed {
  created?: boolean;
  contact?: PreviewContact | null;
}

export function CampaignNewPage() {
  return <CampaignCompose campaign={null} />;
}

export function CampaignPage() {
  const { id } = useParams<{ id: string }>();
  const campaign = useQuery(campaignQuery(id));
  if (campaign.isPending) return <p aria-busy="true">Loading the campaign…</p>;
  if (isNotFound(campaign.error))
    return (
      <NotFoundPage listHref="/campaigns" listTitle="Campaigns" title="Campaign not found" what="campaign">
        <code>{id}</code>: the link may be wrong. <Link href="/campaigns">See the campaigns</Link>.
      </NotFoundPage>
    );
  if (campaign.isError) return <ErrorBox error={campaign.error} title="Could not load the campaign" />;
  const c = campaign.data;
  return c.status === "DRAFT" ? (
    <CampaignCompose key={c.id} campaign={c} />
  ) : (
    <CampaignView key={c.id} campaign={c} />
  );
}

/* ---------------------------------------------------------------- shared pieces */

/** The audience in words: "All subscribed contacts", "Subscribed members of VIP". */
function audienceWords(a: CampaignAudience, segmentName: (id: string) => string | undefined): string {
  if (a.type === "ALL") return "All subscribed contacts";
  if (a.type === "SEGMENT") return `Subscribed members of ${segmentName(a.segmentId) ?? a.segmentId}`;
  return "Subscribed contacts that match a filter (set through the API)";
}

/** How many subscribed contacts an audience holds now (null: not complete yet, no count asked). */
function useAudienceCount(audience: CampaignAudience | null) {
  const json = audience ? JSON.stringify(audience) : null;
  return useQuery({
    queryKey: [...keys.campaigns, "count", json],
    queryFn: () => post<AudienceCount>("/campaigns/count", { audience: JSON.parse(json ?? "null") }),
    enabled: json !== null,
    staleTime: 5_000,
    retry: (n, e) => n < 1 && !(e instanceof ApiError && e.status >= 400 && e.status < 500),
  });
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

function countWords(count: AudienceCount): string {
  return `${plural(count.count, "subscribed contact")}${count.complete ? "" : " in the first 10,000 contacts"}`;
}

/** The project's templates (the first 100), by id. */
function useTemplates() {
  const templates = useQuery(templatesQuery);
  const list = templates.data?.data;
  const byId = useMemo(() => new Map((list ?? []).map((t) => [t.id, t])), [list]);
  return { query: templates, list: list ?? [], byId };
}

/** The time zones a schedule can be read in: the browser's list, with the project's and UTC. */
function timeZones(extra: string[]): string[] {
  let all: string[] = [];
  try {
    all = Intl.supportedValuesOf("timeZone");
  } catch {
    all = [];
  }
  return [...new Set([...extra, "UTC", ...all])].sort((a, b) => a.localeCompare(b));
}

/* ---------------------------------------------------------------- the composer */

interface Draft {
  name: string;
  mode: "write" | "template";
  subject: string;
  body: string;
  templateId: string;
  from: string;
  fromName: string;
  replyTo: string;
  audience: "ALL" | "SEGMENT" | "FILTER";
  segmentId: string;
}

const STARTER_BODY = `<h1>What's new</h1>

<p>Hi {{ data.name ?? "there" }},</p>

<p>…</p>

<p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p>`;

const draftOf = (c: Campaign | null): Draft => ({
  name: c?.name ?? "",
  mode: c?.templateId ? "template" : "write",
  subject: c?.subject ?? "",
  body: c ? (c.body ?? "") : STARTER_BODY,
  templateId: c?.templateId ?? "",
  from: c?.from ?? "",
  fromName: c?.fromName ?? "",
  replyTo: c?.replyTo ?? "",
  audience: c?.audience.type ?? "ALL",
  segmentId: c?.audience.type === "SEGMENT" ? c.audience.segmentId : "",
});

function audienceOf(d: Draft, kept: CampaignAudience | null): CampaignAudience | null {
  if (d.audience === "ALL") return { type: "ALL" };
  if (d.audience === "SEGMENT") return d.segmentId ? { type: "SEGMENT", segmentId: d.segmentId } : null;
  return kept?.type === "FILTER" ? kept : null;
}

function bodyOf(d: Draft, kept: CampaignAudience | null): CampaignBody {
  const audience = audienceOf(d, kept);
  return {
    name: d.name.trim(),
    subject: d.subject.trim() ? d.subject : null,
    body: d.mode === "write" && d.body.trim() ? d.body : null,
    templateId: d.mode === "template" && d.templateId ? d.templateId : null,
    from: d.from.trim() || null,
    fromName: d.fromName.trim() || null,
    replyTo: d.replyTo.trim() || null,
    ...(audience ? { audience } : {}),
  };
}

type Action =
  | { kind: "save" }
  | { kind: "test"; to: string; contactId?: string }
  | { kind: "schedule"; at: string; timeZone: string }
  | { kind: "send" };

const FAILED: Record<Action["kind"], string> = {
  save: "The draft was not saved",
  test: "The test was not sent",
  schedule: "The campaign was not scheduled",
  send: "The campaign was not sent",
};

function CampaignCompose({ campaign }: { campaign: Campaign | null }) {
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const handed = useHistoryState<Handed | null>();
  const ids = useId();
  const kept = campaign?.audience ?? null;
  const [draft, setDraft] = useState<Draft>(() => draftOf(campaign));
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const [contact, setContact] = useState<PreviewContact | null>(handed?.contact ?? null);
  const [tried, setTried] = useState(false);
  const [confirmSend, setConfirmSend] = useState(false);
  const [to, setTo] = useState("");
  const [at, setAt] = useState("");
  const [zone, setZone] = useState<string | null>(null);
  const project = useProjectTimeZone();
  const timeZone = zone ?? campaign?.timeZone ?? project.timeZone;
  const zones = useMemo(() => timeZones([project.timeZone, timeZone]), [project.timeZone, timeZone]);

  const templates = useTemplates();
  const segments = useQuery(segmentsQuery);
  const template = templates.byId.get(draft.templateId);
  const audience = audienceOf(draft, kept);
  const count = useAudienceCount(audience);
  const preview = usePreview(
    draft.mode === "write"
      ? { subject: draft.subject, body: draft.body }
      : template
        ? { subject: draft.subject.trim() ? draft.subject : template.subject, body: template.body }
        : null,
    contact,
  );

  const body = bodyOf(draft, kept);
  const dirty = campaign !== null && JSON.stringify(body) !== JSON.stringify(bodyOf(draftOf(campaign), kept));
  const local = {
    templateId: draft.mode === "template" && !draft.templateId ? "Choose a template" : undefined,
    audience: draft.audience === "SEGMENT" && !draft.segmentId ? "Choose a segment" : undefined,
  };
  const localOk = !local.templateId && !local.audience;

  const act = useMutation({
    mutationFn: async (a: Action) => {
      let c: Campaign;
      if (!campaign) c = await post<Campaign, CampaignBody>("/campaigns", body);
      else if (dirty || a.kind === "save") {
        c = await patch<Campaign, CampaignBody>(`/campaigns/${campaign.id}`, body);
        queryClient.setQueryData(keys.campaign(c.id), c);
      } else c = campaign;
      let test: TestSendAnswer | null = null;
      if (a.kind === "test")
        test = await post<TestSendAnswer>(`/campaigns/${c.id}/test`, {
          to: a.to,
          ...(a.contactId ? { contactId: a.contactId } : {}),
        });
      if (a.kind === "schedule")
        c = await post<Campaign>(`/campaigns/${c.id}/schedule`, { at: a.at, timeZone: a.timeZone });
      if (a.kind === "send") c = await post<Campaign>(`/campaigns/${c.id}/send`);
      return { c, test };
    },
    onSuccess: ({ c }) => {
      queryClient.setQueryData(keys.campaign(c.id), c);
      queryClient.invalidateQueries({ queryKey: [...keys.campaigns, "list"] });
      if (!campaign)
        navigate(`/campaigns/${c.id}`, { replace: true, state: { created: true, contact } satisfies Handed });
    },
    onSettled: () => setConfirmSend(false),
  });
  const run = (a: Action) => {
    setTried(true);
    if (localOk) act.mutate(a);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    run({ kind: "save" });
  };

  const e = act.error;
  const err = {
    name: fieldText(e, "name"),
    subject: preview.subjectError ?? fieldText(e, "subject"),
    body: preview.bodyError ?? fieldText(e, "body"),
    templateId: (tried ? local.templateId : undefined) ?? fieldText(e, "templateId"),
    from: fieldText(e, "from"),
    fromName: fieldText(e, "fromName"),
    replyTo: fieldText(e, "replyTo"),
    audience: (tried ? local.audience : undefined) ?? fieldText(e, "audience"),
    to: fieldText(e, "to"),
    at: fieldText(e, "at"),
    timeZone: fieldText(e, "timeZone"),
  };
  // In a template's mode the body is the template's: the API's "give a body" is said at the template.
  if (draft.mode === "template" && !err.templateId && fieldText(e, "body")) err.templateId = err.body;
  const failedKind = act.isError ? act.variables?.kind : undefined;
  const unshown = act.isError && !allShown(e, new Set(Object.keys(err)));
  const title = campaign ? campaign.name : "New campaign";
  const list = segments.data?.data ?? [];
  const atMs = at ? zonedTime(at, timeZone) : null;

  return (
    <>
      <p className="breadcrumb">
        <Link href="/campaigns">Campaigns</Link> /
      </p>
      <div className="title-row">
        <h1 className="compose-title">{title}</h1>
        {campaign && <StatusBadge status={campaign.status} />}
      </div>
      {campaign && handed?.created && !act.isSuccess && (
        <p className="notice" role="status">
          Saved the draft {campaign.name}.
        </p>
      )}
      <div className="compose">
        <div className="compose-main">
          <form className="compose-form" onSubmit={submit} aria-label={title} noValidate>
            <label>
              Name <span className="muted">(yours; recipients do not see it)</span>
              <input
                name="name"
                required
                maxLength={200}
                autoComplete="off"
                value={draft.name}
                onChange={(ev) => set("name", ev.target.value)}
                placeholder="Spring sale"
                {...invalidProps(`${ids}-name-error`, err.name)}
              />
              <FieldError id={`${ids}-name-error`} message={err.name} />
            </label>

            <fieldset className="compose-choice">
              <legend>Audience</legend>
              <RadioOptions
                name="audience"
                value={draft.audience}
                onChange={(v) => set("audience", v)}
                options={[
                  ["ALL", "All subscribed contacts"],
                  ["SEGMENT", "A segment's subscribed members"],
                  ...(kept?.type === "FILTER"
                    ? ([["FILTER", "The filter set through the API"]] as const)
                    : []),
                ]}
              />
            </fieldset>
            {draft.audience === "SEGMENT" && (
              <PickById
                label="Segment"
                name="segmentId"
                value={draft.segmentId}
                onChange={(v) => set("segmentId", v)}
                items={list}
                query={segments}
                choose="Choose a segment…"
                errorId={`${ids}-segment-error`}
                error={err.audience}
              >
                This project has no segments yet: <Link href="/segments/new">make one</Link>.
              </PickById>
            )}
            {draft.audience !== "SEGMENT" && err.audience && (
              <FieldError id={`${ids}-audience-error`} message={err.audience} />
            )}
            <AudienceCountLine audience={audience} count={count} />

            <div className="compose-row">
              <SenderFields
                idPrefix={ids}
                value={draft}
                onChange={set}
                errors={err}
                placeholders={{
                  from: template?.from ?? "the default sender",
                  fromName: template?.fromName ?? "",
                  replyTo: template?.replyTo ?? "",
                }}
              />
            </div>

            <fieldset className="compose-choice">
              <legend>Content</legend>
              <RadioOptions
                name="mode"
                value={draft.mode}
                onChange={(v) => set("mode", v)}
                options={[
                  ["write", "Write it here"],
                  ["template", "Use a template"],
                ]}
              />
            </fieldset>
            {draft.mode === "template" && (
              <PickById
                label="Template"
                name="templateId"
                value={draft.templateId}
                onChange={(v) => set("templateId", v)}
                items={templates.list}
                query={templates.query}
                choose="Choose a template…"
                errorId={`${ids}-template-error`}
                error={err.templateId}
              >
                This project has no templates yet: <Link href="/templates/new">write one</Link>, or write the
                campaign here.
              </PickById>
            )}
            <SubjectAndBody
              idPrefix={`${ids}-c`}
              subject={draft.subject}
              body={draft.body}
              onSubject={(v) => set("subject", v)}
              onBody={(v) => set("body", v)}
              subjectError={err.subject}
              bodyError={err.body}
              noBody={draft.mode === "template"}
              rows={10}
              subjectLabel={
                draft.mode === "template" ? "Subject (optional: the template's otherwise)" : "Subject"
              }
              subjectPlaceholder={draft.mode === "template" ? template?.subject : undefined}
            />

            <div className="form-actions">
              <div aria-live="polite" className="form-status">
                {campaign && act.isSuccess && act.variables?.kind === "save" && !dirty && (
                  <span className="text-ok">Draft saved.</span>
                )}
                {dirty && <span className="muted">Unsaved changes</span>}
              </div>
              <Link href="/campaigns" className="button-link secondary">
                {campaign ? "Back" : "Cancel"}
              </Link>
              <button
                type="submit"
                aria-busy={act.isPending && act.variables?.kind === "save"}
                disabled={act.isPending}
              >
                Save draft
              </button>
            </div>
            {failedKind === "save" && unshown && <ErrorBox error={e} title={FAILED.save} />}
          </form>

          <section className="compose-section" aria-labelledby={`${ids}-send-title`}>
            <h2 id={`${ids}-send-title`}>Test, schedule or send</h2>
            {!campaign ? (
              <p className="muted">
                Save the draft first: then send yourself a test, schedule it or send it.
              </p>
            ) : (
              <>
                <p className="muted">
                  <small>Each of these saves your changes to the draft first.</small>
                </p>
                <form
                  className="inline-form"
                  aria-label="Send a test"
                  noValidate
                  onSubmit={(ev) => {
                    ev.preventDefault();
                    run({ kind: "test", to: to.trim(), ...(contact ? { contactId: contact.id } : {}) });
                  }}
                >
                  <label>
                    Send a test to
                    <input
                      name="to"
                      type="email"
                      autoComplete="email"
                      value={to}
                      onChange={(ev) => setTo(ev.target.value)}
                      placeholder="you@example.com"
                      aria-describedby={`${ids}-to-hint${err.to ? ` ${ids}-to-error` : ""}`}
                      {...(err.to ? { "aria-invalid": true } : {})}
                    />
                    <small id={`${ids}-to-hint`} className="muted">
                      Rendered with {contact ? `the data of ${contact.email}` : "the example contact"}, as in
                      the preview; nothing is recorded.
                    </small>
                    <FieldError id={`${ids}-to-error`} message={err.to} />
                  </label>
                  <button
                    type="submit"
                    className="outline"
                    aria-busy={act.isPending && act.variables?.kind === "test"}
                    disabled={act.isPending}
                  >
                    Send test
                  </button>
                </form>
                <div aria-live="polite">
                  {act.isSuccess && act.data.test && (
                    <p className="notice" role="status">
                      Sent a test, “{act.data.test.subject}”, to {act.data.test.to} (SES message{" "}
                      <code>{act.data.test.messageId}</code>).
                    </p>
                  )}
                </div>
                {failedKind === "test" && unshown && <ErrorBox error={e} title={FAILED.test} />}

                <form
                  className="inline-form schedule-form"
                  aria-label="Schedule"
                  noValidate
                  onSubmit={(ev) => {
                    ev.preventDefault();
                    run({ kind: "schedule", at, timeZone });
                  }}
                >
                  <label>
                    Send at
                    <input
                      name="at"
                      type="datetime-local"
                      value={at}
                      onChange={(ev) => setAt(ev.target.value)}
                      aria-describedby={`${ids}-at-hint${err.at ? ` ${ids}-at-error` : ""}`}
                      {...(err.at ? { "aria-invalid": true } : {})}
                    />
                    <FieldError id={`${ids}-at-error`} message={err.at} />
                  </label>
                  <label>
                    Time zone
                    <select
                      name="timeZone"
                      value={timeZone}
                      onChange={(ev) => setZone(ev.target.value)}
                      {...invalidProps(`${ids}-zone-error`, err.timeZone)}
                    >
                      {zones.map((z) => (
                        <option key={z} value={z}>
                          {z === project.timeZone ? `${z} (the project's)` : z}
                        </option>
                      ))}
                    </select>
                    <FieldError id={`${ids}-zone-error`} message={err.timeZone} />
                  </label>
                  <button
                    type="submit"
                    className="outline"
                    aria-busy={act.isPending && act.variables?.kind === "schedule"}
                    disabled={act.isPending}
                  >
                    Schedule
                  </button>
                  <small id={`${ids}-at-hint`} className="muted schedule-hint">
                    {atMs !== null
                      ? `${formatInZone(atMs, timeZone)}; where you are: ${new Date(atMs).toLocaleString()}.`
                      : "A day and a time, read in the time zone chosen; the campaign starts within a minute of it."}
                  </small>
                </form>
                {failedKind === "schedule" && unshown && <ErrorBox error={e} title={FAILED.schedule} />}

                <div className="send-now">
                  <button
                    type="button"
                    onClick={() => {
                      setTried(true);
                      if (localOk) {
                        count.refetch();
                        setConfirmSend(true);
                      }
                    }}
                    disabled={act.isPending}
                  >
                    Send now…
                  </button>
                  <DeleteDraft campaign={campaign} />
                </div>
                {failedKind === "send" && unshown && <ErrorBox error={e} title={FAILED.send} />}
                <SendDialog
                  open={confirmSend}
                  name={draft.name.trim() || campaign.name}
                  count={count.data}
                  busy={act.isPending}
                  onConfirm={() => act.mutate({ kind: "send" })}
                  onCancel={() => setConfirmSend(false)}
                />
              </>
            )}
          </section>
        </div>
        <div className="compose-preview">
          <EmailPreview
            preview={preview}
            contact={contact}
            onContact={setContact}
            empty={draft.mode === "template" && !template ? "Choose a template to see it here." : undefined}
          />
        </div>
      </div>
    </>
  );
}

/**
 * A select of the project's segments or templates by name: one chosen that is not among them (deleted, or
 * not loaded yet) kept as an option of its own; `children` said under it when the project has none.
 */
function PickById(props: {
  label: string;
  name: string;
  value: string;
  onChange: (id: string) => void;
  items: readonly { id: string; name: string }[];
  query: { isPending: boolean; isSuccess: boolean };
  choose: string;
  errorId: string;
  error: string | undefined;
  children: ReactNode;
}) {
  const { value, items, query } = props;
  return (
    <label>
      {props.label}
      <select
        name={props.name}
        value={value}
        onChange={(ev) => props.onChange(ev.target.value)}
        aria-busy={query.isPending}
        {...invalidProps(props.errorId, props.error)}
      >
        <option value="">{props.choose}</option>
        {value && !items.some((i) => i.id === value) && (
          <option value={value}>{query.isPending ? value : `${value} (not found)`}</option>
        )}
        {items.map((i) => (
          <option key={i.id} value={i.id}>
            {i.name}
          </option>
        ))}
      </select>
      <FieldError id={props.errorId} message={props.error} />
      {query.isSuccess && items.length === 0 && <small className="muted">{props.children}</small>}
    </label>
  );
}

function AudienceCountLine({
  audience,
  count,
}: {
  audience: CampaignAudience | null;
  count: ReturnType<typeof useAudienceCount>;
}) {
  let text: string;
  let state: string;
  if (!audience) {
    text = "Choose a segment to see how many contacts get it.";
    state = "incomplete";
  } else if (count.isError && !count.isFetching) {
    const e = count.error;
    text = `Not counted: ${e instanceof ApiError && e.fields.length ? e.fields.map((f) => f.message).join("; ") : describeError(e)}`;
    state = "error";
  } else if (count.data && !count.isPlaceholderData) {
    text = `${countWords(count.data)} now`;
    state = count.isFetching ? "counting" : "done";
  } else {
    text = "Counting…";
    state = "counting";
  }
  return (
    <div className="live-count audience-count" data-state={state}>
      <span className="live-count-label">Audience</span>
      <output
        aria-live="polite"
        aria-busy={state === "counting"}
        data-count={state === "done" ? count.data?.count : undefined}
      >
        {text}
      </output>
    </div>
  );
}

function SendDialog(props: {
  open: boolean;
  name: string;
  count: AudienceCount | undefined;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const n = props.count?.count;
  return (
    <ConfirmDialog
      open={props.open}
      title="Send this campaign now?"
      confirmLabel={n === undefined ? "Send it now" : `Send to ${plural(n, "contact")}`}
      busy={props.busy}
      onConfirm={props.onConfirm}
      onCancel={props.onCancel}
    >
      <p>
        <strong>{props.name}</strong> goes to{" "}
        <strong>{props.count ? countWords(props.count) : "every subscribed contact of its audience"}</strong>,
        starting now. <strong>It cannot be taken back</strong>: a cancel stops only the emails not sent yet.
      </p>
      <p className="muted">
        The audience is read as it is when the emails are made: a contact who unsubscribes meanwhile is not
        sent to.
      </p>
    </ConfirmDialog>
  );
}

function DeleteDraft({ campaign }: { campaign: Campaign }) {
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation({
    mutationFn: () => del<void>(`/campaigns/${campaign.id}`),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.campaign(campaign.id) });
      queryClient.invalidateQueries({ queryKey: [...keys.campaigns, "list"] });
      navigate("/campaigns", { state: { deleted: campaign.name } });
    },
    onSettled: () => setConfirming(false),
  });
  return (
    <>
      <button type="button" className="secondary outline" onClick={() => setConfirming(true)}>
        Delete draft
      </button>
      {remove.isError && <ErrorBox error={remove.error} title="The draft was not deleted" />}
      <ConfirmDialog
        open={confirming}
        title="Delete this draft?"
        confirmLabel="Yes, delete it"
        danger
        busy={remove.isPending}
        onConfirm={() => remove.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          The draft <strong>{campaign.name}</strong> is deleted. <strong>This cannot be undone.</strong>
        </p>
      </ConfirmDialog>
    </>
  );
}

/* ---------------------------------------------------------------- a campaign that left DRAFT */

const STATUS_WORDS: Record<string, string> = {
  SCHEDULED: "Scheduled: the cron starts it within a minute of its time",
  SENDING: "Sending: its recipients' emails are being made and sent; refreshing every 2 seconds",
  SENT: "Sent: every recipient's email was sent or skipped",
  CANCELLED: "Cancelled: the emails not sent by then were not sent",
};

function CampaignView({ campaign: c }: { campaign: Campaign }) {
  const queryClient = useQueryClient();
  const segmentName = useSegmentName();
  const templates = useTemplates();
  const template = c.templateId ? templates.byId.get(c.templateId) : undefined;
  const [confirm, setConfirm] = useState<"send" | "cancel" | null>(null);
  const count = useAudienceCount(c.status === "SCHEDULED" ? c.audience : null);
  const change = useMutation({
    mutationFn: (what: "send" | "cancel" | "unschedule") => post<Campaign>(`/campaigns/${c.id}/${what}`),
    onSuccess: (next) => {
      queryClient.setQueryData(keys.campaign(c.id), next);
      queryClient.invalidateQueries({ queryKey: [...keys.campaigns, "list"] });
    },
    onSettled: () => setConfirm(null),
  });
  const from = c.from ?? template?.from ?? null;
  const fromName = c.fromName ?? template?.fromName ?? null;
  const subject = c.subject ?? template?.subject ?? null;
  const FAILED_CHANGE = {
    send: "The campaign was not sent",
    cancel: "The campaign was not cancelled",
    unschedule: "The campaign was not unscheduled",
  };

  return (
    <>
      <p className="breadcrumb">
        <Link href="/campaigns">Campaigns</Link> /
      </p>
      <div className="page-head">
        <h1 className="compose-title">{c.name}</h1>
        <div className="row-actions campaign-actions">
          {c.status === "SCHEDULED" && (
            <>
              <button
                type="button"
                onClick={() => {
                  count.refetch();
                  setConfirm("send");
                }}
                disabled={change.isPending}
              >
                Send now…
              </button>
              <button
                type="button"
                className="secondary outline"
                onClick={() => change.mutate("unschedule")}
                aria-busy={change.isPending && change.variables === "unschedule"}
                disabled={change.isPending}
              >
                Unschedule
              </button>
            </>
          )}
          {(c.status === "SCHEDULED" || c.status === "SENDING") && (
            <button
              type="button"
              className="danger"
              onClick={() => setConfirm("cancel")}
              disabled={change.isPending}
            >
              Cancel campaign…
            </button>
          )}
        </div>
      </div>
      {change.isError && <ErrorBox error={change.error} title={FAILED_CHANGE[change.variables ?? "send"]} />}
      <dl className="fields campaign-fields">
        <dt>Status</dt>
        <dd aria-live="polite">
          <StatusBadge status={c.status} /> <small className="muted">{STATUS_WORDS[c.status] ?? ""}</small>
        </dd>
        {c.status === "SCHEDULED" && c.scheduledAt && (
          <>
            <dt>Scheduled for</dt>
            <dd className="scheduled-for">
              <time dateTime={c.scheduledAt}>
                {formatInZone(Date.parse(c.scheduledAt), c.timeZone ?? "UTC")}
              </time>{" "}
              <span className="muted">
                in <strong className="time-zone">{c.timeZone ?? "UTC"}</strong>; where you are:{" "}
                {new Date(c.scheduledAt).toLocaleString()}
              </span>
            </dd>
          </>
        )}
        {c.startedAt && (
          <>
            <dt>Started</dt>
            <dd>
              <Time iso={c.startedAt} />
            </dd>
          </>
        )}
        {c.finishedAt && (
          <>
            <dt>{c.status === "CANCELLED" ? "Cancelled" : "Finished"}</dt>
            <dd>
              <Time iso={c.finishedAt} />
            </dd>
          </>
        )}
        <dt>Audience</dt>
        <dd>{audienceWords(c.audience, segmentName)}</dd>
        <dt>Subject</dt>
        <dd>
          <code>{subject ?? "—"}</code>
        </dd>
        {c.templateId && (
          <>
            <dt>Template</dt>
            <dd>
              <Link href={`/templates/${c.templateId}`}>{template?.name ?? c.templateId}</Link>
            </dd>
          </>
        )}
        <dt>From</dt>
        <dd>{from ? (fromName ? `${fromName} <${from}>` : from) : "the default sender"}</dd>
        {(c.replyTo ?? template?.replyTo) && (
          <>
            <dt>Reply-to</dt>
            <dd>{c.replyTo ?? template?.replyTo}</dd>
          </>
        )}
      </dl>
      {c.status === "SENDING" && <Progress campaign={c} />}
      {c.status !== "SCHEDULED" && <Stats campaign={c} />}
      <TheEmail subject={subject} body={c.body ?? template?.body ?? null} />
      <SendDialog
        open={confirm === "send"}
        name={c.name}
        count={count.data}
        busy={change.isPending}
        onConfirm={() => change.mutate("send")}
        onCancel={() => setConfirm(null)}
      />
      <ConfirmDialog
        open={confirm === "cancel"}
        title="Cancel this campaign?"
        confirmLabel="Yes, cancel it"
        danger
        busy={change.isPending}
        onConfirm={() => change.mutate("cancel")}
        onCancel={() => setConfirm(null)}
      >
        <p>
          <strong>{c.name}</strong>{" "}
          {c.status === "SENDING"
            ? `has sent ${plural(c.stats.sent, "email")} so far: those are not taken back, and the rest are not sent (counted as skipped).`
            : "is not sent at its time."}{" "}
          <strong>A cancelled campaign cannot be sent again.</strong>
        </p>
      </ConfirmDialog>
    </>
  );
}

function Progress({ campaign: c }: { campaign: Campaign }) {
  const id = useId();
  const { recipients, sent, skipped } = c.stats;
  const done = sent + skipped;
  return (
    <section className="campaign-progress" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Progress</h2>
      <p data-fanned-out={c.fannedOut}>
        {c.fannedOut
          ? `All ${plural(recipients, "recipient")}' emails are made.`
          : `Making the recipients' emails, 500 at a time: ${plural(recipients, "recipient")} so far.`}
      </p>
      <label htmlFor={`${id}-bar`}>
        Sent or skipped:{" "}
        <strong data-progress>{`${done.toLocaleString()} of ${recipients.toLocaleString()}`}</strong>
        {c.fannedOut ? "" : " made so far"}
      </label>
      <progress id={`${id}-bar`} max={Math.max(recipients, 1)} value={done} />
    </section>
  );
}

const rate = (n: number, of: number) =>
  of > 0 ? `${(Math.round((n / of) * 1000) / 10).toLocaleString()}%` : "—";

function Stats({ campaign: c }: { campaign: Campaign }) {
  const id = useId();
  const s = c.stats;
  const items: [keyof typeof s, string, ReactNode?][] = [
    ["recipients", "Recipients"],
    ["sent", "Sent"],
    ["skipped", "Skipped"],
    ["delivered", "Delivered"],
    ["opened", "Opened", <>{rate(s.opened, s.sent)} open rate</>],
    ["clicked", "Clicked", <>{rate(s.clicked, s.sent)} click rate</>],
    ["bounced", "Bounced"],
    ["complained", "Complained"],
    ["unsubscribed", "Unsubscribed"],
  ];
  return (
    <section className="campaign-stats-section" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Stats</h2>
      <dl className="campaign-stats">
        {items.map(([key, label, extra]) => (
          <div key={key} data-stat={key}>
            <dt>{label}</dt>
            <dd>
              <span className="counter-value">{s[key].toLocaleString()}</span>
              {extra && <small className="muted">{extra}</small>}
            </dd>
          </div>
        ))}
      </dl>
      <p className="muted">
        <small>
          Rates are of the emails sent. Opens and clicks count each email's first; delivered, bounced and
          complained come from SES's notifications; unsubscribed counts the campaign's unsubscribe links
          followed, bounces and complaints. Skipped: contacts unsubscribed by the time their email was sent,
          or emails a cancel stopped.
        </small>
      </p>
    </section>
  );
}

/** The campaign's email, rendered on demand (the preview renders only once this is opened). */
function TheEmail({ subject, body }: { subject: string | null; body: string | null }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDetailsElement>(null);
  return (
    <details ref={ref} className="campaign-email" onToggle={() => setOpen(Boolean(ref.current?.open))}>
      <summary>The email</summary>
      {open && <TheEmailPreview subject={subject ?? ""} body={body ?? ""} />}
    </details>
  );
}

function TheEmailPreview({ subject, body }: { subject: string; body: string }) {
  const [contact, setContact] = useState<PreviewContact | null>(null);
  const preview = usePreview({ subject, body }, contact);
  return <EmailPreview preview={preview} contact={contact} onContact={setContact} />;
}
