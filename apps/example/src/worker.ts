/**
 * A worker on its own, without the CLI: `tsx src/worker.ts` (the demo uses `qtasks run --app
 * src/app.ts#app`). It prints what it does and runs until SIGTERM or SIGINT, then stops gracefully.
 */
process.env.QTASKS_DEMO_ROLE ??= "worker"; // before the app module loads: see app.ts
const { app } = await import("./app");
await app.runForever();

export {};
