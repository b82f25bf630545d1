import type { Plugin } from "./contracts/plugin";

/**
 * Runs `inner` inside the wrapping hook (`aroundEnqueue`, `aroundRun`) of each plugin in `plugins`,
 * the first one outermost. A buggy hook never loses the work: one that throws before calling
 * `next` is reported and `next` runs anyway; one that throws after `next` is reported and `next`'s
 * result stands (its failure, if it failed, is what the caller sees). `next` runs at most once.
 */
export function runAround<I, R>(
  plugins: readonly Plugin[],
  call: (plugin: Plugin, input: I, next: () => Promise<R>) => Promise<R>,
  input: I,
  inner: () => Promise<R>,
  report: (plugin: Plugin, error: unknown) => void,
): Promise<R> {
  const step = (i: number): Promise<R> => {
    const plugin = plugins[i];
    if (!plugin) return inner();
    let started: Promise<R> | undefined;
    const next = () => {
      started ??= step(i + 1);
      return started;
    };
    let wrapped: Promise<R>;
    try {
      wrapped = Promise.resolve(call(plugin, input, next));
    } catch (error) {
      wrapped = Promise.reject(error);
    }
    return wrapped.catch((error: unknown) => {
      if (!started) {
        report(plugin, error);
        return next();
      }
      return started.then(
        (result) => {
          report(plugin, error);
          return result;
        },
        (innerError: unknown) => {
          if (innerError !== error) report(plugin, error);
          throw innerError;
        },
      );
    });
  };
  return step(0);
}
