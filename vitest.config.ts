import { defineConfig } from "vitest/config"
import { sourceResolution } from "./vitest.shared.ts"

const packages = ["packet", "conntrack", "schedulers", "vrrp", "checkers", "lvs"]

export default defineConfig({
  ...sourceResolution,
  test: {
    projects: packages.map((name) => ({
      extends: true,
      test: {
        name,
        root: `packages/${name}`,
        include: ["test/**/*.test.ts"]
      }
    }))
  }
})
