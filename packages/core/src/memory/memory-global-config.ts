import type { ComponentContext } from "../contracts/component";
import type { GlobalConfig, WorkerInfo } from "../contracts/global-config";

/** In-process GlobalConfig: heartbeats and settings in `Map`s, expiring by time. */
export class MemoryGlobalConfig implements GlobalConfig {
  readonly name: string = "memory";
  private readonly workers = new Map<string, { info: WorkerInfo; expiresAt: number }>();
  private readonly settings = new Map<string, unknown>();

  async start(_ctx: ComponentContext): Promise<void> {}
  async stop(): Promise<void> {}

  async heartbeat(info: WorkerInfo, ttlSeconds: number): Promise<void> {
    this.workers.set(info.id, { info: structuredClone(info), expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  async unregister(workerId: string): Promise<void> {
    this.workers.delete(workerId);
  }

  async listWorkers(): Promise<WorkerInfo[]> {
    const now = Date.now();
    const out: WorkerInfo[] = [];
    for (const [id, w] of this.workers) {
      if (w.expiresAt <= now) this.workers.delete(id);
      else out.push(structuredClone(w.info));
    }
    return out;
  }

  async set(key: string, value: unknown): Promise<void> {
    this.settings.set(key, structuredClone(value));
  }

  async get(key: string): Promise<unknown> {
    return structuredClone(this.settings.get(key));
  }
}
