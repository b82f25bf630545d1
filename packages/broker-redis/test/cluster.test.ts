import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describeBrokerContract } from "@qtasks/test-suite";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../src";
import { ctx, envelope, freeRedisPort, sleep } from "./helpers";

const run = promisify(execFile);

// A three-master Redis Cluster of this file's own, on private ports, torn down afterwards: every
// script must find all of its keys in one slot, or Redis answers CROSSSLOT.
let ports: number[] = [];
const dir = mkdtempSync(join(tmpdir(), "qtasks-broker-cluster-"));
const procs: ChildProcess[] = [];
const clients: Cluster[] = [];

async function ping(port: number): Promise<boolean> {
  const r = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on("error", () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function clusterOk(port: number): Promise<boolean> {
  const r = new Redis({ port, maxRetriesPerRequest: 0 });
  r.on("error", () => undefined);
  try {
    return ((await r.cluster("INFO")) as string).includes("cluster_state:ok");
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

beforeAll(async () => {
  const base = await freeRedisPort(20000, 29000, 3);
  ports = [base, base + 1, base + 2];
  for (const port of ports) {
    const d = join(dir, String(port));
    await run("mkdir", ["-p", d]);
    procs.push(
      spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--save", ""].concat([
          "--appendonly",
          "no",
          "--cluster-config-file",
          join(d, "nodes.conf"),
          "--dir",
          d,
        ]),
        { stdio: "ignore" },
      ),
    );
  }
  for (const port of ports) while (!(await ping(port))) await sleep(50);
  await run("redis-cli", [
    "--cluster",
    "create",
    ...ports.map((p) => `127.0.0.1:${p}`),
    "--cluster-replicas",
    "0",
    "--cluster-yes",
  ]);
  for (const port of ports) while (!(await clusterOk(port))) await sleep(100);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const p of procs) p.kill("SIGKILL");
  await sleep(100);
  rmSync(dir, { recursive: true, force: true });
});

function cluster(): Cluster {
  const c = new Cluster([{ host: "127.0.0.1", port: ports[0]! }]);
  clients.push(c);
  return c;
}

describeBrokerContract({
  name: "redis (Redis Cluster, 3 masters)",
  async create({ leaseSeconds, deliveryLimit }) {
    const client = cluster();
    // The default prefix: qtasks:{<appName>}:broker:, one slot per app.
    const broker = new RedisBroker({ client, leaseSeconds, deliveryLimit, sweepIntervalMs: 200 });
    return {
      broker,
      injectRaw: (raw, priority) => broker.injectRaw(raw, priority),
      async cleanup() {
        // The whole cluster is thrown away after this file; the client is ours to close.
        client.disconnect();
      },
    };
  },
});

describe("RedisBroker on Redis Cluster", () => {
  it("spreads apps over the slots, and a blocked claim wakes on a publish from another client", async () => {
    const seenNodes = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const client = cluster();
      const consumer = new RedisBroker({ client, sweepIntervalMs: 20_000 });
      const producer = new RedisBroker({ client: cluster() });
      const app = `app-${i}-${Math.random().toString(36).slice(2, 8)}`;
      await consumer.start(ctx(app));
      await producer.start(ctx(app));
      const p = consumer.claim(1, { waitSeconds: 10 });
      await sleep(100);
      const e = envelope("cluster");
      const t0 = Date.now();
      await producer.publish([{ envelope: e }, { envelope: envelope("later"), delay: 0.2 }]);
      expect((await p).map((d) => d.envelope.uuid)).toEqual([e.uuid]);
      expect(Date.now() - t0).toBeLessThan(3000);
      const [later] = await consumer.claim(1, { waitSeconds: 5 });
      expect(later?.envelope.taskName).toBe("later");
      const slot = Number(await client.cluster("KEYSLOT", `${consumer.keyPrefix}ready`));
      const slots = await client.cluster("SLOTS");
      const owner = slots.find(([lo, hi]) => slot >= lo && slot <= hi);
      seenNodes.add(String(owner?.[2]?.[1]));
      await consumer.stop();
      await producer.stop();
    }
    // Six apps over three masters: almost surely more than one node took part.
    expect(seenNodes.size).toBeGreaterThan(1);
  });
});
