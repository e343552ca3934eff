import { expect } from 'vitest'
import { handler as login } from '#functions/login'
import { handler as register } from '#functions/register'
import { invoke, jsonEvent, uniqueEmail } from './events.ts'

export interface TestUser {
  id: number
  email: string
  password: string
}

export interface TokenPairBody {
  access_token: string
  refresh_token: string
  token_type: string
  expires_in: number
}

/** Registers a fresh user through the register handler. */
export async function registeredUser(password = 'correct horse battery'): Promise<TestUser> {
  const email = uniqueEmail()
  const response = await invoke(register, jsonEvent('/api/v1/auth/register', { email, password }))
  expect(response.status).toBe(201)
  return { id: (response.body as { id: number }).id, email, password }
}

/** Logs a user in through the login handler and returns the token pair. */
export async function loggedIn(user: TestUser): Promise<TokenPairBody> {
  const response = await invoke(
    login,
    jsonEvent('/api/v1/auth/login', { email: user.email, password: user.password }),
  )
  expect(response.status).toBe(200)
  return response.body as TokenPairBody
}
