import { QueueTasks } from "@qtasks/core";

const app = new QueueTasks();

export const transcode = app.task(
  {
    name: "transcode",
    // Called on every yielded value; its output is streamed to clients and is the value of `yield`.
    generateHandler: async (chunk: unknown) => ({ chunk, storedAt: `s3://videos/${String(chunk)}` }),
  },
  async function* (videoId: string, parts: number) {
    const stored: unknown[] = [];
    for (let i = 1; i <= parts; i++) {
      const output = yield `${videoId}-part-${i}`; // = generateHandler's output
      stored.push(output);
    }
    return { videoId, parts: stored.length }; // the final result
  },
);

await app.start();
const handle = await transcode.addTask("v1", 3);
for await (const output of handle.stream({ timeout: 600 })) {
  console.log("progress:", output); // arrives while the task runs
}
console.log(await handle.result()); // { videoId: "v1", parts: 3 }

// A generator that returns nothing: the result is the list of outputs.
export const countdown = app.task({ name: "countdown" }, function* (from: number) {
  for (let i = from; i > 0; i--) yield i;
});
