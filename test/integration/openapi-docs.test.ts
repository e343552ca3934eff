import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handler as docs } from '#functions/docs'
import { handler as openapi } from '#functions/openapi'
import { DOCS_PAGE_PATH, findRoute, OPENAPI_PATH, routes } from '#functions/routes'
import { bundleFunction } from '#infra/bundling'
import { fromApiGatewayResult, lambdaContext } from '#infra/local/event'
import { createLocalServer } from '#infra/local/server'
import { CORS_POLICY, parseCorsOrigins } from '#shared/http/cors'
import { apiEvent } from '#test/helpers/events'

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

const call = async (handler: Handler, path: string) =>
  fromApiGatewayResult(await handler(apiEvent('GET', path), lambdaContext('docs-test')))

const docsPaths = routes.filter((route) => route.function === 'docs').map((route) => route.path)

/** What a browser must be told each file is, by its extension; the page has none. */
const mediaType = (path: string) =>
  ({ css: 'text/css', js: 'text/javascript', png: 'image/png' })[/\.(\w+)$/.exec(path)?.[1] ?? ''] ??
  'text/html'

describe('the Swagger UI site', () => {
  it('is a page whose every asset, and the document it loads, is a route of this API', async () => {
    const page = await call(docs, DOCS_PAGE_PATH)
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toContain("script-src 'self'")
    const html = page.body.toString('utf8')
    const pageUrl = new URL(DOCS_PAGE_PATH, 'https://api.example.com')
    const links = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map(
      (match) => new URL(match[1] ?? '', pageUrl),
    )
    expect(links.length).toBeGreaterThanOrEqual(5)
    for (const link of links) {
      expect(link.origin).toBe(pageUrl.origin)
      expect(findRoute('GET', link.pathname)?.function, link.pathname).toBe('docs')
    }

    const initializer = (await call(docs, `${DOCS_PAGE_PATH}/swagger-initializer.js`)).body.toString('utf8')
    const specUrl = /new URL\("([^"]+)"/.exec(initializer)?.[1] ?? ''
    expect(new URL(specUrl, pageUrl).pathname).toBe(OPENAPI_PATH)
    expect(initializer).toContain('validatorUrl: null')
  })

  it('serves every asset with its media type and nosniff, and nothing else', async () => {
    for (const path of docsPaths) {
      const reply = await call(docs, path)
      expect(reply.statusCode, path).toBe(200)
      expect(reply.headers['content-type']?.split(';')[0], path).toBe(mediaType(path))
      expect(reply.headers['x-content-type-options']).toBe('nosniff')
      expect(reply.body.length).toBeGreaterThan(0)
    }
    expect((await call(docs, `${DOCS_PAGE_PATH}/swagger-ui.js.map`)).statusCode).toBe(404)
    expect((await call(docs, '/docs/favicon-32x32.png')).body.subarray(1, 4).toString('latin1')).toBe('PNG')
  })
})

describe('the deployed docs and openapi functions', () => {
  let directory: string
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'docs-bundle-'))
  })
  afterAll(() => rm(directory, { recursive: true, force: true }))

  const bundled = async (name: string): Promise<Handler> => {
    const { file } = bundleFunction(name, join(directory, name))
    return ((await import(pathToFileURL(file).href)) as { handler: Handler }).handler
  }

  it('carry Swagger UI in the bundle and serve it byte for byte, with no node_modules beside them', async () => {
    const handler = await bundled('docs')
    expect(existsSync(join(directory, 'node_modules'))).toBe(false)
    for (const path of docsPaths) {
      const [fromBundle, fromSource] = await Promise.all([call(handler, path), call(docs, path)])
      expect(fromBundle.statusCode, path).toBe(200)
      expect(fromBundle.headers).toEqual(fromSource.headers)
      expect(fromBundle.body.equals(fromSource.body), path).toBe(true)
    }
  })

  it('serve the same OpenAPI document from the bundle', async () => {
    const handler = await bundled('openapi')
    const [fromBundle, fromSource] = await Promise.all([
      call(handler, OPENAPI_PATH),
      call(openapi, OPENAPI_PATH),
    ])
    expect(fromBundle.statusCode).toBe(200)
    expect(JSON.parse(fromBundle.body.toString('utf8'))).toEqual(JSON.parse(fromSource.body.toString('utf8')))
  })
})

