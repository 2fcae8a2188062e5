// A js-libp2p node that follows the rollup's blocks, as an outside developer would.
//
//   node follow.mjs --peer /ip4/127.0.0.1/tcp/PORT/p2p/PEERID [--topic /rollup/901/blocks/1]
//                   [--blocks N] [--seconds S]
//
// Dials one rollup node (TCP, Noise, yamux, identify), subscribes to the block topic with
// gossipsub's msgIdFn set to the rollup's documented message id (docs/protocol.md §7):
//
//   msg_id = SHA-256("\x19rollup-devnet gossip msgid v1\x00" || uint64_le(len(topic)) || topic || data)[:20]
//
// and decodes every block message (msgpack: [chain_id, [header(7), txs], signature(65)]; the block
// hash is keccak256 of the msgpack header). Prints one JSON line per event on stdout:
//   {"event":"ready","peer_id":...,"dialed":...}
//   {"event":"block","number":N,"hash":"0x..","parent_hash":"0x..","state_root":"0x..","tx_count":K,
//    "timestamp_ms":T,"chain_id":C,"msg_id":"hex","arrival":i}
//   {"event":"invalid","error":...}         (a message that does not decode as a block)
//   {"event":"done","blocks":n,"reason":...}
// Exits after --blocks blocks or --seconds seconds (exit code 0), 2 on bad arguments, 1 on failure.
// The signature is not verified here (that needs secp256k1 recovery); the Python nodes verify it.

import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { decode, encode } from '@msgpack/msgpack'
import { keccak_256 } from '@noble/hashes/sha3.js'

const MESSAGE_ID_DOMAIN = Buffer.from('\x19rollup-devnet gossip msgid v1\x00', 'latin1')

export function rollupMessageId (topic, data) {
  const topicBytes = Buffer.from(topic, 'utf8')
  const length = Buffer.alloc(8)
  length.writeBigUInt64LE(BigInt(topicBytes.length))
  return new Uint8Array(
    createHash('sha256').update(MESSAGE_ID_DOMAIN).update(length).update(topicBytes).update(data).digest().subarray(0, 20)
  )
}

const hex = (bytes) => '0x' + Buffer.from(bytes).toString('hex')

function expectBytes (value, name, length) {
  if (!(value instanceof Uint8Array) || (length !== undefined && value.length !== length)) {
    throw new Error(`${name}: expected ${length ?? 'some'} bytes`)
  }
  return value
}

function expectInt (value, name) {
  if (typeof value !== 'number' && typeof value !== 'bigint') throw new Error(`${name}: expected an integer`)
  return value
}

export function decodeSignedBlock (data) {
  const msg = decode(data, { useBigInt64: true })
  if (!Array.isArray(msg) || msg.length !== 3) throw new Error('message: expected [chain_id, block, signature]')
  const [chainId, block, signature] = msg
  expectInt(chainId, 'chain_id')
  expectBytes(signature, 'signature', 65)
  if (!Array.isArray(block) || block.length !== 2) throw new Error('block: expected [header, transactions]')
  const [header, txs] = block
  if (!Array.isArray(header) || header.length !== 7) throw new Error('header: expected 7 fields')
  if (!Array.isArray(txs)) throw new Error('transactions: expected a list')
  const [number, parentHash, timestampMs, , l1OriginHash, txRoot, stateRoot] = header
  expectInt(number, 'number')
  expectInt(timestampMs, 'timestamp_ms')
  for (const [value, name] of [[parentHash, 'parent_hash'], [l1OriginHash, 'l1_origin_hash'], [txRoot, 'tx_root'], [stateRoot, 'state_root']]) {
    expectBytes(value, name, 32)
  }
  txs.forEach((tx, i) => expectBytes(tx, `transaction ${i}`))
  return {
    chain_id: Number(chainId),
    number: Number(number),
    hash: hex(keccak_256(encode(header, { useBigInt64: true }))),
    parent_hash: hex(parentHash),
    state_root: hex(stateRoot),
    tx_root: hex(txRoot),
    timestamp_ms: Number(timestampMs),
    tx_count: txs.length
  }
}

function emit (record) {
  process.stdout.write(JSON.stringify(record) + '\n')
}

async function main () {
  let args
  try {
    args = parseArgs({
      options: {
        peer: { type: 'string' },
        topic: { type: 'string', default: '/rollup/901/blocks/1' },
        blocks: { type: 'string', default: '0' },
        seconds: { type: 'string', default: '60' }
      }
    }).values
  } catch (err) {
    process.stderr.write(`follow.mjs: ${err.message}\n`)
    process.exit(2)
  }
  const wanted = Number(args.blocks)
  const seconds = Number(args.seconds)
  if (!args.peer || !Number.isInteger(wanted) || wanted < 0 || !(seconds > 0)) {
    process.stderr.write('usage: node follow.mjs --peer MULTIADDR [--topic T] [--blocks N>=0] [--seconds S>0]\n')
    process.exit(2)
  }

  const node = await createLibp2p({
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        msgIdFn: (msg) => rollupMessageId(msg.topic, msg.data),
        globalSignaturePolicy: 'StrictSign',
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        maxInboundDataLength: 8 * 1024 * 1024
      })
    }
  })
  await node.start()
  const pubsub = node.services.pubsub
  let received = 0
  let finished = false
  let finish
  const done = new Promise((resolve) => { finish = (reason) => { finished = true; resolve(reason) } })

  pubsub.addEventListener('message', (evt) => {
    const msg = evt.detail
    if (finished || msg.topic !== args.topic) return
    try {
      const block = decodeSignedBlock(msg.data)
      emit({ event: 'block', ...block, msg_id: Buffer.from(rollupMessageId(msg.topic, msg.data)).toString('hex'), arrival: received })
      received += 1
      if (wanted > 0 && received >= wanted) finish('blocks')
    } catch (err) {
      emit({ event: 'invalid', error: String(err.message ?? err) })
    }
  })
  pubsub.subscribe(args.topic)
  await node.dial(multiaddr(args.peer))
  emit({ event: 'ready', peer_id: node.peerId.toString(), dialed: args.peer })

  const timer = setTimeout(() => finish('timeout'), seconds * 1000)
  const reason = await done
  clearTimeout(timer)
  emit({ event: 'done', blocks: received, reason })
  await node.stop()
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`follow.mjs failed: ${err?.stack ?? err}\n`)
    process.exit(1)
  })
}
