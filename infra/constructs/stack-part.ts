import { createHash } from 'node:crypto'
import { CfnElement, Names, Stack } from 'aws-cdk-lib'
import { Construct, type IConstruct } from 'constructs'

/**
 * A part of the stack, named for what it owns (the signing keys, the HTTP API, the mail sender, the operator
 * functions). It adds nothing to the logical IDs of the resources under it (`AuthStack.allocateLogicalId` reads
 * `logicalIdWithoutParts`): each keeps the ID it had when the stack made it directly, so a deploy after the stack was
 * split into parts replaced nothing, and a resource moved between parts keeps its ID. Two parts may not hold children
 * of the same id: the synth fails (`section 'Resources' already contains …`).
 */
export class StackPart extends Construct {}

/** The construct ids from below the stack down to `construct`, the parts left out. */
const pathWithoutParts = (construct: IConstruct): string[] => {
  const scopes = construct.node.scopes
  return scopes
    .slice(scopes.indexOf(Stack.of(construct)) + 1)
    .filter((scope) => !(scope instanceof StackPart))
    .map((scope) => scope.node.id)
}

/** The logical ID CDK allocates to an element (`Stack.allocateLogicalId`), computed on its path without the parts. */
export const logicalIdWithoutParts = (element: CfnElement): string => uniqueId(pathWithoutParts(element))

/**
 * Keeps the logical ID of a child that CDK named after another construct's path: EventBridge's Lambda target adds
 * its invoke permission to the rule as `AllowEventRule<the function's Names.nodeUniqueId>`, which a part in the
 * function's path changes, and the logical ID with it. The child gets the ID it has with no part in either path.
 */
export function keepLogicalIdNamedAfter(scope: IConstruct, prefix: string, namedAfter: IConstruct): void {
  const child = scope.node.findChild(`${prefix}${Names.nodeUniqueId(namedAfter.node)}`)
  if (!CfnElement.isCfnElement(child)) throw new Error(`${child.node.path} is no CloudFormation element`)
  // Names.nodeUniqueId's path: from below the app, the stack's own id included.
  const namedAfterId = uniqueId(
    namedAfter.node.scopes
      .slice(1)
      .filter((construct) => !(construct instanceof StackPart))
      .map((construct) => construct.node.id),
  )
  child.overrideLogicalId(uniqueId([...pathWithoutParts(scope), `${prefix}${namedAfterId}`]))
}

/**
 * CDK's `makeUniqueId` (aws-cdk-lib `core/lib/private/uniqueid.ts`, not exported): the path's ids without `Default`;
 * one id alone as it is (letters and digits); otherwise the ids without repeats and `Resource`, then the first 8 hex
 * digits of the MD5 of the path, upper-cased. test/infra/logical-ids.test.ts holds it to CDK's own.
 */
function uniqueId(ids: readonly string[]): string {
  const path = ids.filter((id) => id !== 'Default')
  if (path.length === 0) throw new Error('no id to make a logical ID of')
  const alphanumeric = (id: string) => id.replace(/[^A-Za-z0-9]/g, '')
  const [only, ...others] = path
  if (only !== undefined && others.length === 0 && alphanumeric(only).length <= 255) return alphanumeric(only)
  const hash = createHash('md5').update(path.join('/')).digest('hex').slice(0, 8).toUpperCase()
  const human: string[] = []
  for (const id of path) if (!human.at(-1)?.endsWith(id)) human.push(id)
  return (
    human
      .filter((id) => id !== 'Resource')
      .map(alphanumeric)
      .join('')
      .slice(0, 240) + hash
  )
}
