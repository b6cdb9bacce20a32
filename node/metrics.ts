import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { PeerName } from '../crdt/events/index.js'
import type { ReceiveOutcome } from './log-service/types.js'

/**
 * The daemon's metrics (DESIGN.md §4: GET /metrics in Prometheus text).
 * Its own registry, so nothing global leaks in. Gauges read the daemon's
 * state when scraped; counters and histograms are fed as things happen.
 */
export interface MetricsSource {
  events: () => number
  disputes: () => { open: number, total: number }
  peers: () => { known: number, connected: number }
  addresses: () => { owned: number, allocated: number, disputed: number }
  syncBytes: () => { in: number, out: number }
}

export class DaemonMetrics {
  readonly registry = new Registry()
  private readonly messages: Counter<'outcome'>
  private readonly adopted: Counter<'source'>
  private readonly validate: Histogram
  private readonly merge: Histogram

  constructor (src: MetricsSource) {
    const registers = [this.registry]
    const gauge = (name: string, help: string, read: () => number): void => {
      // eslint-disable-next-line no-new
      new Gauge({ name, help, registers, collect () { this.set(read()) } })
    }
    gauge('weft_events', 'Events in this peer\'s log.', src.events)
    gauge('weft_disputes_open', 'Disputes not yet settled by a resolve.', () => src.disputes().open)
    gauge('weft_disputes', 'Disputes known, open or settled.', () => src.disputes().total)
    gauge('weft_peers_connected', 'Peers with a live connection.', () => src.peers().connected)
    gauge('weft_peers_known', 'Peers in the log, this one excepted.', () => src.peers().known)
    gauge('weft_addresses_owned', 'Addresses this peer owns, undisputed.', () => src.addresses().owned)
    gauge('weft_addresses_allocated', 'Addresses allocated on this peer.', () => src.addresses().allocated)
    gauge('weft_addresses_disputed', 'Addresses in disputed space.', () => src.addresses().disputed)
    let lastIn = 0
    let lastOut = 0
    // Counters fed from the network's running totals at scrape time.
    const bytesIn = new Counter({ name: 'weft_sync_bytes_received_total', help: 'Bytes received on the sync protocol.', registers })
    const bytesOut = new Counter({ name: 'weft_sync_bytes_sent_total', help: 'Bytes sent on the sync protocol.', registers })
    const feed = (): void => {
      const b = src.syncBytes()
      if (b.in > lastIn) { bytesIn.inc(b.in - lastIn); lastIn = b.in }
      if (b.out > lastOut) { bytesOut.inc(b.out - lastOut); lastOut = b.out }
    }
    this.feedBytes = feed
    this.messages = new Counter({ name: 'weft_sync_messages_received_total', help: 'Sync messages received, by outcome (adopted, unchanged, rejected).', labelNames: ['outcome'], registers })
    this.adopted = new Counter({ name: 'weft_events_adopted_total', help: 'Events adopted, by source (local, remote).', labelNames: ['source'], registers })
    const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    this.validate = new Histogram({ name: 'weft_receive_validate_seconds', help: 'Time to receive a sync message into a copy and check every new change and event.', buckets, registers })
    this.merge = new Histogram({ name: 'weft_receive_merge_seconds', help: 'Time to fold, adopt and persist a validated batch.', buckets, registers })
  }

  private readonly feedBytes: () => void

  received (_peer: PeerName, outcome: ReceiveOutcome): void {
    this.messages.inc({ outcome: outcome.kind })
    if (outcome.kind === 'adopted') {
      this.adopted.inc({ source: 'remote' }, outcome.ids.length)
      if (outcome.timings !== undefined) {
        this.validate.observe(outcome.timings.validateMs / 1000)
        this.merge.observe(outcome.timings.mergeMs / 1000)
      }
    }
  }

  localAppend (n: number): void { this.adopted.inc({ source: 'local' }, n) }

  async text (): Promise<string> {
    this.feedBytes()
    return await this.registry.metrics()
  }
}
