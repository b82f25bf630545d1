import type { WorkerInfo } from "@qtasks/core";
import { NotStartedError } from "@qtasks/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisGlobalConfig } from "../src/index";
import { ctx, deletePrefix, REDIS_URL, randomPrefix } from "./helpers";

const prefix = randomPrefix("gc");
const made: RedisGlobalConfig[] = [];

async function make(): Promise<RedisGlobalConfig> {
  const g = new RedisGlobalConfig({ url: REDIS_URL, prefix });
  made.push(g);
  await g.start(ctx);
  return g;
}

afterAll(async () => {
  await Promise.all(made.map((g) => g.stop()));
  await deletePrefix(prefix);
});

function info(id: string): WorkerInfo {
  return {
    id,
    appName: "test",
    host: "h",
    pid: 1,
    concurrency: 4,
    running: 0,
    startedAt: new Date(Date.UTC(2024, 0, 1)),
    heartbeatAt: new Date(),
  };
}

describe("RedisGlobalConfig", () => {
  it("lists live workers across instances, expires silent ones, unregisters", async () => {
    const a = await make();
    const b = await make();
    await a.heartbeat(info("w-short"), 0.5);
    await a.heartbeat(info("w-long"), 30);
    await b.heartbeat(info("w-gone"), 30);
    let ids = (await b.listWorkers()).map((w) => w.id).sort();
    expect(ids).toEqual(["w-gone", "w-long", "w-short"]);
    const w = (await b.listWorkers()).find((x) => x.id === "w-long")!;
    expect(w.startedAt).toBeInstanceOf(Date);
    expect(w.startedAt.getTime()).toBe(Date.UTC(2024, 0, 1));
    expect(w.heartbeatAt).toBeInstanceOf(Date);
    await b.unregister("w-gone");
    await new Promise((r) => setTimeout(r, 800));
    ids = (await a.listWorkers()).map((x) => x.id);
    expect(ids).toEqual(["w-long"]);
    // A heartbeat also clears expired workers' infos, even when nobody lists them.
    await a.heartbeat(info("w-dead"), 0.2);
    await new Promise((r) => setTimeout(r, 400));
    await b.heartbeat(info("w-other"), 30);
    const admin = new Redis(REDIS_URL);
    try {
      expect(await admin.hexists(`${prefix}:g:info`, "w-dead")).toBe(0);
      expect(await admin.zscore(`${prefix}:g:workers`, "w-dead")).toBeNull();
    } finally {
      admin.disconnect();
    }
    // A new heartbeat brings an expired worker back.
    await a.heartbeat({ ...info("w-short"), running: 3 }, 5);
    const back = (await b.listWorkers()).find((x) => x.id === "w-short");
    expect(back?.running).toBe(3);
  });

  it("shares JSON settings", async () => {
    const a = await make();
    const b = await make();
    await a.set("limits", { max: 5, names: ["ü", "'\""] });
    expect(await b.get("limits")).toEqual({ max: 5, names: ["ü", "'\""] });
    expect(await b.get("missing")).toBeUndefined();
    await b.set("limits", null);
    expect(await a.get("limits")).toBeNull();
    await b.set("limits", undefined);
    expect(await a.get("limits")).toBeUndefined();
  });

  it("throws NotStartedError before start", async () => {
    const g = new RedisGlobalConfig({ url: REDIS_URL, prefix });
    await expect(g.get("x")).rejects.toBeInstanceOf(NotStartedError);
  });
});
