// fast-check parameters shared by the fuzz tests: FUZZ_SEED fixes the seed
// (replay a failure that `npm test` printed), otherwise every run draws a new one.

import type fc from "fast-check";

export function fuzzParams<T>(numRuns: number): fc.Parameters<T> {
  const seed = process.env.FUZZ_SEED;
  const path = process.env.FUZZ_PATH;
  return {
    numRuns,
    includeErrorInReport: true,
    ...(seed !== undefined && seed !== "" ? { seed: Number(seed) } : {}),
    ...(path !== undefined && path !== "" ? { path } : {}),
  };
}
