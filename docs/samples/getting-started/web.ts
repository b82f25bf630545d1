// web.ts: a client only (a web server, a script). It enqueues and waits; it never runs tasks.
import { app, thumbnail } from "./app.ts";

await app.start({ worker: false });
const handle = await thumbnail.addTask("https://example.com/cat.png");
console.log(await handle.result({ timeout: 30 })); // { url: 'https://example.com/cat.png', width: 128 }
await app.stop();
