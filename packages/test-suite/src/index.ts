export * from "./broker-contract";
export * from "./capturing-logger";
export * from "./fixtures";
export * from "./storage-contract";
export * from "./types";
