/**
 * fast-check parameters for the fold's property tests, from the environment:
 * WEFT_PROP_RUNS hunts longer (default 100); WEFT_PROP_SEED, with
 * WEFT_PROP_PATH (the path a report printed), replays a failure.
 */
export const PROP_RUNS = Number(process.env.WEFT_PROP_RUNS ?? 100)

/** Whether this run replays one reported path (then counts of runs mean nothing). */
export const REPLAYING = process.env.WEFT_PROP_PATH !== undefined

export const PROP_PARAMS = {
  numRuns: PROP_RUNS,
  includeErrorInReport: true,
  ...(process.env.WEFT_PROP_SEED !== undefined ? { seed: Number(process.env.WEFT_PROP_SEED) } : {}),
  ...(process.env.WEFT_PROP_PATH !== undefined ? { path: process.env.WEFT_PROP_PATH, endOnFailure: true } : {})
}
