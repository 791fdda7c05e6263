/**
 * The per-step counters' table (`step_counts`: a row per workflow and UTC day, counts = {step: [passed,
 * completed, failed]}), written by the objects engine's mirrors and by retention of the shard engine's pages.
 */

/** An upsert's tail that adds a row's counters ({step: [passed, completed, failed]}) to the day's row. */
export const ADD_TO_STEP_COUNTS = `ON CONFLICT (workflow_id, day) DO UPDATE SET counts = (
    SELECT json_group_object(k, json_array(p, c, f)) FROM (
      SELECT k, sum(p) AS p, sum(c) AS c, sum(f) AS f FROM (
        SELECT key AS k, value ->> 0 AS p, value ->> 1 AS c, value ->> 2 AS f FROM json_each(step_counts.counts)
        UNION ALL
        SELECT key, value ->> 0, value ->> 1, value ->> 2 FROM json_each(excluded.counts))
      GROUP BY k))`;
