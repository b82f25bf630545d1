import { describe, expectTypeOf, it } from "vitest";
import { QueueTasks, sharedTask, type TaskHandle, type TaskSelf } from "../src/index";

const app = new QueueTasks();

describe("typed addTask", () => {
  it("accepts only the handler's arguments and types the result", () => {
    const add = app.task({ name: "t_add" }, async (a: number, b: number) => a + b);
    expectTypeOf(add.addTask).parameters.toEqualTypeOf<[number, number]>();
    expectTypeOf(add.addTask(1, 2)).resolves.toEqualTypeOf<TaskHandle<number>>();
    // @ts-expect-error wrong argument type
    void add.addTask("1", 2);
    // @ts-expect-error missing argument
    void add.addTask(1);
    // @ts-expect-error extra argument
    void add.addTask(1, 2, 3);
  });

  it("keeps optional parameters optional", () => {
    const greet = app.task({ name: "t_greet" }, (name: string, punct?: string) => `hi ${name}${punct ?? ""}`);
    void greet.addTask("a");
    void greet.addTask("a", "!");
    expectTypeOf(greet.addTask("a")).resolves.toEqualTypeOf<TaskHandle<string>>();
  });

  it("per-call options never mix with task arguments", () => {
    const t = app.task({ name: "t_opts" }, (x: { priority: number }) => x.priority);
    void t.with({ priority: 3, delay: 1, timeout: 5 }).addTask({ priority: 1 });
    // @ts-expect-error options are not an argument
    void t.addTask({ priority: 1 }, { delay: 1 });
  });

  it("echo tasks drop self from addTask and type self", () => {
    const t = app.task({ name: "t_echo", echo: true }, (self, n: number) => {
      expectTypeOf(self).toEqualTypeOf<TaskSelf>();
      return self.taskName.length + n;
    });
    expectTypeOf(t.addTask).parameters.toEqualTypeOf<[number]>();
    expectTypeOf(t.addTask(1)).resolves.toEqualTypeOf<TaskHandle<number>>();
  });

  it("app.addTask by name is typed by the task object's type", () => {
    const t = app.task({ name: "t_byname" }, (s: string) => s.length);
    void app.addTask<typeof t>("t_byname", "abc");
    // @ts-expect-error typed by the task's type
    void app.addTask<typeof t>("t_byname", 123);
    expectTypeOf(app.addTask<typeof t>("t_byname", "x")).resolves.toEqualTypeOf<TaskHandle<number>>();
  });

  it("generator results are the return value, or the outputs list", () => {
    const g1 = app.task({ name: "t_gen1" }, function* () {
      yield 1;
      return "done" as const;
    });
    expectTypeOf(g1.addTask()).resolves.toEqualTypeOf<TaskHandle<"done">>();
    const g2 = app.task({ name: "t_gen2" }, async function* () {
      yield 1;
    });
    expectTypeOf(g2.addTask()).resolves.toEqualTypeOf<TaskHandle<unknown[]>>();
  });

  it("result() resolves to the handler's awaited return", () => {
    const t = app.task({ name: "t_res" }, async () => ({ ok: true as boolean }));
    type H = Awaited<ReturnType<typeof t.addTask>>;
    expectTypeOf<Awaited<ReturnType<H["result"]>>>().toEqualTypeOf<{ ok: boolean }>();
  });

  it("shared tasks are typed the same way", () => {
    const s = sharedTask({ name: "t_shared" }, (a: number) => a * 2);
    expectTypeOf(s.addTask).parameters.toEqualTypeOf<[number]>();
  });
});
