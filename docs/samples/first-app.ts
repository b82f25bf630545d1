import { QueueTasks } from "@qtasks/core";

const app = new QueueTasks(); // in-memory broker and storage: no services needed

const resize = app.task({ name: "resize", retry: 2 }, async (url: string, width: number) => {
  return { url, width };
});

await app.start(); // a worker in this process

const handle = await resize.addTask("https://example.com/a.png", 200); // typed arguments
const result = await handle.result({ timeout: 10 }); // typed { url: string; width: number }
console.log(result.width);

await resize.with({ priority: 5, delay: 30 }).addTask("https://example.com/b.png", 400);
await resize.addTasks([
  ["a.png", 100],
  ["b.png", 200],
]); // one batch

await app.stop();
