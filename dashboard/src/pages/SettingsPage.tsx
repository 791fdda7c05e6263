/**
 * Settings (/settings): the project's name and id; its API keys (their prefixes only) with Rotate keys,
 * whose new keys are shown once (RotatedKeysDialog) before signing in again; the webhook signing secret
 * with Rotate webhook secret (the previous one keeps signing for 24 hours); the retention in days and the
 * time zone, saved with `PATCH /project` (the API's 422 shown at its field).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useMemo, useState } from "react";
import { ApiError, patch, post } from "../api/client";
import { keys, projectQuery } from "../api/queries";
import type { PatchProjectBody, ProjectSettings, RotatedKeys, RotatedWebhookSecret } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, fieldMessage } from "../components/FieldError";
import { Time } from "../components/Time";
import { CopyField } from "../settings/CopyField";
import { setRotatedKeys } from "../settings/rotatedKeys";
import "../settings/settings.css";

export function SettingsPage() {
  const project = useQuery(projectQuery);
  return (
    <>
      <h1>Settings</h1>
      {project.isError && <ErrorBox error={project.error} title="Could not load the project" />}
      {project.isPending && <p aria-busy="true">Loading the project…</p>}
      {project.data && (
        <div className="settings">
          <ProjectSection p={project.data} />
          <KeysSection p={project.data} />
          <WebhookSection p={project.data} />
          <PreferencesSection p={project.data} />
        </div>
      )}
    </>
  );
}

function ProjectSection({ p }: { p: ProjectSettings }) {
  return (
    <section aria-labelledby="project-title" className="settings-section">
      <h2 id="project-title">Project</h2>
      <dl className="fields">
        <dt>Name</dt>
        <dd>{p.name}</dd>
        <dt>Project id</dt>
        <dd>
          <code>{p.id}</code>
        </dd>
        <dt>Created</dt>
        <dd>
          <Time iso={p.createdAt} />
        </dd>
      </dl>
    </section>
  );
}

function KeysSection({ p }: { p: ProjectSettings }) {
  const [confirming, setConfirming] = useState(false);
  const rotate = useMutation({
    mutationFn: () => post<RotatedKeys>("/project/rotate-keys"),
    onSuccess: (answer) => {
      setConfirming(false);
      setRotatedKeys(answer);
    },
  });
  return (
    <section aria-labelledby="keys-title" className="settings-section">
      <h2 id="keys-title">API keys</h2>
      <p className="muted">
        A key is shown whole only once, when it is made; here are the first characters of each, to tell which
        one you hold.
      </p>
      <dl className="fields">
        <dt>Public key</dt>
        <dd>
          <code>{p.publicKeyPrefix}…</code>{" "}
          <small className="muted">tracks events (POST /v1/track): safe in an app or a browser</small>
        </dd>
        <dt>Secret key</dt>
        <dd>
          <code>{p.secretKeyPrefix}…</code>{" "}
          <small className="muted">the whole API, and signing in here: keep it on your servers</small>
        </dd>
      </dl>
      <button type="button" className="danger" onClick={() => setConfirming(true)}>
        Rotate keys
      </button>
      {rotate.isError && <ErrorBox error={rotate.error} title="The keys were not rotated" />}
      <ConfirmDialog
        open={confirming}
        title="Rotate the API keys?"
        confirmLabel="Yes, rotate the keys"
        danger
        busy={rotate.isPending}
        onConfirm={() => rotate.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          New public and secret keys are made, and <strong>the old ones stop working at once</strong>: every
          app, server and script that uses them is refused until it has the new ones.
        </p>
        <p>
          <strong>This session ends too</strong> (it was made with the old secret key). The new keys are shown
          once, next: copy them, then sign in again with the new secret key.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function WebhookSection({ p }: { p: ProjectSettings }) {
  const queryClient = useQueryClient();
  const [shown, setShown] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const rotate = useMutation({
    mutationFn: () => post<RotatedWebhookSecret>("/project/rotate-webhook-secret"),
    onSuccess: (answer) => {
      setConfirming(false);
      setShown(true);
      queryClient.setQueryData<ProjectSettings>(keys.project, (old) =>
        old ? { ...old, webhookSecret: answer.webhookSecret } : old,
      );
    },
  });
  const secret = p.webhookSecret;
  return (
    <section aria-labelledby="webhook-title" className="settings-section">
      <h2 id="webhook-title">Webhook signing secret</h2>
      <p className="muted">
        Every webhook a workflow sends is signed with this secret (Standard Webhooks: the{" "}
        <code>webhook-signature</code> header), so that the receiver can check it came from this project.
      </p>
      {shown ? (
        <CopyField id="webhook-secret" label="Signing secret" value={secret} />
      ) : (
        <p>
          <span className="muted">Signing secret: </span>
          <code>{secret.slice(0, 10)}</code>
          <span className="muted"> (the rest hidden)</span>
        </p>
      )}
      <div className="settings-actions">
        <button type="button" className="secondary outline" onClick={() => setShown(!shown)}>
          {shown ? "Hide the secret" : "Show the secret"}
        </button>
        <button type="button" className="secondary" onClick={() => setConfirming(true)}>
          Rotate webhook secret
        </button>
      </div>
      {rotate.isSuccess && (
        <p className="notice" role="status">
          A new secret signs the webhooks from now on. Until{" "}
          <Time iso={rotate.data.previousSecretValidUntil} /> (24 hours), each webhook is signed with the
          previous secret as well, so that receivers that still check with it go on working: give them the new
          one before then.
        </p>
      )}
      {rotate.isError && <ErrorBox error={rotate.error} title="The webhook secret was not rotated" />}
      <ConfirmDialog
        open={confirming}
        title="Rotate the webhook signing secret?"
        confirmLabel="Yes, make a new secret"
        busy={rotate.isPending}
        onConfirm={() => rotate.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          A new secret is made and signs every webhook from now on.{" "}
          <strong>The current one keeps signing beside it for 24 hours</strong>, then stops: give the new
          secret to your receivers before then.
        </p>
      </ConfirmDialog>
    </section>
  );
}

/** Whether this browser knows the IANA time zone (the API decides: this only drives the hint). */
function knownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

