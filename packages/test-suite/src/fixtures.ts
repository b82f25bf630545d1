import type { NewTaskRecord, TaskEnvelope } from "@qtasks/core";
import { newUuid } from "@qtasks/core";

/** The task name fixtures use unless told otherwise. */
export const CONTRACT_TASK_NAME = "contract.task";

/**
 * A valid envelope with a fresh uuid; `partial` overrides any field. For adapters' own tests.
 * `enqueuedAt` defaults to now.
 */
export function makeEnvelope(partial: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    v: 1,
    uuid: newUuid(),
    taskName: CONTRACT_TASK_NAME,
    args: [],
    priority: 0,
    retries: 0,
    enqueuedAt: Date.now(),
    ...partial,
  };
}

/** A valid new task record with a fresh uuid; `partial` overrides any field. */
export function makeNewRecord(partial: Partial<NewTaskRecord> = {}): NewTaskRecord {
  return {
    uuid: newUuid(),
    taskName: CONTRACT_TASK_NAME,
    priority: 0,
    args: [],
    retries: 0,
    tags: [],
    extra: {},
    ...partial,
  };
}

/** The envelope a worker would build from a new record (what `begin` receives). */
export function envelopeFor(record: NewTaskRecord): TaskEnvelope {
  const e: TaskEnvelope = {
    v: 1,
    uuid: record.uuid,
    taskName: record.taskName,
    args: record.args,
    priority: record.priority,
    retries: record.retries,
    enqueuedAt: (record.createdAt ?? new Date()).getTime(),
    tags: record.tags,
    extra: record.extra,
  };
  if (record.parentUuid) e.parentUuid = record.parentUuid;
  if (record.retryOf) e.retryOf = record.retryOf;
  return e;
}

/**
 * Strings that break naive quoting, escaping or encoding: SQL and shell metacharacters, Lua and
 * Redis protocol characters, backslashes, JSON-looking text, unicode outside the BMP, RTL marks and
 * line separators. Every storage and broker must carry them unchanged.
 */
export const HOSTILE_STRINGS: readonly string[] = [
  "",
  "'",
  '"',
  "\\",
  "\\\\'\\\"",
  "'; DROP TABLE x;--",
  '"); DELETE FROM tasks; --',
  "$$",
  "$1 $$ $tag$ x $tag$",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal placeholder is the point
  "%s %d %n {0} ${x} `id`",
  "\r\n*1\r\n$4\r\nPING\r\n",
  '{"v":1}',
  "[1,2",
  "null",
  "__proto__",
  "constructor",
  "日本語のテキスト",
  "emoji 😀👍🏽 and a family 👨‍👩‍👧",
  "\u202eRTL override\u202c",
  "line\u2028separator\u2029paragraph",
  "tab\tnewline\nreturn\r",
  "\u0001\u001f\u007f",
  "x".repeat(10_000),
];

/**
 * Arguments made of every JSON type, nested, with hostile strings, and an object that owns a
 * `__proto__` key (built with `JSON.parse`, the way it arrives from the wire).
 */
export function hostileArgs(): unknown[] {
  return [
    ...HOSTILE_STRINGS,
    0,
    -1,
    1.5,
    Number.MAX_SAFE_INTEGER,
    -1e300,
    true,
    false,
    null,
    [],
    {},
    [[[["deep"]]], { a: [{ b: { c: [null, 1, "2"] } }] }],
    { "key with spaces": 1, "'quoted'": 2, '"dq"': 3, "": 4, 日本: 5, "a.b": 6, $set: 7 },
    JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "x": 1}',
    ),
  ];
}
