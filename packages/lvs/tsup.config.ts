import { defineConfig } from "tsup"

export default defineConfig({
  // Worker entry points and frame handlers are loaded by URL at run time, so each is its own file next to
  // index.js (TapPorts resolves `./internal/TapWorker.js`, L2Responder `./L2Responder.js`, ForwardingHandler `./ForwardingHandler.js`).
  entry: {
    index: "src/index.ts",
    L2Responder: "src/L2Responder.ts",
    ForwardingHandler: "src/ForwardingHandler.ts",
    "internal/TapWorker": "src/internal/TapWorker.ts",
    "internal/OpenerWorker": "src/internal/OpenerWorker.ts",
    "bin/lvs": "src/bin/lvs.ts",
    "bin/realserver": "src/bin/realserver.ts"
  },
  format: ["esm"],
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  target: "node22"
})
