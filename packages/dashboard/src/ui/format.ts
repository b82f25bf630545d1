import { h } from "./dom";

export function time(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(+d) ? iso : d.toLocaleString();
}

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "";
  return `${duration((now - +new Date(iso)) / 1000)} ago`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${Math.round(s * 10) / 10} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** How long a task ran (or has been running). */
export function runtime(t: { startedAt?: string; finishedAt?: string }): string {
  if (!t.startedAt) return "";
  const end = t.finishedAt ? +new Date(t.finishedAt) : Date.now();
  return duration((end - +new Date(t.startedAt)) / 1000);
}

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: `badge status-${status}`, "data-testid": "status" }, status);
}

export function shortUuid(uuid: string): string {
  return uuid.slice(0, 8);
}
