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

export interface InboundEmail {
  sender: string;
  data: {
    messageId: string;
    from: string;
    fromHeader: string;
    to: string;
    subject: string;
    timestamp: string;
    recipients: string[];
    hasContent: boolean;
    spamVerdict: string | null;
    virusVerdict: string | null;
    spfVerdict: string | null;
    dkimVerdict: string | null;
    dmarcVerdict: string | null;
    processingTimeMillis: number | null;
  };
}

interface ReceivedPayload {
  notificationType?: string;
  content?: string;
  mail?: {
    messageId?: string;
    source?: string;
    timestamp?: string;
    destination?: string[];
    commonHeaders?: { from?: string[]; to?: string[]; subject?: string };
  };
  receipt?: {
    timestamp?: string;
    recipients?: string[];
    processingTimeMillis?: number;
    spamVerdict?: { status?: string };
    virusVerdict?: { status?: string };
    spfVerdict?: { status?: string };
    dkimVerdict?: { status?: string };
    dmarcVerdict?: { status?: string };
  };
}

/** An SES inbound `Received` notification as `email.received`'s payload (Plunk's guide), or null. */
export function parseInbound(message: string): InboundEmail | null {
  let p: ReceivedPayload;
  try {
    p = JSON.parse(message) as ReceivedPayload;
  } catch {
    return null;
  }
  if (p.notificationType !== "Received" || !p.mail?.source || !p.mail.messageId) return null;
  const recipients = p.receipt?.recipients ?? p.mail.destination ?? [];
  return {
    sender: p.mail.source.trim().toLowerCase(),
    data: {
      messageId: p.mail.messageId,
      from: p.mail.source,
      fromHeader: p.mail.commonHeaders?.from?.[0] ?? p.mail.source,
      to: recipients[0] ?? p.mail.commonHeaders?.to?.[0] ?? "",
      subject: p.mail.commonHeaders?.subject ?? "",
      timestamp: p.mail.timestamp ?? p.receipt?.timestamp ?? new Date().toISOString(),
      recipients,
      hasContent: typeof p.content === "string" && p.content.length > 0,
      spamVerdict: p.receipt?.spamVerdict?.status ?? null,
      virusVerdict: p.receipt?.virusVerdict?.status ?? null,
      spfVerdict: p.receipt?.spfVerdict?.status ?? null,
      dkimVerdict: p.receipt?.dkimVerdict?.status ?? null,
      dmarcVerdict: p.receipt?.dmarcVerdict?.status ?? null,
      processingTimeMillis: p.receipt?.processingTimeMillis ?? null,
    },
  };
}