describe('CORS on the local server, as API Gateway applies it', () => {
  const FRONT_END = 'http://localhost:5173'
  const servers: Server[] = []
  afterAll(() => Promise.all(servers.map((server) => new Promise((done) => server.close(done)))))

  async function localServer(corsOrigins: string[]) {
    const server = createLocalServer({ corsOrigins })
    servers.push(server)
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  const preflight = (base: string, origin: string, method = 'POST') =>
    fetch(`${base}/api/v1/auth/login`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'content-type',
      },
    })

  const corsHeaders = (response: Response) =>
    Object.fromEntries([...response.headers].filter(([name]) => /^access-control-|^vary$/.test(name)))

  it('answers a preflight from an allowed origin (through $default) with the configured policy', async () => {
    const base = await localServer([FRONT_END])
    const response = await preflight(base, FRONT_END)
    expect(response.status).toBe(204)
    expect(corsHeaders(response)).toEqual({
      'access-control-allow-origin': FRONT_END,
      'access-control-allow-methods': 'GET,POST,PUT,PATCH,DELETE,OPTIONS',
      'access-control-allow-headers': 'authorization,content-type',
      'access-control-max-age': String(CORS_POLICY.maxAgeSeconds),
      vary: 'origin',
    })
  })

  it('adds the allow-origin and expose headers to responses for an allowed origin only', async () => {
    const base = await localServer([FRONT_END])
    const allowed = await fetch(`${base}${OPENAPI_PATH}`, { headers: { origin: FRONT_END } })
    expect(allowed.status).toBe(200)
    expect(corsHeaders(allowed)).toEqual({
      'access-control-allow-origin': FRONT_END,
      'access-control-expose-headers': 'retry-after,www-authenticate,content-disposition',
      vary: 'origin',
    })
    // Refused, and the answer still says it depends on the Origin: a cache may not hand it to FRONT_END.
    const other = await fetch(`${base}${OPENAPI_PATH}`, { headers: { origin: 'http://evil.example' } })
    expect(other.status).toBe(200)
    expect(corsHeaders(other)).toEqual({ vary: 'origin' })
    const refused = await preflight(base, 'http://evil.example')
    expect(refused.status).toBe(204)
    expect(corsHeaders(refused)).toEqual({ vary: 'origin' })
  })

  it('allows any origin with *, as API Gateway does', async () => {
    const base = await localServer(['*'])
    expect(corsHeaders(await preflight(base, 'http://anything.example', 'GET'))).toMatchObject({
      'access-control-allow-origin': '*',
    })
  })

  it('does no CORS at all when no origin is configured: OPTIONS still gets the 204 of $default, bare', async () => {
    const base = await localServer([])
    const response = await preflight(base, FRONT_END)
    expect(response.status).toBe(204)
    expect(response.headers.get('allow')).toBe('POST')
    // The functions send Vary: Origin whatever the gateway's configuration, which they cannot see.
    expect(corsHeaders(response)).toEqual({ vary: 'origin' })
    expect(corsHeaders(await fetch(`${base}${OPENAPI_PATH}`, { headers: { origin: FRONT_END } }))).toEqual({
      vary: 'origin',
    })
  })

  it('reads a comma-separated origin list and refuses entries no browser sends as Origin', () => {
    expect(parseCorsOrigins(undefined)).toEqual([])
    expect(parseCorsOrigins('')).toEqual([])
    expect(parseCorsOrigins(' http://localhost:5173 , https://app.example.com:8443,')).toEqual([
      'http://localhost:5173',
      'https://app.example.com:8443',
    ])
    expect(parseCorsOrigins('*')).toEqual(['*'])
    expect(() => parseCorsOrigins('http://localhost:5173/')).toThrow(/not an origin/)
    expect(() => parseCorsOrigins('localhost:5173')).toThrow(/not an origin/)
    expect(() => parseCorsOrigins('http://localhost:5173/app')).toThrow(/not an origin/)
  })
})
