import type { DeadLetter } from "@qtasks/core";
import type { Command } from "../args";
import { query } from "../connect";
import { NotFoundError } from "../errors";
import { type CliIo, toJson } from "../io";
import { withConnectedApp } from "./shared";

type ListCommand = Extract<Command, { name: "dead-letters-list" }>;
type RedriveCommand = Extract<Command, { name: "dead-letters-redrive" }>;

/** `qtasks dead-letters list`: oldest first. */
export async function deadLettersListCommand(cmd: ListCommand, io: CliIo): Promise<number> {
  const letters = await withConnectedApp(cmd, io, (app) =>
    query(app, cmd.connectTimeout, () => app.listDeadLetters({ limit: cmd.limit })),
  );
  if (cmd.json) {
    io.stdout.write(`${toJson(letters.map(letterJson))}\n`);
    return 0;
  }
  if (letters.length === 0) {
    io.stdout.write("no dead letters\n");
    return 0;
  }
  for (const d of letters) {
    const what = d.envelope
      ? `${d.envelope.taskName} args=${JSON.stringify(d.envelope.args)}`
      : `malformed: ${JSON.stringify((d.raw ?? "").slice(0, 120))}`;
    io.stdout.write(`${d.id}  ${new Date(d.deadLetteredAt).toISOString()}  ${d.reason}  ${what}\n`);
  }
  return 0;
}

function letterJson(d: DeadLetter) {
  return {
    id: d.id,
    reason: d.reason,
    deadLetteredAt: d.deadLetteredAt,
    ...(d.envelope ? { envelope: d.envelope } : {}),
    ...(d.raw !== undefined ? { raw: d.raw } : {}),
  };
}

/**
 * `qtasks dead-letters redrive <ids...>|--all`: records go back to `new` and the envelopes are
 * published again. Ids that are not dead letters (or are malformed, which cannot be re-driven) are
 * reported and make the exit code 6; the others are still re-driven.
 */
export async function deadLettersRedriveCommand(cmd: RedriveCommand, io: CliIo): Promise<number> {
  const result = await withConnectedApp(cmd, io, (app) =>
    query(app, cmd.connectTimeout, async () => {
      let notFound: string[] = [];
      let malformed: string[] = [];
      if (cmd.ids) {
        const letters = await app.listDeadLetters({ limit: 10_000 });
        const byId = new Map(letters.map((d) => [d.id, d]));
        notFound = cmd.ids.filter((id) => !byId.has(id));
        malformed = cmd.ids.filter((id) => byId.has(id) && !byId.get(id)!.envelope);
      }
      const redriven = await app.redriveDeadLetters(cmd.ids);
      return { redriven, notFound, malformed };
    }),
  );
  if (cmd.json) io.stdout.write(`${toJson(result)}\n`);
  else io.stdout.write(`re-drove ${result.redriven} dead letter${result.redriven === 1 ? "" : "s"}\n`);
  const problems: string[] = [];
  if (result.notFound.length > 0) problems.push(`not dead letters: ${result.notFound.join(", ")}`);
  if (result.malformed.length > 0)
    problems.push(`malformed (cannot be re-driven): ${result.malformed.join(", ")}`);
  if (problems.length > 0) throw new NotFoundError(problems.join("; "));
  return 0;
}
