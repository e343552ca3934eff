import { httpHandler, ok } from '#shared/http/handler'
import { buildOpenApiDocument, type OpenApiDocument } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'
import { callersOf, routes } from './routes.ts'

let built: OpenApiDocument | undefined

/** The document, built once at init; it states the configured limits and needs no secret. */
const openApiDocument = async () => {
  built ??= buildOpenApiDocument(routes, loadSettings())
  return built
}

const openapi = async (_event: unknown, document: OpenApiDocument) => ok(document)

export const handler = httpHandler(openapi, {
  callers: callersOf('openapi'),
  dependencies: openApiDocument,
})
