/** Segment rules: a condition of filters over contact fields, with CONDITION's operators. */
import { z } from "zod";
import { type ConditionSubject, evaluateCondition, resolveField } from "./workflow/conditions";
import { conditionSchema } from "./workflow/config";

const CONTACT_FIELD = /^(contact\.email|contact\.subscribed|contact\.data(\.[^.\s]+)+)$/;

export const segmentFilter = conditionSchema(
  CONTACT_FIELD,
  "Must be contact.email, contact.subscribed or contact.data.<key>",
);

export const segmentCondition = z.strictObject({
  match: z.enum(["all", "any"]),
  filters: z.array(segmentFilter).min(1).max(50),
});

export type SegmentCondition = z.output<typeof segmentCondition>;

/** "VIP Users" → "vip-users". */
export function slugify(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

export function matches(condition: SegmentCondition, contact: ConditionSubject["contact"]): boolean {
  const subject = { contact, event: {} };
  const test = (f: SegmentCondition["filters"][number]) =>
    evaluateCondition(resolveField(f.field, subject), f.operator, f.value);
  return condition.match === "all" ? condition.filters.every(test) : condition.filters.some(test);
}
