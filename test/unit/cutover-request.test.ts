import { describe, expect, it } from 'vitest'
import { CutoverError, parseCutoverRequest } from '#db/cutover/request'

describe('the cutover request', () => {
  it('is a dry run with nothing chosen when the event says nothing', () => {
    expect(parseCutoverRequest(undefined)).toEqual({ apply: false })
    expect(parseCutoverRequest({ apply: true, emailCollisions: 'merge' })).toEqual({
      apply: true,
      emailCollisions: 'merge',
    })
  })

  it('refuses a value it does not take and a key it does not know, naming each', () => {
    expect(() => parseCutoverRequest({ apply: 'yes', usernameCollisions: 'drop', extra: 1 })).toThrow(
      new CutoverError(
        'cutover refused: the request is not one it takes (apply: must be true or false; usernameCollisions: must be rename or clear; extra: the cutover takes only apply, emailCollisions, usernameCollisions, invalidEmails and inbound)',
      ),
    )
  })
})
