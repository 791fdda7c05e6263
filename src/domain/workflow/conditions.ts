/** CONDITION: field paths and operators (API.md), evaluated over the contact and the event data. */
import type { Operator } from "./config";

export interface ConditionSubject {
  contact: { email: string; subscribed: boolean; data: Record<string, unknown> };
  event: Record<string, unknown>;
}

function dig(value: unknown, path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

export function resolveField(field: string, subject: ConditionSubject): unknown {
  const [root, ...rest] = field.split(".");
  if (root === "event") return dig(subject.event, rest);
  if (rest[0] === "email") return subject.contact.email;
  if (rest[0] === "subscribed") return subject.contact.subscribed;
  return dig(subject.contact.data, rest.slice(1));
}

function asNumber(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function asTime(v: unknown): number | null {
  if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}/.test(v)) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

/** Equality that forgives a number written as a string, and `true` written as "true". */
export function looseEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a === "object" || typeof b === "object") return JSON.stringify(a) === JSON.stringify(b);
  const na = asNumber(a);
  const nb = asNumber(b);
  if (na !== null && nb !== null) return na === nb;
  return String(a) === String(b);
}

function compare(a: unknown, b: unknown): number | null {
  const na = asNumber(a);
  const nb = asNumber(b);
  if (na !== null && nb !== null) return na - nb;
  const ta = asTime(a);
  const tb = asTime(b);
  if (ta !== null && tb !== null) return ta - tb;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return null;
}

function contains(haystack: unknown, needle: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((item) => looseEquals(item, needle));
  if (typeof haystack === "string") return haystack.includes(String(needle));
  return false;
}

export function evaluateCondition(actual: unknown, operator: Operator, expected: unknown): boolean {
  switch (operator) {
    case "exists":
      return actual !== undefined && actual !== null;
    case "notExists":
      return actual === undefined || actual === null;
    case "equals":
      return looseEquals(actual, expected);
    case "notEquals":
      return !looseEquals(actual, expected);
    case "contains":
      return contains(actual, expected);
    case "notContains":
      return !contains(actual, expected);
    default: {
      const order = compare(actual, expected);
      if (order === null) return false;
      if (operator === "greaterThan") return order > 0;
      if (operator === "lessThan") return order < 0;
      if (operator === "greaterThanOrEqual") return order >= 0;
      return order <= 0;
    }
  }
}
