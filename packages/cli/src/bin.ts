import { main } from "./main";

// `qtasks stats | head -1`: a closed pipe is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Exit even if the app left a handle open (a timer, a client it created itself); unref'd so a
  // clean process exits sooner on its own.
  setTimeout(() => process.exit(code), 500).unref();
});
