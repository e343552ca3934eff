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
  password: string
}

/** A canned answer for the next request to a method and path, in place of the fake's own behaviour. */
interface Override {
  status: number
  body: unknown
}

/**
 * The few Neon API v2 endpoints the provider calls, served on 127.0.0.1 with the shapes Neon documents: create
 * project (with `connection_uris` and running operations), get operation, rename, connection URI, delete.
 */
export async function startFakeNeon() {
  const requests: RecordedRequest[] = []
  const projects = new Map<string, Project>()
  const overrides = new Map<string, Override[]>()
  const operationPolls = new Map<string, number>()
  let created = 0

  const host = (project: Project, pooled: boolean) =>
    `ep-${project.id}${pooled ? '-pooler' : ''}.${project.regionId.replace(/^aws-/, '')}.aws.neon.tech`
  const uri = (project: Project, pooled: boolean) =>
    `postgresql://papa_auth_owner:${project.password}@${host(project, pooled)}/papa_auth?sslmode=require`

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
    const override = overrides.get(`${method} ${path}`)?.shift()
    if (override) return send(override.status, override.body)

    const parts = path.split('/').filter(Boolean)
    if (parts[0] !== 'projects') return send(404, { code: '', message: 'not found' })
    if (method === 'POST' && parts.length === 1) {
      const input = (JSON.parse(text) as { project: { name: string; region_id: string } }).project
      const project = {
        id: `quiet-bird-${++created}0000`,
        name: input.name,
        regionId: input.region_id,
        password: `npg_secret${created}`,
      }
      projects.set(project.id, project)
      return send(201, {
        project: { id: project.id, name: project.name, region_id: project.regionId },
        connection_uris: [
          {
            connection_uri: uri(project, false),
            connection_parameters: {
              database: 'papa_auth',
              password: project.password,
              role: 'papa_auth_owner',
              host: host(project, false),
              pooler_host: host(project, true),
            },
          },
        ],
        roles: [{ name: 'papa_auth_owner', password: project.password }],
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
    /** The strings a project's secret should hold. */
    connectionStrings: (id: string) => {
      const project = projects.get(id)
      if (!project) throw new Error(`no project ${id}`)
      return { pooledUrl: uri(project, true), directUrl: uri(project, false) }
    },
    /** Answers the next requests to `METHOD /path` (a path under /api/v2) with these, in order. */
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
