import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Cli, fixture, jsonOut, runCli, STACK_FRAME } from "./helpers";

const APP = fixture("app.ts");

describe("bad invocations: one clear line, a documented exit code, no stack trace", () => {
  it("unknown command exits 2", async () => {
    const r = await runCli(["frobnicate", "--app", APP]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('qtasks: unknown command "frobnicate"');
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it("unknown flag and a flag of another command exit 2", async () => {
    const a = await runCli(["stats", "--app", APP, "--frob"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/qtasks: Unknown option '--frob'/);
    const b = await runCli(["stats", "--app", APP, "--concurrency", "3"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("--concurrency is not an option of stats");
    const c = await runCli(["run", "--app", APP, "--concurrency", "zero"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("--concurrency must be a positive integer");
  });

  it("a command without --app exits 2", async () => {
    const r = await runCli(["stats"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("stats needs --app");
  });

  it("a missing app file exits 3", async () => {
    const r = await runCli(["run", "--app", "./does/not/exist.ts"]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe("qtasks: app file not found: ./does/not/exist.ts");
  });

  it("a missing export exits 4, whether named, absent or ambiguous", async () => {
    const named = await runCli(["run", "--app", `${fixture("two-apps.ts")}#gamma`]);
    expect(named.code).toBe(4);
    expect(named.stderr).toMatch(/has no export named gamma/);
    expect(named.stderr).not.toMatch(STACK_FRAME);

    const notApp = await runCli(["stats", "--app", `${fixture("two-apps.ts")}:notAnApp`]);
    expect(notApp.code).toBe(4);
    expect(notApp.stderr).toMatch(/export notAnApp of .* is not a QueueTasks app/);

    const none = await runCli(["stats", "--app", fixture("no-app.ts")]);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/exports no QueueTasks app/);

    const ambiguous = await runCli(["stats", "--app", fixture("two-apps.ts")]);
    expect(ambiguous.code).toBe(4);
    expect(ambiguous.stderr).toMatch(/several QueueTasks apps \(alpha, beta\)/);
  });

  it("an app file that throws while loading exits 1; --verbose adds the stack", async () => {
    const plain = await runCli(["stats", "--app", fixture("throws.ts")]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("failed to load: fixture failed on purpose");
    expect(plain.stderr).not.toMatch(STACK_FRAME);
    const verbose = await runCli(["stats", "--app", fixture("throws.ts"), "--verbose"]);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(STACK_FRAME);
  });

  it("a service that refuses the connection exits 5, with the URL's password masked", async () => {
    for (const command of [["run"], ["stats"]]) {
      const r = await runCli([...command, "--app", fixture("unreachable.ts")]);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain("ECONNREFUSED");
      expect(r.stderr).toContain("tcp://user:***@127.0.0.1:1/");
      expect(r.stderr).not.toContain("s3cret");
      expect(r.stderr).not.toMatch(STACK_FRAME);
    }
  });

  it("a service that never answers exits 5 after --connect-timeout", async () => {
    const r = await runCli(["stats", "--app", fixture("hangs.ts"), "--connect-timeout", "1"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("could not reach the services within 1s");
  });

  it("help exits 0 and lists every command and the exit codes", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const word of ["run", "inspect", "stats", "dead-letters list", "dead-letters redrive", "Exit codes"])
      expect(r.stdout).toContain(word);
  });

  it("bare qtasks is a usage error: exit 2, the usage on stderr", async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^Usage: qtasks <command>/);
  });

  it("run --help prints run's own help", async () => {
    const r = await runCli(["run", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: qtasks run --app/);
    expect(r.stdout).not.toContain("dead-letters redrive");
  });

  it("a mistyped command gets a suggestion; a negative timeout says what is allowed", async () => {
    const typo = await runCli(["stat", "--app", APP]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('qtasks: unknown command "stat" (did you mean "stats"?)');
    const negative = await runCli(["run", "--app", APP, "--shutdown-timeout", "-1"]);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain(
      'qtasks: --shutdown-timeout must be a number of seconds >= 0 (got "-1")',
    );
  });
});

describe("picking the app export", () => {
  it("takes the default export, or the one named after # or :", async () => {
    const d = await runCli(["stats", "--json", "--app", fixture("default-export.ts")]);
    expect(d.code).toBe(0);
    expect(JSON.parse(d.stdout).app).toBe("default-export");
    for (const sep of ["#", ":"]) {
      const r = await runCli(["stats", "--json", "--app", `${fixture("two-apps.ts")}${sep}beta`]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).app).toBe("beta");
    }
  });
  it("loads a CommonJS TypeScript app (module.exports) built on core's CJS build", async () => {
    const cli = new Cli(["run", "--app", fixture("cjs-app.cts")], { FIXTURE_ENQUEUE_ADD: "1" });
    await cli.waitForEvents("task:success", 1);
    expect(cli.events("task:success")[0]?.payload.returning).toBe(42);
    expect(cli.stderr).toMatch(/qtasks run app=cjs-app export=default /);
    cli.kill("SIGTERM");
    expect((await cli.exited).code).toBe(0);
  });
});

describe("run on the in-memory default", () => {
  it("logs one start line, processes the tasks the app enqueues, exits 0 on SIGTERM", async () => {
    const cli = new Cli(["run", "--app", APP, "--concurrency", "3"], {
      FIXTURE_ENQUEUE_ADD: "5",
      FIXTURE_APP_NAME: "mem-run",
    });
    await cli.waitForEvents("task:success", 5);
    const results = cli
      .events("task:success")
      .map((e) => e.payload.returning)
      .sort();
    expect(results).toEqual([100, 101, 102, 103, 104]);
    const startLines = cli.stderr.split("\n").filter((l) => l.includes("qtasks run"));
    expect(startLines).toHaveLength(1);
    expect(startLines[0]).toMatch(/app=mem-run/);
    expect(startLines[0]).toMatch(/broker=memory storage=memory/);
    expect(startLines[0]).toContain('tasks=["add","fail","sleep"]');
    expect(startLines[0]).toContain("concurrency=3");
    cli.kill("SIGTERM");
    const done = await cli.exited;
    expect(done.code).toBe(0);
    expect(cli.events("worker:stop")).toHaveLength(1);
  });

  it("--log-format json and --log-level apply to the app's default logger", async () => {
    const cli = new Cli(["run", "--app", APP, "--log-format", "json", "--log-level", "info"], {
      FIXTURE_ENQUEUE_ADD: "1",
    });
    await cli.waitForEvents("task:success", 1);
    cli.kill("SIGINT");
    expect((await cli.exited).code).toBe(0);
    const start = cli.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === "qtasks run");
    expect(start).toMatchObject({
      level: "info",
      app: "fixture",
      broker: "memory",
      tasks: ["add", "fail", "sleep"],
    });

    const quiet = new Cli(["run", "--app", APP, "--log-level", "error"], { FIXTURE_ENQUEUE_ADD: "1" });
    await quiet.waitForEvents("task:success", 1);
    quiet.kill("SIGTERM");
    expect((await quiet.exited).code).toBe(0);
    expect(quiet.stderr).toBe("");
  });

  it("SIGTERM during 20 running 2-second tasks lets them all finish, then exits 0 within the timeout", async () => {
    const cli = new Cli(["run", "--app", APP, "--concurrency", "20", "--shutdown-timeout", "25"], {
      FIXTURE_ENQUEUE_SLEEP: "20:2",
    });
    await cli.waitForEvents("task:start", 20);
    const signalledAt = Date.now();
    cli.kill("SIGTERM");
    const done = await cli.exited;
    expect(done.code).toBe(0);
    expect(cli.events("task:success")).toHaveLength(20);
    expect(cli.events("worker:stop")[0]?.payload.released).toBe(0);
    // Correctness bound (the shutdown timeout), not a speed check.
    expect(cli.exitedAt! - signalledAt).toBeLessThan(25_000);
    expect(cli.stderr).toContain("signal received: stopping gracefully");
  });

  it("a task longer than the shutdown timeout is released at the timeout; the process exits 0", async () => {
    const cli = new Cli(["run", "--app", APP, "--shutdown-timeout", "1"], { FIXTURE_ENQUEUE_SLEEP: "1:60" });
    await cli.waitForEvents("task:start", 1);
    const signalledAt = Date.now();
    cli.kill("SIGTERM");
    const done = await cli.exited;
    expect(done.code).toBe(0);
    expect(cli.events("worker:stop")[0]?.payload.released).toBe(1);
    expect(cli.events("task:success")).toHaveLength(0);
    expect(cli.exitedAt! - signalledAt).toBeLessThan(30_000);
  });

  it("a second signal exits at once with code 1", async () => {
    const cli = new Cli(["run", "--app", APP, "--shutdown-timeout", "120"], {
      FIXTURE_ENQUEUE_SLEEP: "1:120",
    });
    await cli.waitForEvents("task:start", 1);
    cli.kill("SIGTERM");
    await cli.waitFor(() => cli.stderr.includes("stopping gracefully"), "the graceful stop");
    cli.kill("SIGTERM");
    const done = await cli.exited;
    expect(done.code).toBe(1);
    expect(cli.stderr).toContain("second signal: exiting now");
    expect(cli.events("task:success")).toHaveLength(0);
  });
});

describe("inspect, stats and dead letters on the in-memory default", () => {
  it("stats shows what the app enqueued at load, as text and JSON", async () => {
    const env = { FIXTURE_ENQUEUE_ADD: "3" };
    const json = await runCli(["stats", "--json", "--app", APP], env);
    expect(json.code).toBe(0);
    const report = jsonOut(json.stdout);
    expect(report.queue).toMatchObject({
      ready: { "0": 3 },
      readyTotal: 3,
      delayed: 0,
      inFlight: 0,
      deadLetters: 0,
    });
    expect(report.statuses).toMatchObject({ new: 3, process: 0, success: 0 });
    expect(report.workers).toEqual([]);
    expect(report.broker).toEqual({ name: "memory" });

    const text = await runCli(["stats", "--app", APP], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/ready\s+3\s+\(priority 0: 3\)/);
    expect(text.stdout).toMatch(/new\s+3/);
    expect(text.stdout).toContain("workers (0 live)");
  });

  it("inspect prints a record; an unknown uuid exits 6; a malformed one exits 2", async () => {
    const uuid = randomUUID();
    const env = { FIXTURE_FIXED_UUID: uuid };
    const json = await runCli(["inspect", uuid, "--json", "--app", APP], env);
    expect(json.code).toBe(0);
    expect(jsonOut(json.stdout)).toMatchObject({
      uuid,
      taskName: "add",
      status: "new",
      args: [1, 2],
      tags: ["fixed"],
    });

    const text = await runCli(["inspect", uuid, "--app", APP], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`uuid\\s+${uuid}`));
    expect(text.stdout).toMatch(/status\s+new/);
    expect(text.stdout).toMatch(/args\s+\[1,2\]/);

    const other = randomUUID();
    const missing = await runCli(["inspect", other, "--app", APP]);
    expect(missing.code).toBe(6);
    expect(missing.stderr.trim()).toBe(`qtasks: no task ${other}`);

    const bad = await runCli(["inspect", "not-a-uuid", "--app", APP]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not a task uuid: "not-a-uuid"');
  });

  it("dead-letters list is empty; redrive of an unknown id exits 6", async () => {
    const list = await runCli(["dead-letters", "list", "--app", APP]);
    expect(list.code).toBe(0);
    expect(list.stdout.trim()).toBe("no dead letters");
    const json = await runCli(["dead-letters", "list", "--json", "--app", APP]);
    expect(jsonOut(json.stdout)).toEqual([]);
    const redrive = await runCli(["dead-letters", "redrive", "nope", "--json", "--app", APP]);
    expect(redrive.code).toBe(6);
    expect(JSON.parse(redrive.stdout)).toEqual({ redriven: 0, notFound: ["nope"], malformed: [] });
    expect(redrive.stderr).toContain("not dead letters: nope");
    const noIds = await runCli(["dead-letters", "redrive", "--app", APP]);
    expect(noIds.code).toBe(2);
  });
});
