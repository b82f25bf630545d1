export * from "./router";
