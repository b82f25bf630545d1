import { formatReport, resetReport } from "./report";

/** Starts an empty report, and prints the table once every scenario ran. */
export default function setup(): () => void {
  resetReport();
  return () => {
    process.stdout.write(`\nqtasks reliability report\n${formatReport()}\n`);
  };
}
