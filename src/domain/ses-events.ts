/** SES notifications (event publishing and notifications) as the system events of Plunk's guide. */
export type SesKind = "delivery" | "open" | "click" | "bounce" | "complaint";

export interface SesEvent {
  kind: SesKind;
  messageId: string;
  at: number;
  bounceType?: "Permanent" | "Transient" | "Undetermined";
  link?: string;
}

interface SesPayload {
  eventType?: string;
  notificationType?: string;
  mail?: { messageId?: string; timestamp?: string };
  delivery?: { timestamp?: string };
  open?: { timestamp?: string };
  click?: { timestamp?: string; link?: string };
  bounce?: { bounceType?: string; timestamp?: string };
  complaint?: { timestamp?: string };
}

const time = (s: string | undefined, fallback: number) => {
  const t = s ? Date.parse(s) : Number.NaN;
  return Number.isNaN(t) ? fallback : t;
};

/** The event an SES notification describes, or null for kinds we do not track (Send, Reject, …). */
export function parseSesEvent(message: string, now: number): SesEvent | null {
  let p: SesPayload;
  try {
    p = JSON.parse(message) as SesPayload;
  } catch {
    return null;
  }
  const type = (p.eventType ?? p.notificationType ?? "").toLowerCase();
  const messageId = p.mail?.messageId;
  if (!messageId) return null;
  switch (type) {
    case "delivery":
      return { kind: "delivery", messageId, at: time(p.delivery?.timestamp, now) };
    case "open":
      return { kind: "open", messageId, at: time(p.open?.timestamp, now) };
    case "click":
      return { kind: "click", messageId, at: time(p.click?.timestamp, now), link: p.click?.link ?? "" };
    case "bounce": {
      const b = p.bounce?.bounceType;
      const bounceType = b === "Permanent" || b === "Transient" ? b : "Undetermined";
      return { kind: "bounce", messageId, at: time(p.bounce?.timestamp, now), bounceType };
    }
    case "complaint":
      return { kind: "complaint", messageId, at: time(p.complaint?.timestamp, now) };
    default:
      return null;
  }
}
