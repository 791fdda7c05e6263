/**
 * Counts by UTC day as a line chart drawn by uPlot (canvas): one line per series, with uPlot's legend (each
 * series' name and colour; hovering a day shows that day's numbers, otherwise each series' total; a click
 * hides or shows a series). The chart is an image to assistive technology, named by a summary in words,
 * and the same numbers follow in a table (collapsed), so nothing is only in the picture.
 *
 * uPlot draws on canvas and styles its own elements through the CSSOM only, so it runs under the
 * dashboard's Content-Security-Policy (no inline styles, no eval).
 */
import "./language";
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import { dayMs, formatDay, sum } from "./range";

export interface ChartSeries {
  label: string;
  /** A CSS colour: the line, its points and its legend marker. */
  color: string;
  values: readonly number[];
  /** A dashed line, so that series are told apart by more than colour. */
  dash?: number[];
}

const DAY_S = 86_400;
/** Steps between the y axis' ticks: counts are whole numbers. */
const COUNT_INCRS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7,
];
/** Steps between the x axis' ticks: 1, 2, 7, 14 days… */
const DAY_INCRS = [1, 2, 7, 14, 28, 56, 91, 182, 364].map((n) => n * DAY_S);
const utc = (ts: number) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
const fmt = new Intl.NumberFormat();

function heightFor(width: number) {
  return width < 500 ? 200 : 260;
}

export function DailyChart(props: {
  id: string;
  title: string;
  /** A sentence or two that says what the chart shows (its accessible name). */
  summary: string;
  days: readonly string[];
  series: readonly ChartSeries[];
}) {
  const { id, title, summary, days, series } = props;
  const plotRef = useRef<HTMLDivElement>(null);
  const legendRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const plot = plotRef.current;
    const legend = legendRef.current;
    if (!plot || !legend) return;
    const xs = days.map((d) => dayMs(d) / 1000);
    const totals = series.map((s) => sum(s.values));
    const width = Math.max(plot.clientWidth, 240);
    const opts: uPlot.Options = {
      width,
      height: heightFor(width),
      tzDate: utc,
      padding: [12, 12, 0, 0],
      cursor: { drag: { x: false, y: false }, points: { size: 8 } },
      legend: {
        live: true,
        // Filled markers in each series' colour (a dashed series' marker is dashed too).
        markers: { fill: (_u, i) => series[i - 1]?.color ?? "transparent" },
        mount: (_u, el) => {
          el.setAttribute("aria-label", `Legend: ${title}`);
          legend.appendChild(el);
        },
      },
      scales: {
        // Half a day on each side, so that the first and last days' points are not cut in half.
        x: { time: true, range: (_u, min, max) => [min - DAY_S / 2, max + DAY_S / 2] },
        y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
      },
      axes: [
        {
          stroke: "#475467",
          grid: { stroke: "#eaecf0" },
          ticks: { stroke: "#eaecf0" },
          // Whole days only (the counts are by day), labelled as days: "Nov 26".
          incrs: DAY_INCRS,
          space: 56,
          values: (_u, ticks) => ticks.map((t) => formatDay(isoOf(t))),
        },
        {
          stroke: "#475467",
          grid: { stroke: "#eaecf0" },
          ticks: { stroke: "#eaecf0" },
          incrs: COUNT_INCRS,
          values: (_u, ticks) => ticks.map((t) => fmt.format(t)),
          size: 48,
        },
      ],
      series: [
        {
          label: "Day",
          value: (_u, v: number | null) => (v == null ? "All days" : formatDay(isoOf(v), { weekday: true })),
        },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          dash: s.dash,
          points: { show: days.length <= 45, size: 6, fill: s.color },
          value: (_u: uPlot, v: number | null) =>
            v == null ? `${fmt.format(totals[i] ?? 0)} in all` : fmt.format(v),
        })),
      ],
    };
    const u = new uPlot(opts, [xs, ...series.map((s) => [...s.values])], plot);
    // The legend shows each series' total until a day is hovered.
    u.setLegend({ idxs: [null, ...series.map(() => null)] });
    const resize = new ResizeObserver(() => {
      const w = Math.max(plot.clientWidth, 240);
      if (w !== u.width) u.setSize({ width: w, height: heightFor(w) });
    });
    resize.observe(plot);
    return () => {
      resize.disconnect();
      u.destroy();
    };
  }, [days, series, title]);

  return (
    <figure className="chart" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`} className="chart-title">
        {title}
      </figcaption>
      <div className="chart-plot" ref={plotRef} role="img" aria-label={summary} />
      <div className="chart-legend" ref={legendRef} />
      <details className="chart-table">
        <summary>The numbers by day</summary>
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">{title}, by day</caption>
            <thead>
              <tr>
                <th scope="col">Day (UTC)</th>
                {series.map((s) => (
                  <th scope="col" key={s.label} className="num">
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {days.map((d, i) => (
                <tr key={d}>
                  <th scope="row">
                    <time dateTime={d}>{formatDay(d, { weekday: true })}</time>
                  </th>
                  {series.map((s) => (
                    <td key={s.label} className="num">
                      {fmt.format(s.values[i] ?? 0)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                {series.map((s) => (
                  <td key={s.label} className="num">
                    {fmt.format(sum(s.values))}
                  </td>
                ))}
              </tr>
            </tfoot>
          </table>
        </div>
      </details>
    </figure>
  );
}

const isoOf = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);
