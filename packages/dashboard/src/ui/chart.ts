import { svg } from "./dom";

export interface Bar {
  t: number;
  success: number;
  error: number;
}

const W = 720;
const H = 180;
const PAD = { left: 36, right: 8, top: 10, bottom: 22 };

/**
 * Finished tasks per minute as stacked bars (success below, error on top), hand-written SVG: sixty
 * bars need no chart library. Each bar has a `<title>` with its minute and counts.
 */
export function throughputChart(bars: Bar[]): SVGElement {
  const max = Math.max(1, ...bars.map((b) => b.success + b.error));
  const top = niceCeil(max);
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const step = innerW / Math.max(1, bars.length);
  const y = (v: number) => PAD.top + innerH - (v / top) * innerH;
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": "tasks finished per minute over the last hour",
    "data-testid": "throughput-chart",
  });
  for (const v of [0, top / 2, top]) {
    root.appendChild(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
    root.appendChild(
      svg("text", { x: PAD.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmt(v)),
    );
  }
  bars.forEach((b, i) => {
    const x = PAD.left + i * step + 1;
    const w = Math.max(1, step - 2);
    const label = `${new Date(b.t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${b.success} succeeded, ${b.error} failed`;
    const g = svg("g", {}, svg("title", {}, label));
    if (b.success > 0)
      g.appendChild(
        svg("rect", { x, width: w, y: y(b.success), height: y(0) - y(b.success), class: "bar-success" }),
      );
    if (b.error > 0)
      g.appendChild(
        svg("rect", {
          x,
          width: w,
          y: y(b.success + b.error),
          height: y(b.success) - y(b.success + b.error),
          class: "bar-error",
        }),
      );
    root.appendChild(g);
  });
  const first = bars[0];
  const last = bars.at(-1);
  if (first && last) {
    const t = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    root.appendChild(svg("text", { x: PAD.left, y: H - 6, class: "axis" }, t(first.t)));
    root.appendChild(
      svg("text", { x: W - PAD.right, y: H - 6, class: "axis", "text-anchor": "end" }, t(last.t)),
    );
  }
  return root;
}

function niceCeil(n: number): number {
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
