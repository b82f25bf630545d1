import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, encodeEnvelope, MalformedMessageError, type TaskEnvelope } from "../src";

function envelope(args: unknown[]): TaskEnvelope {
  return { v: 1, uuid: randomUUID(), taskName: "t", args, priority: 0, retries: 0, enqueuedAt: 1 };
}

describe("decodeEnvelope", () => {
  it("round-trips an envelope, from a string or from UTF-8 bytes", () => {
    const e = envelope([{ a: 1, s: "é" }, [2, 3]]);
    expect(decodeEnvelope(encodeEnvelope(e))).toEqual(e);
    expect(decodeEnvelope(Buffer.from(encodeEnvelope(e)))).toEqual(e);
  });

  it("drops __proto__ keys however they are spelled, and pollutes nothing", () => {
    const e = envelope([]);
    const base = encodeEnvelope(e).slice(0, -1);
    for (const key of ["__proto__", "\\u005f_proto__", "__pr\\u006fto__"]) {
      const raw = `${base},"extra":{"${key}":{"polluted":1},"ok":1}}`.replace(
        '"args":[]',
        `"args":[{"${key}":{"polluted":2},"x":1}]`,
      );
      const got = decodeEnvelope(raw);
      expect(Object.hasOwn(got.args[0] as object, "__proto__")).toBe(false);
      expect(got.args[0]).toEqual({ x: 1 });
      expect(Object.hasOwn(got.extra!, "__proto__")).toBe(false);
      expect(got.extra).toEqual({ ok: 1 });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });

  it("refuses bytes that are not UTF-8, and text that is not JSON", () => {
    expect(() => decodeEnvelope(new Uint8Array([0xff, 0xfe, 0x7b]))).toThrow(MalformedMessageError);
    expect(() => decodeEnvelope("{nope")).toThrow(MalformedMessageError);
    // The shared decoder keeps no state from a failed call.
    expect(decodeEnvelope(Buffer.from(encodeEnvelope(envelope([1]))))).toMatchObject({ args: [1] });
  });
});