function nowIn(zone: string): string {
  return new Intl.DateTimeFormat(undefined, {
    timeZone: zone,
    weekday: "short",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
  }).format(Date.now());
}

function PreferencesSection({ p }: { p: ProjectSettings }) {
  const queryClient = useQueryClient();
  const [retention, setRetention] = useState(String(p.retentionDays));
  const [zone, setZone] = useState(p.timeZone);
  const zones = useMemo(() => {
    const all = Intl.supportedValuesOf("timeZone");
    return all.includes("UTC") ? all : ["UTC", ...all];
  }, []);
  const save = useMutation({
    mutationFn: (body: PatchProjectBody) => patch<ProjectSettings, PatchProjectBody>("/project", body),
    onSuccess: (saved) => queryClient.setQueryData(keys.project, saved),
  });
  const body: PatchProjectBody = {};
  const retentionTrimmed = retention.trim();
  if (retentionTrimmed !== String(p.retentionDays)) {
    body.retentionDays = retentionTrimmed === "" ? null : Number(retentionTrimmed);
  }
  if (zone.trim() !== p.timeZone) body.timeZone = zone.trim();
  const changed = Object.keys(body).length > 0;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (changed) save.mutate(body);
  };
  // The API's refusals at their fields, while each still holds what was sent.
  const sent = save.variables;
  const err = {
    retentionDays:
      sent && "retentionDays" in sent && sent.retentionDays === body.retentionDays
        ? fieldMessage(save.error, "retentionDays")
        : undefined,
    timeZone:
      sent?.timeZone !== undefined && sent.timeZone === zone.trim()
        ? fieldMessage(save.error, "timeZone")
        : undefined,
  };
  const atFields = fieldMessage(save.error, "retentionDays") || fieldMessage(save.error, "timeZone");
  const other = save.error instanceof ApiError && save.error.status === 422 && atFields ? null : save.error;
  const known = knownZone(zone.trim());
  const describedBy = (error: string | undefined, errorId: string, hintId: string) =>
    error ? `${errorId} ${hintId}` : hintId;

  return (
    <section aria-labelledby="prefs-title" className="settings-section">
      <h2 id="prefs-title">Retention and time zone</h2>
      <form onSubmit={submit} noValidate aria-labelledby="prefs-title" className="settings-form">
        <div className="settings-field">
          <label htmlFor="retention-days">Retention (days)</label>
          <input
            id="retention-days"
            type="number"
            name="retentionDays"
            inputMode="numeric"
            min={1}
            max={365}
            step={1}
            value={retention}
            onChange={(e) => setRetention(e.target.value)}
            aria-describedby={describedBy(err.retentionDays, "retention-error", "retention-hint")}
            aria-invalid={err.retentionDays ? true : undefined}
          />
          <FieldError id="retention-error" message={err.retentionDays} />
          <small id="retention-hint" className="muted">
            1 to 365. Ended executions and their logs, finished webhook deliveries, email bodies and events
            older than this are deleted (the analytics' counters stay).
          </small>
        </div>
        <div className="settings-field">
          <label htmlFor="time-zone">Time zone</label>
          <input
            id="time-zone"
            name="timeZone"
            list="time-zones"
            autoComplete="off"
            spellCheck={false}
            value={zone}
            onChange={(e) => setZone(e.target.value)}
            placeholder="Europe/Berlin"
            aria-describedby={describedBy(err.timeZone, "zone-error", "zone-hint")}
            aria-invalid={err.timeZone ? true : undefined}
          />
          <datalist id="time-zones">
            {zones.map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
          <FieldError id="zone-error" message={err.timeZone} />
          <small id="zone-hint" className="muted">
            An IANA name, such as Europe/Berlin or UTC: the zone schedule triggers are read in.{" "}
            {known ? (
              <>Now there: {nowIn(zone.trim())}.</>
            ) : zone.trim() ? (
              <span className="text-bad">This browser does not know this zone.</span>
            ) : null}
          </small>
        </div>
        {other && <ErrorBox error={other} title="The settings were not saved" />}
        <div className="form-actions">
          <span aria-live="polite" className="settings-saved">
            {save.isSuccess && !changed && <span className="text-ok">Saved.</span>}
          </span>
          <button type="submit" disabled={!changed || save.isPending} aria-busy={save.isPending}>
            Save settings
          </button>
        </div>
      </form>
    </section>
  );
}
