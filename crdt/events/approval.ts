import * as dagCbor from '@ipld/dag-cbor'
import { concat } from 'uint8arrays/concat'
import type { Signer, Verifier } from './ed25519.js'
import { EventError } from './errors.js'
import type { PeerName } from './peer-id.js'
import type { EventId, TakeoverApproval } from './types.js'
import { idsToWire, peerToWire } from './wire.js'

/**
 * What a voter signs when it accepts "`to` takes over `from`" in a takeover
 * vote (DESIGN.md §3.2). The takeover event carries a quorum of these, so
 * anyone can check, from the log alone, who approved it.
 */
export interface ApprovalStatement {
  cluster: EventId
  from: PeerName
  to: PeerName
  round: number
  proposer: PeerName
  of: number
}

/** Its own domain, so a vote can never pass for an event signature or the reverse. */
const APPROVAL_DOMAIN = new TextEncoder().encode('weft/approval\n')

export function approvalPayload (s: ApprovalStatement): Uint8Array {
  const encoded = dagCbor.encode({
    cluster: idsToWire([s.cluster])[0],
    from: peerToWire(s.from),
    to: peerToWire(s.to),
    round: s.round,
    proposer: peerToWire(s.proposer),
    of: s.of
  })
  return concat([APPROVAL_DOMAIN, encoded], APPROVAL_DOMAIN.length + encoded.length)
}

export function signApproval (s: ApprovalStatement, signer: Signer): Uint8Array {
  return signer.sign(approvalPayload(s))
}

/** Quorum of `n` members: any two such sets share a member. */
export function quorumOf (n: number): number {
  return Math.floor(n / 2) + 1
}

/** Checks every vote of an approval of `to` taking over `from`; throws EventError('bad-signature'). */
export function verifyApproval (approval: TakeoverApproval, from: PeerName, to: PeerName, verifier: Verifier): void {
  const payload = approvalPayload({ cluster: approval.cluster, from, to, round: approval.round, proposer: approval.proposer, of: approval.of })
  for (const v of approval.votes) {
    if (!verifier.verify(v.peer, payload, v.sig)) throw new EventError('bad-signature', `approval vote of ${v.peer} does not verify`)
  }
}
