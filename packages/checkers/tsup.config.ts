import { defineConfig } from "tsup"

export default defineConfig({
  // The TCP engine's worker is loaded by URL at run time (`./internal/TcpEngineWorker.js` next to index.js).
  entry: {
    index: "src/index.ts",
    "bin/genhash": "src/bin/genhash.ts",
    "internal/TcpEngineWorker": "src/internal/TcpEngineWorker.ts"
  },
  format: ["esm"],
  dts: { entry: { index: "src/index.ts", "bin/genhash": "src/bin/genhash.ts" } },
  sourcemap: true,
  clean: true,
  target: "node22"
})
