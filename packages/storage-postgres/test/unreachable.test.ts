import { ConnectionError, QTasksError } from "@qtasks/core";
import { describe, expect, it } from "vitest";
import { PostgresStorage, PostgresUnreachableError } from "../src/index";
import { ctx, memoryLogger } from "./helpers";

describe("start-up with PostgreSQL unreachable", () => {
  it("logs one line per attempt naming host, port and database, never the password, then throws", async () => {
    const canary = "canary-Pw-7f3a9c";
    const logger = memoryLogger();
    const storage = new PostgresStorage({
      connectionString: `postgres://qtasks:${canary}@127.0.0.1:5439/somedb`,
      schema: "qt_unreachable",
      startupDeadlineSeconds: 3,
    });
    const started = Date.now();
    const err = await storage.start(ctx(logger)).then(
      () => null,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(PostgresUnreachableError);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toBeInstanceOf(QTasksError);
    expect((err as QTasksError).code).toBe("QTASKS_CONNECTION");
    expect((err as Error).message).toContain("127.0.0.1:5439/somedb");
    expect(elapsed).toBeGreaterThanOrEqual(2500);

    const attempts = logger.lines.filter((l) => l.message.includes("not reachable"));
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.at(-1)?.level).toBe("error");
    expect(attempts.slice(0, -1).every((l) => l.level === "warn")).toBe(true);
    attempts.forEach((l, i) => {
      expect(l.message).toContain("127.0.0.1:5439/somedb");
      expect(l.message).toContain(`attempt ${i + 1}`);
      expect(l.fields).toMatchObject({ host: "127.0.0.1", port: 5439, database: "somedb", attempt: i + 1 });
    });
    // Nothing that was logged or thrown carries the password.
    const everything =
      JSON.stringify(logger.lines) + String((err as Error).message) + String((err as Error).stack);
    expect(everything).not.toContain(canary);
    expect(
      JSON.stringify((err as Error).cause, Object.getOwnPropertyNames((err as Error).cause ?? {})),
    ).not.toContain(canary);
    await storage.stop();
  });
});
