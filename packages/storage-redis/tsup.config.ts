import { defineConfig } from "tsup";
import { qtasksTsup } from "../../tsup.base";

export default defineConfig(qtasksTsup({ external: ["ioredis", "@qtasks/core"] }));
