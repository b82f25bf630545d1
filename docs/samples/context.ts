import { QueueTasks } from "@qtasks/core";

const app = new QueueTasks({ config: { maxTasksProcess: 8, region: "eu" } });

export const importCsv = app.task(
  { name: "import_csv", echo: true, maxTime: 600, extra: { source: "s3" } },
  async (self, fileId: string) => {
    const { ctx } = self; // this run's context; every run gets its own
    const log = ctx.getLogger("import"); // bound to the task name and uuid
    log.info("import started", { fileId, attempt: ctx.attempt, source: self.extra.source });

    const config = ctx.getConfig(); // the app config, including your own keys
    const meta = await ctx.getMetadata(); // this task's record (cached; getMetadata(false) re-reads)
    const previous = meta.retryOf ? await ctx.getTask(meta.retryOf) : null; // any record by uuid

    if (fileId === "") ctx.cancel("nothing to import"); // ends the task with status cancel

    await ctx.sleep(0.5); // interrupted at once by a cancellation or maxTime
    const response = await fetch(`https://files.example.com/${fileId}`, { signal: ctx.signal });

    const storage = ctx.getComponent("storage"); // broker, storage, worker, globalConfig, config, logger, plugins
    return {
      region: config.region,
      bytes: Number(response.headers.get("content-length") ?? 0),
      previousError: previous?.traceback,
      storage: storage.name,
      task: ctx.taskName,
      uuid: ctx.taskUuid,
    };
  },
);
