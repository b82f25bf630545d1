import { app } from "./app";

/**
 * A worker on its own, without the CLI: `tsx src/worker.ts` (the demo uses `qtasks run --app
 * src/app.ts#app`). It runs until SIGTERM or SIGINT, then stops gracefully.
 */
await app.runForever();
