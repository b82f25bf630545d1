import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newUuid, QueueTasks, silentLogger, type TaskEnvelope } from "@qtasks/core";
import { afterEach, describe, expect, it } from "vitest";
import { JournalBroker } from "../src/index";

const ctx = { appName: "test", logger: silentLogger };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function journal(): string {
  const dir = mkdtempSync(join(tmpdir(), "journal-broker-"));
  dirs.push(dir);
  return join(dir, "queue.jsonl");
}
function envelope(priority = 0): TaskEnvelope {
  return {
    v: 1,
    uuid: newUuid(),
    taskName: "t",
    args: [priority],
    priority,
    retries: 0,
    enqueuedAt: Date.now(),
  };
}

describe("JournalBroker: the twist", () => {
  it("queued, delayed, running and dead-lettered messages survive a restart", async () => {
    const path = journal();
    const first = new JournalBroker({ path, leaseSeconds: 30 });
    await first.start(ctx);
    const [a, b, c, d] = [envelope(1), envelope(5), envelope(0), envelope(0)];
    await first.publish([{ envelope: a }, { envelope: b }, { envelope: c, delay: 0.3 }, { envelope: d }]);
    const [running] = await first.claim(1, { waitSeconds: 0 }); // b: highest priority
    const [toDead] = await first.claim(1, { waitSeconds: 0 }); // a
    expect(running?.envelope.uuid).toBe(b.uuid);
    await first.deadLetter(toDead!, "boom");
    // "Crash": drop the instance without acking; a new one replays the journal.
    await first.stop();

    const second = new JournalBroker({ path, leaseSeconds: 30 });
    await second.start(ctx);
    const again = await second.claim(10, { waitSeconds: 0 });
    // The running one is delivered again at once, counted; the delayed one is still delayed.
    expect(again.map((x) => x.envelope.uuid)).toEqual([b.uuid, d.uuid]);
    expect(again[0]?.deliveryCount).toBe(2);
    expect((await second.listDeadLetters()).map((x) => [x.id, x.reason])).toEqual([[a.uuid, "boom"]]);
    const late = await second.claim(1, { waitSeconds: 2 });
    expect(late.map((x) => x.envelope.uuid)).toEqual([c.uuid]);
    for (const x of [...again, ...late]) expect(await second.ack(x)).toBe(true);
    await second.stop();

    // Acked ones are gone for good after another restart; the dead letter stays.
    const third = new JournalBroker({ path });
    await third.start(ctx);
    expect(await third.claim(10, { waitSeconds: 0 })).toEqual([]);
    expect(await third.redriveDeadLetters()).toBe(1);
    await third.stop();
  });

  it("runs an app end to end, and tasks enqueued before a restart run after it", async () => {
    const path = journal();
    const client = new QueueTasks({
      name: "journal",
      broker: new JournalBroker({ path }),
      logger: silentLogger,
    });
    const add = client.task({ name: "add" }, (x: number, y: number) => x + y);
    expect(await (await add.addTask(1, 2)).get()).toMatchObject({ status: "new" });
    await client.stop();

    const app = new QueueTasks({
      name: "journal",
      broker: new JournalBroker({ path }),
      logger: silentLogger,
    });
    const ran: number[] = [];
    const add2 = app.task({ name: "add" }, (x: number, y: number) => {
      ran.push(x + y);
      return x + y;
    });
    await app.start();
    expect(await (await add2.addTask(2, 3)).result({ timeout: 10 })).toBe(5);
    // The in-memory storage did not survive, but the envelope did: the worker recreates the record.
    const deadline = Date.now() + 5000;
    while (ran.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ran.sort()).toEqual([3, 5]);
    await app.stop();
  });
});
