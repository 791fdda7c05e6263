/** One line per step saying what its config does: what a node shows under its name. */
import { scheduleOfConfig } from "../components/schedule";
import type { EditorStep } from "./model";

const str = (v: unknown) => (typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v));

export function formatSeconds(total: number): string {
  const units: [number, string][] = [
    [86_400, "day"],
    [3_600, "hour"],
    [60, "minute"],
    [1, "second"],
  ];
  for (const [size, name] of units) {
    if (total >= size && total % size === 0) {
      const n = total / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${total} seconds`;
}

const noName = () => undefined;

export function summarize(
  step: EditorStep,
  templateName: (id: string) => string | undefined,
  segmentName: (id: string) => string | undefined = noName,
): string {
  const c = step.config;
  switch (step.type) {
    case "TRIGGER": {
      const schedule = scheduleOfConfig(c);
      if (schedule) {
        const who = schedule.segmentId
          ? (segmentName(schedule.segmentId) ?? schedule.segmentId)
          : "no contact";
        return `Every ${schedule.cron.trim() || "(no schedule)"} · ${who}`;
      }
      return `When ${str(c.eventName) || "the event"} is tracked`;
    }
    case "SEND_EMAIL": {
      const id = str(c.templateId);
      if (!id) return "No template chosen";
      const name = templateName(id) ?? `Template ${id}`;
      const r = c.recipient as { type?: unknown; email?: unknown } | undefined;
      return r?.type === "CUSTOM" ? `${name} to ${str(r.email) || "(no address)"}` : name;
    }
    case "DELAY": {
      const n = typeof c.amount === "number" ? c.amount : Number(c.amount);
      const unit = str(c.unit) || "days";
      return `${Number.isFinite(n) ? n : "?"} ${n === 1 ? unit.replace(/s$/, "") : unit}`;
    }
    case "WAIT_FOR_EVENT": {
      const ev = str(c.eventName) || "(no event)";
      const t = typeof c.timeout === "number" ? `, timeout ${formatSeconds(c.timeout)}` : ", no timeout";
      const m = c.match && typeof c.match === "object" ? Object.keys(c.match) : [];
      return `Wait for ${ev}${m.length ? ` where ${m.join(", ")} match` : ""}${t}`;
    }
    case "CONDITION": {
      if (c.mode === "multi") {
        const names = Array.isArray(c.branches)
          ? c.branches.map((b) => (b && typeof b === "object" ? str((b as { name?: unknown }).name) : ""))
          : [];
        return `${str(c.field) || "(no field)"}: ${names.filter(Boolean).join(", ") || "(no branches)"}, else default`;
      }
      const op = str(c.operator);
      const field = str(c.field) || "(no field)";
      if (op === "exists" || op === "notExists") return `${field} ${op}`;
      return `${field} ${op} ${str(c.value)}`;
    }
    case "WEBHOOK":
      return `${str(c.method) || "POST"} ${str(c.url) || "(no URL)"}`;
    case "UPDATE_CONTACT": {
      const parts: string[] = [];
      const data = c.data && typeof c.data === "object" ? Object.keys(c.data as object) : [];
      if (data.length) parts.push(`Set ${data.join(", ")}`);
      if (typeof c.subscribed === "boolean") parts.push(c.subscribed ? "subscribe" : "unsubscribe");
      return parts.length ? parts.join("; ") : "Nothing to update";
    }
    case "EXIT":
      return str(c.reason) ? `Reason: ${str(c.reason)}` : "End here";
  }
}
