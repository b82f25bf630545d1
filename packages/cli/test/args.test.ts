import { MemoryBroker } from "@qtasks/core";
import { describe, expect, it } from "vitest";
import { helpText } from "../src/help";
import {
  describeComponent,
  ExitCode,
  errorMessage,
  isUnreachable,
  parseAppSpec,
  parseCommand,
  scrub,
  UsageError,
} from "../src/index";
import { closest } from "../src/suggest";

const env = {};

describe("parseCommand", () => {
  it("parses run with its flags, in any order, QTasks style (-A before the command) too", () => {
    expect(parseCommand(["-A", "app.ts", "run", "-c", "4", "--shutdown-timeout", "60"], env)).toEqual({
      name: "run",
      app: "app.ts",
      json: false,
      verbose: false,
      connectTimeout: 10,
      concurrency: 4,
      shutdownTimeout: 60,
    });
    expect(
      parseCommand(["run", "--app", "a.ts", "--log-level", "debug", "--log-format", "json"], env),
    ).toMatchObject({ logLevel: "debug", logFormat: "json" });
    expect(parseCommand(["run", "-A", "a.ts", "--metrics-port", "9464"], env)).toMatchObject({
      metricsPort: 9464,
    });
  });

  it("takes the app from QTASKS_APP", () => {
    expect(parseCommand(["stats"], { QTASKS_APP: "x.ts#a" })).toMatchObject({ name: "stats", app: "x.ts#a" });
  });

  it("parses inspect, stats and dead-letters", () => {
    expect(parseCommand(["inspect", "u", "-A", "a.ts", "--json"], env)).toMatchObject({
      name: "inspect",
      uuid: "u",
      json: true,
    });
    expect(parseCommand(["dead-letters", "list", "-A", "a.ts", "--limit", "5"], env)).toMatchObject({
      name: "dead-letters-list",
      limit: 5,
    });
    expect(parseCommand(["dlq", "redrive", "a", "b", "-A", "a.ts"], env)).toMatchObject({
      name: "dead-letters-redrive",
      ids: ["a", "b"],
    });
    const all = parseCommand(["dead-letters", "redrive", "--all", "-A", "a.ts"], env);
    expect(all).toMatchObject({ name: "dead-letters-redrive" });
    expect("ids" in all).toBe(false);
  });

  it("help and version need no app; bare qtasks is a missing command", () => {
    expect(parseCommand([], env)).toEqual({ name: "help", missing: true });
    expect(parseCommand(["--help"], env)).toEqual({ name: "help" });
    expect(parseCommand(["run", "--help"], env)).toEqual({ name: "help", topic: "run" });
    expect(parseCommand(["help", "stats"], env)).toEqual({ name: "help", topic: "stats" });
    expect(parseCommand(["dlq", "list", "-h"], env)).toEqual({ name: "help", topic: "dead-letters" });
    expect(parseCommand(["--version"], env)).toEqual({ name: "version" });
  });

  it("a command's help is its own page, not the general usage", () => {
    expect(helpText("run")).toMatch(/^Usage: qtasks run /);
    expect(helpText("run")).toContain("--shutdown-timeout");
    expect(helpText("stats")).not.toContain("--shutdown-timeout");
    expect(helpText("dead-letters")).toContain("redrive");
    expect(helpText()).toMatch(/^Usage: qtasks <command>/);
  });

  it("a negative number after a flag is its value, checked by the flag's own rule", () => {
    expect(() => parseCommand(["stats", "-A", "a.ts", "--connect-timeout", "-0.5"], env)).toThrow(
      '--connect-timeout must be a number of seconds >= 0 (got "-0.5")',
    );
    expect(parseCommand(["inspect", "-A", "a.ts", "--", "-1"], env)).toMatchObject({ uuid: "-1" });
    expect(() => parseCommand(["run", "-A", "a.ts", "-c", "-2"], env)).toThrow(
      '--concurrency must be a positive integer (got "-2")',
    );
  });

  it("suggests the command or flag a typo meant, and nothing for a word far from all", () => {
    expect(closest("stat", ["run", "inspect", "stats", "dead-letters", "help"])).toBe("stats");
    expect(closest("inpsect", ["run", "inspect", "stats"])).toBe("inspect");
    expect(closest("dead", ["run", "dead-letters"])).toBe("dead-letters");
    expect(closest("frobnicate", ["run", "inspect", "stats", "dead-letters", "help"])).toBeUndefined();
    expect(closest("x", ["run", "inspect"])).toBeUndefined();
  });

  it.each([
    [["nope", "-A", "a.ts"], /unknown command "nope" \(expected one of/],
    [["stat", "-A", "a.ts"], /unknown command "stat" \(did you mean "stats"\?\)/],
    [["stat", "--help"], /unknown command "stat" \(did you mean "stats"\?\)/],
    [["help", "stat"], /unknown command "stat" \(did you mean "stats"\?\)/],
    [["dead-letters", "lst", "-A", "a.ts"], /subcommand "lst" \(did you mean "list"\?\)/],
    [["stats", "-A", "a.ts", "--jsn"], /^Unknown option '--jsn' \(did you mean --json\?\)$/],
    [["run"], /run needs --app/],
    [["run", "-A", "a.ts", "extra"], /run takes no arguments/],
    [["run", "-A", "a.ts", "-c", "0"], /--concurrency must be a positive integer/],
    [["run", "-A", "a.ts", "-c", "1.5"], /--concurrency must be a positive integer/],
    [["run", "-A", "a.ts", "--shutdown-timeout=-1"], /--shutdown-timeout must be a number of seconds/],
    [
      ["run", "-A", "a.ts", "--shutdown-timeout", "-1"],
      /^--shutdown-timeout must be a number of seconds >= 0 \(got "-1"\)$/,
    ],
    [["run", "-A", "a.ts", "--shutdown-timeout", "--json"], /argument is ambiguous/],
    [["run", "-A", "a.ts", "--log-level", "loud"], /--log-level must be one of/],
    [["run", "-A", "a.ts", "--log-format", "xml"], /--log-format must be json or pretty/],
    [["run", "-A", "a.ts", "--limit", "3"], /--limit is not an option of run/],
    [["run", "-A", "a.ts", "--metrics-port", "0"], /--metrics-port must be a positive integer/],
    [["run", "-A", "a.ts", "--metrics-port", "70000"], /--metrics-port must be a TCP port/],
    [["stats", "-A", "a.ts", "--metrics-port", "9464"], /--metrics-port is not an option of stats/],
    [["stats", "-A", "a.ts", "--bogus"], /^Unknown option '--bogus'$/],
    [["inspect", "-A", "a.ts"], /inspect takes exactly one task uuid/],
    [["dead-letters", "-A", "a.ts"], /needs a subcommand: list or redrive/],
    [["dead-letters", "purge", "-A", "a.ts"], /unknown dead-letters subcommand "purge"/],
    [["dead-letters", "redrive", "-A", "a.ts"], /needs ids, or --all/],
    [["dead-letters", "redrive", "x", "--all", "-A", "a.ts"], /either ids or --all/],
  ])("%j is a usage error", (argv, message) => {
    let error: unknown;
    try {
      parseCommand(argv, env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(ExitCode.usage);
    expect((error as Error).message).toMatch(message);
  });
});

describe("parseAppSpec", () => {
  it("splits at a trailing #identifier or :identifier, nowhere else", () => {
    expect(parseAppSpec("./src/app.ts")).toEqual({ file: "./src/app.ts" });
    expect(parseAppSpec("./src/app.ts#shop")).toEqual({ file: "./src/app.ts", exportName: "shop" });
    expect(parseAppSpec("./src/app.ts:shop")).toEqual({ file: "./src/app.ts", exportName: "shop" });
    expect(parseAppSpec("C:\\work\\app.ts")).toEqual({ file: "C:\\work\\app.ts" });
    expect(parseAppSpec("C:\\work\\app.ts:shop")).toEqual({ file: "C:\\work\\app.ts", exportName: "shop" });
    expect(parseAppSpec("./a:b/app.ts")).toEqual({ file: "./a:b/app.ts" });
    expect(parseAppSpec("./c#/app.ts")).toEqual({ file: "./c#/app.ts" });
    expect(parseAppSpec("./app.ts#")).toEqual({ file: "./app.ts#" });
  });
});

describe("describeComponent", () => {
  it("names a component and masks any URL it exposes", () => {
    expect(describeComponent(new MemoryBroker())).toEqual({ name: "memory" });
    expect(describeComponent({ name: "redis", url: "redis://u:pw@h:6379/0" })).toEqual({
      name: "redis",
      url: "redis://u:***@h:6379/0",
    });
    expect(describeComponent({ name: "postgres", options: { url: "postgres://a:secret@db/x" } })).toEqual({
      name: "postgres",
      url: "postgres://a:***@db/x",
    });
  });

  it("masks the URL in a target that goes on after it (RabbitMQ names its queue)", () => {
    expect(
      describeComponent({ name: "rabbitmq", target: "amqp://guest:guest@127.0.0.1:5672 queue qtasks.shop" }),
    ).toEqual({ name: "rabbitmq", url: "amqp://guest:***@127.0.0.1:5672 queue qtasks.shop" });
    expect(describeComponent({ name: "x", target: "in process" })).toEqual({ name: "x", url: "in process" });
  });

  it("falls back to the adapter's conventional env var, or says a client was given", () => {
    expect(describeComponent({ name: "redis", options: {} }, { REDIS_URL: "redis://:pw@r:6379" })).toEqual({
      name: "redis",
      url: "redis://:***@r:6379",
    });
    expect(describeComponent({ name: "rabbitmq", options: {} }, {})).toEqual({
      name: "rabbitmq",
      url: "local default",
    });
    expect(describeComponent({ name: "redis", options: { client: {} } }, {})).toEqual({
      name: "redis",
      url: "given client",
    });
  });
});

describe("errors", () => {
  it("recognises unreachable services through the cause chain", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(isUnreachable(new Error("wrapped", { cause: refused }))).toBe(true);
    expect(isUnreachable(Object.assign(new Error("x"), { code: "QTASKS_CONNECTION" }))).toBe(true);
    expect(isUnreachable(new Error("boom"))).toBe(false);
  });

  it("masks URLs in messages", () => {
    expect(errorMessage(new Error("cannot reach redis://user:hunter2@h:1/0 now"))).toBe(
      "cannot reach redis://user:***@h:1/0 now",
    );
  });

  it("keeps the host of a URL followed by punctuation, and the brackets around it balanced", () => {
    // The CLI's own "could not connect" line: each URL in brackets, then a comma or a colon.
    expect(
      scrub(
        "could not connect (broker redis (redis://127.0.0.1:6920), storage redis (redis://:pw@127.0.0.1:6920)): connect ECONNREFUSED",
      ),
    ).toBe(
      "could not connect (broker redis (redis://127.0.0.1:6920), storage redis (redis://:***@127.0.0.1:6920)): connect ECONNREFUSED",
    );
    expect(scrub("see http://h/a_(b) and [amqp://u:p@h:5672]; then postgres://u:p@db/x.")).toBe(
      "see http://h/a_(b) and [amqp://u:***@h:5672]; then postgres://u:***@db/x.",
    );
  });
});
