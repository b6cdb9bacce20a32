import { compareEventsTopological } from '../../crdt/causal/index.js'
import { defaultVerifier, type AuthoredEvent, type SignedEvent, type BodyOf } from '../../crdt/events/index.js'
import { EventLog, SyncSession } from '../../crdt/log/index.js'
import { SimPeer } from './sim-peer.js'


/** A SimPeer whose events also live in an Automerge EventLog, synced with real sync messages. */
export class LogPeer {
  readonly sim: SimPeer
  readonly log: EventLog
  readonly sessions = new Map<string, SyncSession>()

  constructor (sim: SimPeer, genesis: SignedEvent) {
    this.sim = sim
    this.log = EventLog.create(sim.name)
    this.log.addGenesis(genesis)
  }

  author<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>): SignedEvent {
    const e = this.sim.author(kind, body as never)
    this.log.append(e)
    return e
  }

  session (peer: LogPeer): SyncSession {
    let s = this.sessions.get(peer.sim.name)
    if (s === undefined) this.sessions.set(peer.sim.name, s = new SyncSession())
    return s
  }

  /** Adopts a received batch: log and fold. */
  fold (events: readonly SignedEvent[]): void {
    const sorted = [...events].sort(compareEventsTopological)
    this.sim.receive(sorted)
  }
}

/** Runs sync rounds between two log peers until neither has anything to send; returns bytes and rounds. */
export function syncPair (a: LogPeer, b: LogPeer, maxRounds = 20): { bytes: number, rounds: number, messages: number } {
  let bytes = 0
  let messages = 0
  for (let round = 1; round <= maxRounds; round++) {
    let sent = false
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const msg = from.log.generateSyncMessage(from.session(to))
      if (msg === null) continue
      sent = true
      bytes += msg.length
      messages++
      const received = to.log.receive(to.session(from), msg, defaultVerifier)
      to.fold(received.events)
      received.adopt()
    }
    if (!sent) return { bytes, rounds: round, messages }
  }
  throw new Error('sync did not converge')
}
