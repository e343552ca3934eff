/**
 * Where a Node server's CPU goes, from a V8 CPU profile (`node --cpu-prof`): every sample is charged to the innermost
 * frame on its stack that belongs to a known part (the access log line, the event conversion, the Neon driver, …),
 * so time spent in Node's built-ins counts for the project code that called them (a socket write under the local
 * server's reply is the local server's; under the WebSocket client's send, the client's). Samples with no known frame
 * on the stack are charged to Node's HTTP and socket work, to the garbage collector, or to "other".
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string }
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface CpuPart {
  name: string
  /** Whether a deployed Lambda spends this too (its own process, per request), and why. */
  lambda: string
  /** Counted in a Lambda's billed CPU: the parts marked `yes`. */
  inLambda: boolean
}

/** The parts, each with the frames it owns; the first part whose test matches a frame's URL owns the frame. */
const PARTS: (CpuPart & { owns: (url: string) => boolean })[] = [
  {
    name: 'access log line (JSON.stringify, stdout write)',
    lambda: 'yes: the same line, to CloudWatch',
    inLambda: true,
    owns: (url) => url.endsWith('/shared/platform/logger.ts'),
  },
  {
    name: 'event conversion (HTTP request → payload-2.0 event → response)',
    lambda: "no: API Gateway builds the event (the runtime's JSON parse of it remains)",
    inLambda: false,
    owns: (url) => url.endsWith('/infra/local/event.ts'),
  },
  {
    name: 'local server (routing, CORS, body read, reply)',
    lambda: 'no: API Gateway',
    inLambda: false,
    owns: (url) => /\/infra\/local\/(server|authorizer)\.ts$|\/bench\/peers\/local-server\.ts$/.test(url),
  },
  {
    name: 'token signature check (RS256, node:crypto)',
    lambda: 'yes',
    inLambda: true,
    owns: (url) => url.endsWith('/shared/domain/tokens.ts'),
  },
  {
    name: "WebSocket client frames (Node's undici, the Neon driver's transport)",
    lambda: 'yes: the driver speaks WebSocket to Neon',
    inLambda: true,
    owns: (url) => url.includes('internal/deps/undici'),
  },
  {
    name: 'Neon driver (Postgres protocol, pool) and db/client.ts',
    lambda: 'yes',
    inLambda: true,
    owns: (url) => url.includes('@neondatabase/serverless') || url.endsWith('/db/client.ts'),
  },
  {
    name: 'drizzle (SQL building, row mapping)',
    lambda: 'yes',
    inLambda: true,
    owns: (url) => url.includes('/drizzle-orm/'),
  },
  {
    name: 'handler, middy stack, repositories, validation',
    lambda: 'yes',
    inLambda: true,
    owns: (url) =>
      /\/(functions|shared|db)\/[^/]+/.test(url) || url.includes('/@middy/') || url.includes('/valibot/'),
  },
]
/** Charged only when no part above has a frame on the stack: Node's own work between requests and sockets. */
const NODE_IO: CpuPart & { owns: (url: string) => boolean } = {
  name: "Node's HTTP server and sockets, no project code on the stack (parsing, writes)",
  lambda:
    "no (the runtime's own HTTP calls to the Runtime API are of this kind, one GET and one POST per invoke)",
  inLambda: false,
  owns: (url) => /^node:(_http_|net|internal\/(http|stream|streams|net|timers)|events|stream)/.test(url),
}
const GC: CpuPart = { name: 'garbage collector', lambda: 'yes, in proportion', inLambda: true }
const PROGRAM: CpuPart = {
  name: 'V8/native, no JavaScript frame ("(program)")',
  lambda: 'partly',
  inLambda: false,
}
const OTHER: CpuPart = { name: 'other', lambda: '?', inLambda: false }

export interface CpuBreakdown {
  /** Non-idle sampled time, in milliseconds. */
  sampledMs: number
  /** Each part with its share of the sampled time and its most sampled leaf frames. */
  parts: { part: CpuPart; ms: number; share: number; frames: { frame: string; share: number }[] }[]
}

/** Reads a `.cpuprofile` file and charges every non-idle sample to its part. */
export function breakDownProfile(file: string): CpuBreakdown {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const owner = new Map<number, CpuPart | 'idle'>()
  const ownerOf = (id: number): CpuPart | 'idle' => {
    const known = owner.get(id)
    if (known) return known
    const leaf = byId.get(id)
    const leafName = leaf?.callFrame.functionName
    let found: CpuPart | 'idle' | undefined
    if (leafName === '(idle)') found = 'idle'
    else if (leafName === '(garbage collector)') found = GC
    else if (leafName === '(program)') found = PROGRAM
    for (let at: number | undefined = id; !found && at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)?.callFrame.url ?? ''
      found = PARTS.find((part) => part.owns(url))
    }
    for (let at: number | undefined = id; !found && at !== undefined; at = parent.get(at))
      if (NODE_IO.owns(byId.get(at)?.callFrame.url ?? '')) found = NODE_IO
    const result = found ?? OTHER
    owner.set(id, result)
    return result
  }

  const totals = new Map<CpuPart, number>()
  const leaves = new Map<CpuPart, Map<string, number>>()
  let sampledUs = 0
  profile.samples.forEach((id, index) => {
    const part = ownerOf(id)
    if (part === 'idle') return
    // A sample's time is the gap to the next one.
    const us = profile.timeDeltas[index + 1] ?? 0
    sampledUs += us
    totals.set(part, (totals.get(part) ?? 0) + us)
    const frame = byId.get(id)?.callFrame
    const name = `${frame?.functionName || '(anonymous)'} ${frame?.url.replace(/^.*(node_modules|wt-[^/]+|work\/[^/]+)\//, '') ?? ''}`
    const counts = leaves.get(part) ?? new Map<string, number>()
    counts.set(name, (counts.get(name) ?? 0) + us)
    leaves.set(part, counts)
  })
  return {
    sampledMs: sampledUs / 1000,
    parts: [...totals]
      .map(([part, us]) => ({
        part,
        ms: us / 1000,
        share: sampledUs > 0 ? us / sampledUs : 0,
        frames: [...(leaves.get(part) ?? [])]
          .map(([frame, frameUs]) => ({ frame: frame.trim(), share: frameUs / sampledUs }))
          .sort((a, b) => b.share - a.share)
          .slice(0, 5),
      }))
      .sort((a, b) => b.ms - a.ms),
  }
}
