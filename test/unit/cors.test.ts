/**
 * `Vary: Origin`, the policy: every answer of the middy stack lists `Origin` in `Vary` (the gateway's CORS headers
 * depend on it, and the gateway adds `Vary` only for an allowed origin), and the gateway's layer, as the local
 * server applies it, keeps the function's `Vary` and lists `Origin` once.
 */
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { InvalidCredentialsError } from '#shared/domain/errors'
import { varyOnOrigin, withCors } from '#shared/http/cors'
import { httpHandler, ok } from '#shared/http/handler'
import { apiEvent, invoke, jsonEvent } from '#test/helpers/events'

const FRONT_END = 'https://app.example.com'
const OTHER_ORIGIN = 'https://elsewhere.example'
const get = (origin: string | undefined) => ({ method: 'GET', origin, requestMethod: undefined })
/** What every function answers with (the stack's own headers). */
const FROM_FUNCTION = { 'content-type': 'application/json', vary: 'origin' }

describe('varyOnOrigin', () => {
  it('adds origin once to whatever Vary lists, and keeps a Vary that lists it or *', () => {
    expect(varyOnOrigin(undefined)).toBe('origin')
    expect(varyOnOrigin('')).toBe('origin')
    expect(varyOnOrigin('accept-encoding')).toBe('accept-encoding, origin')
    expect(varyOnOrigin('Origin')).toBe('Origin')
    expect(varyOnOrigin('accept-encoding, origin')).toBe('accept-encoding, origin')
    expect(varyOnOrigin('*')).toBe('*')
  })
})

describe('the middy stack', () => {
  const answers = httpHandler(async () => ok({ fine: true }, { 'cache-control': 'public, max-age=300' }), {
    callers: 'anyone',
  })
  const fails = httpHandler(
    async () => {
      throw new InvalidCredentialsError()
    },
    { callers: 'anyone' },
  )
  const validates = httpHandler(async () => ok({}), {
    callers: 'anyone',
    body: v.object({ name: v.string() }),
  })

  it('lists Origin in Vary on an answer, an error and a refused body, with or without an Origin', async () => {
    const origins: Record<string, string>[] = [{ origin: FRONT_END }, { origin: OTHER_ORIGIN }, {}]
    for (const headers of origins) {
      const event = apiEvent('GET', '/.well-known/jwks.json', undefined, { headers })
      expect((await invoke(answers, event)).headers.vary).toBe('origin')
      expect((await invoke(fails, event)).headers.vary).toBe('origin')
      const refused = await invoke(validates, jsonEvent('/api/v1/anything', { name: 1 }, { headers }))
      expect(refused.status).toBe(422)
      expect(refused.headers.vary).toBe('origin')
    }
  })

  it('keeps a Vary of the handler’s own, with Origin added', async () => {
    const own = httpHandler(async () => ok({}, { vary: 'accept-language' }), { callers: 'anyone' })
    expect((await invoke(own, apiEvent('GET', '/x'))).headers.vary).toBe('accept-language, origin')
  })
})

describe('API Gateway’s CORS over a function’s answer', () => {
  it('adds its headers for an allowed origin, with Origin listed once in Vary', () => {
    expect(withCors([FRONT_END], get(FRONT_END), FROM_FUNCTION)).toEqual({
      'content-type': 'application/json',
      'access-control-allow-origin': FRONT_END,
      'access-control-expose-headers': 'retry-after,www-authenticate,content-disposition',
      vary: 'origin',
    })
    expect(withCors([FRONT_END], get(FRONT_END), { vary: 'accept-encoding' }).vary).toBe(
      'accept-encoding, origin',
    )
  })

  it('adds nothing for a refused or absent origin, and leaves the function’s Vary: Origin', () => {
    expect(withCors([FRONT_END], get(OTHER_ORIGIN), FROM_FUNCTION)).toEqual(FROM_FUNCTION)
    expect(withCors([FRONT_END], get(undefined), FROM_FUNCTION)).toEqual(FROM_FUNCTION)
    expect(withCors(['*'], get(undefined), FROM_FUNCTION)).toEqual(FROM_FUNCTION)
    expect(withCors(['*'], get(OTHER_ORIGIN), FROM_FUNCTION)).toEqual({
      ...FROM_FUNCTION,
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'retry-after,www-authenticate,content-disposition',
    })
  })

  it('changes nothing with no origin configured', () => {
    expect(withCors([], get(FRONT_END), FROM_FUNCTION)).toEqual(FROM_FUNCTION)
  })
})
