// Running vitest from this package's directory: the same source resolution as the workspace root's config.
import { defineConfig } from "vitest/config"
import { sourceResolution } from "../../vitest.shared.ts"

export default defineConfig({ ...sourceResolution, test: { include: ["test/**/*.test.ts"] } })
