import type { EventId, PeerName } from '../../crdt/events/index.js'
import type { AllocatorApi } from '../allocator/types.js'

/**
 * The daemon as the control API sees it. The HTTP server on DATA_DIR/weft.sock
 * maps routes onto these calls; tests can hand the server a fake.
 */
export interface DaemonApi {
  status: () => StatusJson
  connect: (addrs: string[]) => Promise<void>
  forget: (addrs: string[]) => Promise<void>
  /** Resolves once the peer can allocate, or with the reason it cannot yet at the timeout. */
  waitReady: (timeoutMs: number) => Promise<{ ready: true } | { ready: false, reason: string }>
  /** Graceful stop; resolves when the daemon has begun shutting down. */
  stop: () => Promise<void>
  /** Takes over each named peer (CLI.md `rmpeer`); one result per name, as typed. */
  rmpeer?: (names: string[], force: boolean) => Promise<RmpeerResultJson[]>
  /** Settles a dispute (or the dispute of a conflict event); returns the resolve event. */
  resolve?: (id: string, owner?: string) => Promise<{ id: EventId, dispute: EventId, owner: PeerName }>
  /** Hands this peer's space to connected peers and waits for one to confirm. */
  reset?: (force: boolean) => Promise<ResetJson>
  /**
   * Copies the event store and the allocations, consistently, into `dir` (an
   * existing empty directory) for an offline command to read (node/offline/readable.ts).
   */
  copyStores?: (dir: string) => Promise<{ files: string[] }>
  /** Prometheus text exposition of the daemon's metrics. */
  metrics?: () => Promise<string>
  /** Calls `send` with a described row for every event adopted from now on; returns the unsubscribe. */
  followEvents?: (send: (row: unknown) => void) => () => void
  /** Test hooks (WEFT_TEST_HOOKS=1 only): append arbitrary events, block peers. */
  testHook?: (name: string, body: unknown) => Promise<unknown>
  /** Address allocation (`alloc`, `claim`, `release`, `ls`); the routes answer 404 without it. */
  allocator?: AllocatorApi
}

/** CLI.md's states, plus `loading` and `syncing` before the first sync completes. */
export interface RmpeerResultJson {
  name: string
  ok: boolean
  peer?: PeerName
  ips?: number | string
  event?: EventId
  /** Who approved the takeover, of how many members (DESIGN.md §3.2); absent when forced in a minority (`forced`). */
  approved?: { votes: PeerName[], of: number }
  forced?: true
  /** The vote chose another peer to take `name` over; `error` says so in full. */
  lost?: { winner: PeerName, votes: number, of: number }
  error?: string
}

export interface ResetJson {
  /** The leave handing this peer's space over; null for a peer another peer removed (it owns nothing). */
  leave: EventId | null
  heirs: Array<{ peer: PeerName, nickname: string | null, ranges: string[], ips: number | string }>
  confirmedBy: PeerName | null
  confirmedByNickname: string | null
  /** True when the leave is one an earlier reset appended (its wait timed out) and this one waited for again. */
  earlier?: boolean
  /** Set when another peer removed this one: nothing was handed over, nothing appended. */
  removedBy?: { name: PeerName, nickname: string | null, event: EventId, time: string }
  /** With removedBy: the allocations this peer still held, in space it no longer owns. */
  held?: Array<{ id: string, subnet: string, address: string }>
}

export type IpamState = 'ready' | 'waiting-for-cluster' | 'awaiting-consensus' | 'no-space' | 'removed' | 'read-only' | 'loading' | 'syncing' | 'identity-cloned'

/** `weft status --json`: every field CLI.md lists, plus what the human views need. */
export interface StatusJson {
  peer: {
    name: PeerName
    nickname: string
    removed: boolean
    listen: string[]
    advertise: string[]
    /** When removed: by whom and when (DESIGN.md §3). */
    removedBy?: { name: PeerName, nickname?: string, event: EventId, time: string }
  }
  ipam: {
    state: IpamState
    /** Why the state is not `ready`, in plain words. */
    reason?: string
    /** Allocations in space this peer no longer owns: they may be handed out twice (DESIGN.md §3). */
    lostAllocations: Array<{ id: string, address: string, subnet: string }>
  }
  cluster: { id: EventId | null, range: string | null }
  /** Counts are JSON numbers for IPv4, decimal strings for IPv6 (CLI.md). */
  addresses: { total: number | string, owned: number | string, allocated: number, disputed: number | string }
  peers: Array<{
    name: PeerName
    nickname: string | null
    owned: number | string
    connected: boolean
    removed: boolean
    /** When removed: by whom, with which event, and for a takeover approved by a quorum, who voted for it of how many members. */
    removedBy?: { name: PeerName, nickname: string | null, event: EventId, kind: 'takeover' | 'leave' | 'resolve', time: string, approved?: { votes: Array<{ name: PeerName, nickname: string | null }>, of: number } }
    lastSeen: string | null
    addrs: string[]
  }>
  conflicts: { total: number, unresolved: number }
  events: number
  /**
   * Epochs (DESIGN.md §2.6), once the log is past its first or a checkpoint
   * waits: the epoch the live log belongs to; the checkpoint that would end
   * it and the live members it waits for; proposals whose digest this peer
   * folds differently (never signed).
   */
  epoch?: {
    n: number
    waiting?: { epoch: number, key: EventId, since: string, for: Array<{ name: PeerName, nickname: string | null, lastSeen: string | null }> }
    mismatches: Array<{ key: EventId, signers: PeerName[], digest: string, ours: string }>
  }
  /** The cluster key (DESIGN.md §3.3), and the warning for a peer open beyond loopback without one. */
  security: SecurityJson
  connections: ConnectionJson[]
  /** Ranges this peer owns, CIDR text. */
  owned: string[]
  version: string
  pid: number
  uptimeMs: number
}

export interface SecurityJson {
  /** Whether connections need the cluster key (`launch --key-file`): a libp2p private network. */
  clusterKey: boolean
  /** A digest of the key (also printed by `weft key --json`), equal on hosts that share it; null without a key. */
  keyFingerprint: string | null
  keyFile: string | null
  /** Set when this peer listens beyond loopback without a cluster key: any host that reaches it can join. */
  warning: string | null
}

export interface ConnectionJson {
  peer: PeerName | null
  nickname: string | null
  addr: string | null
  state: 'connected' | 'dialing' | 'backoff' | 'dropped' | 'failed'
  direction?: 'inbound' | 'outbound'
  since: string | null
  /** Why the connection was dropped or failed (a dispute, another cluster, a bad message…). */
  reason: string | null
  retryAt: string | null
  /** Bytes exchanged with this peer on the sync protocol since launch. */
  bytesIn: number
  bytesOut: number
}
