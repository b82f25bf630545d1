export { createDashboard, type Dashboard } from "./dashboard";
export { DashboardAssetsMissingError } from "./errors";
export { type FetchHandler, type NodeHandler, type NodeHandlerOptions, toNodeHandler } from "./node";
export { DASHBOARD_ACTIONS, type DashboardAction, type DashboardOptions } from "./options";
export { TOKEN_HEADER } from "./security";
export type { Throughput, ThroughputBucket } from "./throughput";
export type { DeadLetterView, TaskSummary, WorkerView } from "./views";
