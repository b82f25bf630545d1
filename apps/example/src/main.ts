import { app, flakyReport, sendEmail } from "./app";
import { resize } from "./images";

/** Runs a worker in this process, enqueues a few tasks and prints what happens. */
async function main(): Promise<void> {
  app.events.on("task:retry", (e) =>
    console.log(`  retry: ${e.taskName} failed, trying again as ${e.retryUuid}`),
  );
  await app.start();
  console.log(`qtasks example: app "${app.name}" on broker=${app.broker.name} storage=${app.storage.name}`);

  const email = await sendEmail.addTask("ada@example.com", "Welcome");
  console.log(`enqueued send_email ${email.uuid}`);
  console.log("  result:", await email.result({ timeout: 10 }));

  const images = await resize.addTasks([
    ["https://example.com/a.png", 200],
    ["https://example.com/b.png", 400],
  ]);
  for (const h of images) console.log("  resized:", await h.result({ timeout: 10 }));

  const report = await flakyReport.addTask("2026-11");
  console.log("  report:", await report.result({ timeout: 10 }));

  const stats = await app.stats();
  console.log("statuses:", stats.statuses);
  await app.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
