import { describe, expect, it } from 'vitest'
import { handler as health } from '#functions/health'
import { handler as notFound } from '#functions/not-found'
import { apiEvent, invoke } from '#test/helpers/events'

describe('routes no function serves', () => {
  it('answers 404 Not Found in JSON for an unknown path', async () => {
    const response = await invoke(notFound, apiEvent('GET', '/api/v1/nope'))
    expect(response).toMatchObject({ status: 404, body: { detail: 'Not Found' } })
    expect(response.headers).toMatchObject({
      'content-type': 'application/json',
      'x-content-type-options': 'nosniff',
    })
  })

  it('answers 405 with Allow for a known path and another method', async () => {
    const response = await invoke(notFound, apiEvent('PATCH', '/api/v1/users/me'))
    expect(response).toMatchObject({
      status: 405,
      body: { detail: 'Method Not Allowed' },
      headers: { allow: 'GET, DELETE' },
    })
    const login = await invoke(notFound, apiEvent('GET', '/api/v1/auth/login'))
    expect(login).toMatchObject({ status: 405, headers: { allow: 'POST' } })
  })
})

describe('GET /health', () => {
  it('answers ok when the database answers', async () => {
    expect(await invoke(health, apiEvent('GET', '/api/v1/health'))).toMatchObject({
      status: 200,
      body: { status: 'ok' },
    })
  })
})
