import { defineConfig } from "tsup";
import { qtasksTsup } from "../../tsup.base";

export default defineConfig(qtasksTsup({ external: ["pg", "@qtasks/core"] }));
