import { defineConfig } from "vitest/config"

const packages = ["packet", "conntrack", "schedulers", "vrrp", "checkers", "lvs"]

export default defineConfig({
  resolve: { conditions: ["@lvs-ts/source"] },
  ssr: { resolve: { conditions: ["@lvs-ts/source"] } },
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
