import { app } from "./app";
import { logWorkerEvents } from "./narrate";

/**
 * A worker on its own: `tsx src/worker.ts` (or `qtasks run --app src/app.ts#app`). It runs until
 * SIGTERM or SIGINT, then stops gracefully.
 */
logWorkerEvents(app, (line) => console.log(line));
await app.runForever();
