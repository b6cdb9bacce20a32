import type { ClusterKey } from './cluster-key.js'

/**
 * What `weft launch` hands the daemon, already parsed and validated by the
 * CLI (cli/ owns argument parsing; node/ trusts this shape).
 */
export interface DaemonConfig {
  dataDir: string
  /** Control socket path (DATA_DIR/weft.sock, or a fallback when that is too long). */
  socketPath: string
  /** Multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/6783. */
  listen: string[]
  /** Multiaddrs other peers dial; empty = the listen addresses (never 0.0.0.0). */
  advertise: string[]
  nickname: string
  /** `--range`, when given: must match the cluster's. */
  range?: string
  /** PEER arguments as multiaddrs (with or without /p2p/ID). */
  peers: string[]
  /** How a peer with no cluster gets one (`--init`, DESIGN.md §3.1). */
  init: InitMode
  /** `--key-file`: the libp2p private network's pre-shared key (DESIGN.md §3.3); none = an open network. */
  clusterKey?: ClusterKey
  logLevel: 'debug' | 'info' | 'warn' | 'error'
  /** WEFT_TEST_HOOKS=1: enables /test/* control routes. */
  testHooks: boolean
  /** Log lines also go to stderr (foreground). */
  logToStderr: boolean
  /** Limits and timings; defaults in DEFAULT_TUNING. */
  tuning: Partial<Tuning>
}

/**
 * `--init`: founder (no PEER: found a cluster alone); consensus=N (agree on
 * the seeds with the other N - 1); seed (the named peers are the seeds);
 * observer (never a seed, never votes: wait for a cluster).
 */
export type InitMode =
  | { mode: 'founder' }
  | { mode: 'consensus', n: number }
  | { mode: 'seed', seeds: string[] }
  | { mode: 'observer' }

export interface Tuning {
  /** Largest frame on /weft/sync (bytes); bigger sync messages go in chunks. */
  frameLimit: number
  maxConnections: number
  /** Anti-entropy round (ms). */
  syncIntervalMs: number
  /** Ready without a sync after this long when no peer is reachable (ms). */
  readyGraceMs: number
  backoffBaseMs: number
  backoffFactor: number
  backoffMaxMs: number
  /** Hello must arrive within this (ms). */
  helloTimeoutMs: number
  /** Consensus bootstrap: wait this long (ms) for the peers launched together to meet before proposing. */
  consensusDelayMs: number
  /** How long `weft reset` waits for a peer to confirm it holds the leave (ms). */
  resetConfirmMs: number
  /** How long `weft rmpeer` waits for its takeover vote to be decided (ms). */
  voteTimeoutMs: number
  /** Sync frames one peer may send per second, sustained (five times that, at least 1000, in a burst); more is a flood: hung up on and backed off. */
  maxSyncFramesPerSecond: number
  /**
   * Events in the live document after which a member proposes a checkpoint
   * (DESIGN.md §2.6); 0: never. Off by default until epochs are complete
   * (issue 17: status, the archive protocol, the multi-process tests).
   */
  epochEvents: number
}

export const DEFAULT_TUNING: Tuning = {
  frameLimit: 1024 * 1024,
  maxConnections: 16,
  syncIntervalMs: 30_000,
  readyGraceMs: 5_000,
  backoffBaseMs: 2_000,
  backoffFactor: 1.5,
  backoffMaxMs: 6 * 60_000,
  helloTimeoutMs: 10_000,
  consensusDelayMs: 2_000,
  resetConfirmMs: 30_000,
  voteTimeoutMs: 10_000,
  maxSyncFramesPerSecond: 200,
  epochEvents: 0
}

export const DEFAULT_RANGE = '10.32.0.0/12'
export const DEFAULT_PORT = 6783
/** Where a peer listens unless told otherwise (`weft launch --listen`). */
export const DEFAULT_LISTEN = `0.0.0.0:${DEFAULT_PORT}`
