import { main } from "./main";

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Exit even if the app left a handle open (a timer, a client it created itself); unref'd so a
  // clean process exits sooner on its own.
  setTimeout(() => process.exit(code), 500).unref();
});
