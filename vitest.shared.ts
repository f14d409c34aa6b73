/**
 * Test settings every vitest config of the workspace shares: workspace packages resolve to their TypeScript
 * sources (the `@lvs-ts/source` export condition), never to a `dist` left from an earlier build, whether the
 * tests run from the root (`pnpm test`) or from one package's directory (`pnpm exec vitest run` there).
 */
export const sourceResolution = {
  resolve: { conditions: ["@lvs-ts/source"] },
  ssr: { resolve: { conditions: ["@lvs-ts/source"] } }
}
