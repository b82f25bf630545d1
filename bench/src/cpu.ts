import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Service } from "./types";

const PROCESS: Record<Service, string> = {
  redis: "redis-server",
  postgres: "postgres",
  rabbitmq: "beam.smp",
};

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
} catch {}

function pids(service: Service): number[] {
  try {
    return execFileSync("pgrep", ["-x", PROCESS[service]]).toString().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** utime + stime of a process in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export interface CpuMark {
  at: number;
  node: NodeJS.CpuUsage;
  service: Map<number, number>;
}

/** Marks the CPU time used so far by this process and by every process of the given services. */
export function cpuMark(services: Service[]): CpuMark {
  const service = new Map<number, number>();
  for (const s of services) for (const pid of pids(s)) service.set(pid, ticks(pid));
  return { at: performance.now(), node: process.cpuUsage(), service };
}

/**
 * CPU used since `mark`, in % of one core: the node process, and the services (all their processes;
 * a PostgreSQL backend that exits during the interval loses its ticks, one that starts counts from 0).
 */
export function cpuSince(mark: CpuMark, services: Service[]): { nodePct: number; servicePct: number | null } {
  const seconds = (performance.now() - mark.at) / 1000;
  const used = process.cpuUsage(mark.node);
  const nodePct = ((used.user + used.system) / 1e6 / seconds) * 100;
  if (services.length === 0) return { nodePct, servicePct: null };
  let delta = 0;
  for (const s of services) for (const pid of pids(s)) delta += ticks(pid) - (mark.service.get(pid) ?? 0);
  return { nodePct, servicePct: (delta / clockTicks / seconds) * 100 };
}
