import { DuplicateTaskError, QueueTasks, SyncTask, silentLogger } from "@qtasks/core";
import { afterEach, describe, expect, it } from "vitest";
import { AsyncRouter, SyncRouter } from "../src/index";

const apps: QueueTasks[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop({ timeout: 1 })));
});
function newApp() {
  const app = new QueueTasks({ logger: silentLogger });
  apps.push(app);
  return app;
}

describe("routers", () => {
  it("registers into the router only, then into the app on includeRouter", async () => {
    const router = new AsyncRouter();
    const greet = router.task({ name: "router_greet" }, async (name: string) => `hello ${name}`);
    const app = newApp();
    expect(app.lookupTask("router_greet")).toBeUndefined();
    app.includeRouter(router);
    expect(app.lookupTask("router_greet")).toBe(greet);
    await app.start();
    const handle = await greet.addTask("ada");
    expect(await handle.result({ timeout: 5 })).toBe("hello ada");
  });

  it("a router task is not bound before it is included", async () => {
    const router = new AsyncRouter();
    const t = router.task({ name: "router_unbound" }, () => 1);
    await expect(t.addTask()).rejects.toMatchObject({ code: "QTASKS_NO_APP" });
  });

  it("a name clash between a router task and an app task is an error naming both", () => {
    const app = newApp();
    app.task({ name: "clash" }, () => "app");
    const router = new AsyncRouter({ name: "billing" });
    router.task({ name: "clash" }, () => "router");
    const err = (() => {
      try {
        app.includeRouter(router);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(DuplicateTaskError);
    expect((err as Error).message).toContain('app "qtasks"');
    expect((err as Error).message).toContain('router "billing"');
    // Nothing of the router was half-included.
    expect(app.lookupTask("clash")?.handler()).toBe("app");
  });

  it("a clash inside one router is refused at registration", () => {
    const router = new AsyncRouter();
    router.task({ name: "twice" }, () => 1);
    expect(() => router.task({ name: "twice" }, () => 2)).toThrow(DuplicateTaskError);
  });

  it("SyncRouter makes SyncTasks that run like any other", async () => {
    const router = new SyncRouter();
    const square = router.task({ name: "sync_square" }, (n: number) => n * n);
    expect(square).toBeInstanceOf(SyncTask);
    expect(square.flavour).toBe("sync");
    const app = newApp();
    app.includeRouter(router);
    await app.start();
    expect(await (await square.addTask(7)).result({ timeout: 5 })).toBe(49);
  });
});
