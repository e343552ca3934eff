import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  authorization: string | undefined
  body: unknown
}

interface Project {
  id: string
  name: string
  regionId: string
  databaseName: string
  owner: string
  /** The owner's password: Neon keeps it, and hands it out in connection URIs. */
  password: string
}

/** A canned answer for the next request to a method and path, in place of the fake's own behaviour. */
interface Override {
  status: number
  body?: unknown
  /** Sent as is instead of `body`, for an answer that is not JSON. */
  text?: string
}

/**
 * The few Neon API v2 endpoints the provider calls, served on 127.0.0.1 with the shapes Neon documents: create
 * project (with its default branch, `connection_uris` and running operations), get operation, rename, connection
 * URI and delete. A project has its owner role only: the API's role is made with SQL, never through Neon's API.
 */
export async function startFakeNeon() {
  const requests: RecordedRequest[] = []
  const projects = new Map<string, Project>()
  const overrides = new Map<string, Override[]>()
  const operationPolls = new Map<string, number>()
  let created = 0
  let passwords = 0

  const host = (project: Project, pooled: boolean) =>
    `ep-${project.id}${pooled ? '-pooler' : ''}.${project.regionId.replace(/^aws-/, '')}.aws.neon.tech`
  const uri = (project: Project, pooled: boolean) =>
    `postgresql://${project.owner}:${project.password}@${host(project, pooled)}/${project.databaseName}?sslmode=require`
  const newPassword = () => `npg_secret${++passwords}`
  /** The first override waiting for this request; a route's `*` stands for one path segment. */
  const overrideFor = (request: string) => {
    for (const [route, answers] of overrides) {
      const pattern = route.split('*').map((part) => part.replace(/[.?+^$()[\]{}|\\]/g, '\\$&'))
      if (answers.length > 0 && new RegExp(`^${pattern.join('[^/]+')}$`).test(request)) return answers.shift()
    }
    return undefined
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://fake')
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const method = request.method ?? 'GET'
    const path = url.pathname.replace(/^\/api\/v2/, '')
    requests.push({
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      authorization: request.headers.authorization,
      body: text === '' ? undefined : JSON.parse(text),
    })
    const send = (status: number, body?: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(body === undefined ? '' : JSON.stringify(body))
    }
    const override = overrideFor(`${method} ${path}`)
    if (override?.text !== undefined) return response.writeHead(override.status).end(override.text)
    if (override) return send(override.status, override.body)

    const parts = path.split('/').filter(Boolean)
    if (parts[0] !== 'projects') return send(404, { code: '', message: 'not found' })
    if (method === 'POST' && parts.length === 1) {
      const input = (
        JSON.parse(text) as {
          project: {
            name: string
            region_id: string
            branch?: { database_name?: string; role_name?: string }
          }
        }
      ).project
      const id = `quiet-bird-${++created}0000`
      const owner = input.branch?.role_name ?? 'neondb_owner'
      const project: Project = {
        id,
        name: input.name,
        regionId: input.region_id,
        databaseName: input.branch?.database_name ?? 'neondb',
        owner,
        password: newPassword(),
      }
      projects.set(project.id, project)
      return send(201, {
        project: { id: project.id, name: project.name, region_id: project.regionId },
        branch: { id: `br-${project.id}`, project_id: project.id, name: 'main', default: true },
        connection_uris: [
          {
            connection_uri: uri(project, false),
            connection_parameters: {
              database: project.databaseName,
              password: project.password,
              role: owner,
              host: host(project, false),
              pooler_host: host(project, true),
            },
          },
        ],
        roles: [{ branch_id: `br-${project.id}`, name: owner, password: project.password }],
        operations: [
          { id: `op-branch-${project.id}`, status: 'finished', action: 'create_branch' },
          { id: `op-compute-${project.id}`, status: 'running', action: 'start_compute' },
        ],
      })
    }
    const project = projects.get(parts[1] ?? '')
    if (!project) return send(404, { code: '', message: `project ${parts[1]} not found` })
    if (method === 'GET' && parts[2] === 'operations' && parts[3]) {
      const polls = (operationPolls.get(parts[3]) ?? 0) + 1
      operationPolls.set(parts[3], polls)
      return send(200, { operation: { id: parts[3], status: polls < 2 ? 'running' : 'finished' } })
    }
    if (method === 'GET' && parts[2] === 'connection_uri') {
      const role = url.searchParams.get('role_name') ?? ''
      if (role !== project.owner) return send(404, { code: '', message: `role ${role} not found` })
      return send(200, { uri: uri(project, url.searchParams.get('pooled') === 'true') })
    }
    if (method === 'PATCH' && parts.length === 2) {
      project.name = (JSON.parse(text) as { project: { name: string } }).project.name
      return send(200, { project: { id: project.id, name: project.name }, operations: [] })
    }
    if (method === 'DELETE' && parts.length === 2) {
      projects.delete(project.id)
      return send(200, { project: { id: project.id } })
    }
    return send(404, { code: '', message: 'not found' })
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.writeHead(500).end())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}/api/v2`,
    requests,
    projects,
    /** The owner's strings, as Neon hands them out: pooled (the `-pooler` host) and direct. */
    ownerStrings: (id: string) => {
      const project = projects.get(id)
      if (!project) throw new Error(`no project ${id}`)
      return { pooledUrl: uri(project, true), directUrl: uri(project, false) }
    },
    /** Answers the next requests to `METHOD /path` (a path under /api/v2, `*` for one segment) with these, in order. */
    failNext(route: string, ...answers: Override[]) {
      overrides.set(route, [...(overrides.get(route) ?? []), ...answers])
    },
    reset() {
      requests.length = 0
      overrides.clear()
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
