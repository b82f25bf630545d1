import { describe, expect, it } from "vitest";
import { LazyAbortController } from "../src";

describe("LazyAbortController", () => {
  it("aborts a signal created after the abort, with the same reason", () => {
    const c = new LazyAbortController();
    const why = new Error("stop");
    c.abort(why);
    expect(c.aborted).toBe(true);
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe(why);
  });

  it("aborts a signal created before the abort, and calls its listeners", () => {
    const c = new LazyAbortController();
    const signal = c.signal;
    let heard = 0;
    signal.addEventListener("abort", () => heard++);
    c.abort("r");
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe("r");
    expect(heard).toBe(1);
  });

  it("onAbort listeners run once, can be removed, and run at once when already aborted", () => {
    const c = new LazyAbortController();
    const calls: string[] = [];
    c.onAbort(() => calls.push("a"));
    const off = c.onAbort(() => calls.push("b"));
    off();
    c.abort(1);
    c.abort(2); // a second abort changes nothing
    expect(calls).toEqual(["a"]);
    expect(c.reason).toBe(1);
    c.onAbort(() => calls.push("late"));
    expect(calls).toEqual(["a", "late"]);
  });

  it("an abort without a reason gives an AbortError, as AbortController does", () => {
    const c = new LazyAbortController();
    c.abort();
    expect((c.reason as DOMException).name).toBe("AbortError");
    expect(c.signal.reason).toBe(c.reason);
  });
});
