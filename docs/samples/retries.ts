import { QueueTasks } from "@qtasks/core";

class RateLimitedError extends Error {}
class ServiceUnavailableError extends Error {}

const app = new QueueTasks();

export const syncCustomer = app.task(
  {
    name: "sync_customer",
    retry: 5,
    // Only these are retried (instanceof: subclasses count). Empty or absent: every error.
    retryOnExc: [RateLimitedError, ServiceUnavailableError],
    // 1 s, 2 s, 4 s ... capped at 60 s, with full jitter (set jitter: false to turn it off).
    retryBackoff: { type: "exponential", base: 1, max: 60 },
  },
  async (customerId: string) => {
    const response = await fetch(`https://crm.example.com/customers/${customerId}`);
    if (response.status === 429) throw new RateLimitedError("slow down");
    if (response.status === 503) throw new ServiceUnavailableError("try later");
    if (!response.ok) throw new Error(`CRM answered ${response.status}`); // not retried
    return (await response.json()) as { id: string };
  },
);

const handle = await syncCustomer.addTask("c-42");
// Waiting on the first uuid follows the retry chain to the last attempt's outcome.
const record = await handle.wait({ timeout: 120 });
console.log(record.status, record.retries); // e.g. "success" 2

// Every attempt is its own record, linked both ways, with the original arguments.
let attempt = await app.get(handle.uuid);
while (attempt) {
  console.log(attempt.retries, attempt.status, attempt.errorName);
  attempt = attempt.retryUuid ? await app.get(attempt.retryUuid) : null;
}
