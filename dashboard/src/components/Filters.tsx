/**
 * A list's filters kept in the address (so a filtered list can be linked to): one set, or taken out when
 * empty; and the form's actions, with "Clear filters" once any is set.
 */
import { useSearchParams } from "wouter";

export function useFilterParams() {
  const [params, setParams] = useSearchParams();
  const setFilter = (name: string, value: string) =>
    setParams((p) => {
      const next = new URLSearchParams(p);
      if (value) next.set(name, value);
      else next.delete(name);
      return next;
    });
  const clearFilters = () => setParams(new URLSearchParams());
  return { params, setFilter, clearFilters };
}

/** The submit button (when the form has one: `submit` is its label) and "Clear filters" while `filtered`. */
export function FilterActions({
  submit,
  filtered,
  onClear,
}: {
  submit?: string;
  filtered: boolean;
  onClear: () => void;
}) {
  if (!submit && !filtered) return null;
  return (
    <div className="filter-actions">
      {submit && (
        <button type="submit" className="outline">
          {submit}
        </button>
      )}
      {filtered && (
        <button type="button" className="secondary outline" onClick={onClear}>
          Clear filters
        </button>
      )}
    </div>
  );
}
