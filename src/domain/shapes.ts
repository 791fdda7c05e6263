/** Rows as the API shows them (API.md "Resource shapes"). */
export const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

export function parseJsonObject(text: string | null | undefined): Record<string, unknown> {
  if (!text) return {};
  const v = JSON.parse(text) as unknown;
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export interface ContactLike {
  id: string;
  email: string;
  subscribed: boolean | number;
  data: string;
  createdAt: number;
  updatedAt: number;
}

export const showContact = (c: ContactLike) => ({
  id: c.id,
  email: c.email,
  subscribed: Boolean(c.subscribed),
  data: parseJsonObject(c.data),
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
});

export interface EventLike {
  id: string;
  name: string;
  data: string;
  contactId: string;
  createdAt: number;
}

export const showEvent = (e: EventLike) => ({
  id: e.id,
  name: e.name,
  data: parseJsonObject(e.data),
  contactId: e.contactId,
  createdAt: iso(e.createdAt),
});
