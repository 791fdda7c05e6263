// Latency distributions as an SVG written by hand: one panel per group, each series drawn as a CDF
// (share of requests answered within x ms) on a logarithmic time axis.
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function panel(x0, y0, w, h, title, series) {
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  if (all.length === 0) return "";
  // Not Math.min(...all): a run's latencies can outnumber the arguments a call may take.
  const min = all.reduce((a, v) => Math.min(a, v), Number.POSITIVE_INFINITY);
  const max = all.reduce((a, v) => Math.max(a, v), 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.1, min)));
  const hi = 10 ** Math.ceil(Math.log10(max));
  const L = 48;
  const R = 12;
  const T = 28;
  const B = 36;
  const pw = w - L - R;
  const ph = h - T - B;
  const sx = (v) =>
    x0 + L + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw;
  const sy = (q) => y0 + T + (1 - q) * ph;
  const out = [];
  out.push(`<text x="${x0 + L}" y="${y0 + 18}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0 + L}" y="${y0 + T}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi * 1.0001) break;
      const x = sx(v).toFixed(1);
      out.push(
        `<line x1="${x}" y1="${y0 + T}" x2="${x}" y2="${y0 + T + ph}" stroke="#ddd" stroke-dasharray="${m === 1 ? "" : "2,3"}"/>`,
      );
      if (m !== 5 || pw > 500)
        out.push(
          `<text x="${x}" y="${y0 + T + ph + 14}" font-size="10" text-anchor="middle">${v >= 1 ? v : v.toFixed(1)}</text>`,
        );
    }
  }
  out.push(
    `<text x="${x0 + L + pw / 2}" y="${y0 + h - 4}" font-size="11" text-anchor="middle">latency, ms (log scale)</text>`,
  );
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    const y = sy(q).toFixed(1);
    out.push(`<line x1="${x0 + L}" y1="${y}" x2="${x0 + L + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 + L - 4}" y="${y}" font-size="10" text-anchor="end" dy="3">${q * 100}%</text>`);
  }
  series.forEach((s, n) => {
    const v = [...s.values].sort((a, b) => a - b);
    if (v.length === 0) return;
    const step = Math.max(1, Math.floor(v.length / 400));
    const pts = [];
    for (let i = 0; i < v.length; i += step)
      pts.push(`${sx(v[i]).toFixed(1)},${sy((i + 1) / v.length).toFixed(1)}`);
    pts.push(`${sx(v[v.length - 1]).toFixed(1)},${sy(1).toFixed(1)}`);
    const color = COLORS[n % COLORS.length];
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts.join(" ")}"/>`);
    // The legend sits bottom right, where a CDF leaves the plot empty.
    const ly = y0 + T + ph - 8 - (series.length - 1 - n) * 14;
    const lx = x0 + L + pw - 8;
    out.push(
      `<line x1="${lx - 16}" y1="${ly - 4}" x2="${lx}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
    );
    out.push(
      `<text x="${lx - 20}" y="${ly}" font-size="10" fill="#222" text-anchor="end">${esc(s.label)} (n=${v.length})</text>`,
    );
  });
  return out.join("\n");
}

/** `panels`: [{title, series: [{label, values}]}], laid out two per row. */
export function latencySvg(panels, { width = 1000, panelHeight = 320 } = {}) {
  const cols = 2;
  const pw = width / cols;
  const rows = Math.ceil(panels.length / cols);
  const height = rows * panelHeight;
  const body = panels.map((p, i) =>
    panel((i % cols) * pw, Math.floor(i / cols) * panelHeight, pw, panelHeight, p.title, p.series),
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${body.join("\n")}
</svg>
`;
}
