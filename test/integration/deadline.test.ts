import { describe, expect, it, vi } from 'vitest'
import { handler as me } from '#functions/me'
import { builtContainers } from '#shared/app/container'
import { bearerEvent, invoke } from '#test/helpers/events'
import { loggedIn, registeredUser } from '#test/helpers/users'

describe("the invocation's deadline", () => {
  it('sends no statement the server could still be running when the function must answer: 503 instead', async () => {
    const { access_token } = await loggedIn(await registeredUser())
    const request = () => bearerEvent('/api/v1/users/me', access_token)
    // With time for its statement (5 s server-side, then the client's 0.5 s), `me` answers.
    expect((await invoke(me, request(), { timeoutMs: 7000 })).status).toBe(200)

    const connects = builtContainers().map(({ database }) => vi.spyOn(database.pool, 'connect'))
    const answer = await invoke(me, request(), { timeoutMs: 3000 })
    expect(answer).toMatchObject({ status: 503, body: { detail: 'Service temporarily unavailable' } })
    expect(answer.headers['retry-after']).toBe('5')
    // It took a connection, saw the time left, and gave it back unused.
    expect(connects.reduce((sum, connect) => sum + connect.mock.calls.length, 0)).toBe(1)
    expect((await invoke(me, request())).status).toBe(200)
  })
})
