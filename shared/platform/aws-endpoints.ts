/**
 * Where an AWS API is reached from a region, as the AWS SDKs find it: the region's partition gives the domain
 * (`amazonaws.com`, `amazonaws.com.cn` in China), and the FIPS setting (`AWS_USE_FIPS_ENDPOINT`, read by every SDK)
 * the `-fips` host. Only the partitions the service is deployed to are known; a region of another is refused, here and
 * at synth (`infra/constructs/aws-endpoints.ts`), rather than sent to a host that is not there. No dependency, so the
 * CDK app reads the same table.
 */

/** A partition the service runs in: its name (`AWS::Partition`) and the DNS suffix of its service endpoints. */
export interface Partition {
  readonly name: 'aws' | 'aws-cn' | 'aws-us-gov'
  readonly dnsSuffix: string
}

/**
 * The regions of each partition, as the SDKs' partitions table (`@aws-sdk/core`, util-endpoints) matches them. A region
 * that matches none is taken as `aws`'s, as the SDKs take it.
 */
const PARTITIONS: readonly (Partition & { readonly regions: RegExp })[] = [
  { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn', regions: /^cn-\w+-\d+$/ },
  { name: 'aws-us-gov', dnsSuffix: 'amazonaws.com', regions: /^us-gov-\w+-\d+$/ },
  { name: 'aws', dnsSuffix: 'amazonaws.com', regions: /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/ },
]

/** Partitions the SDKs know and this service does not run in (isolated and sovereign clouds), by their regions. */
const UNSUPPORTED: readonly { readonly name: string; readonly regions: RegExp }[] = [
  { name: 'aws-iso', regions: /^us-iso-\w+-\d+$/ },
  { name: 'aws-iso-b', regions: /^us-isob-\w+-\d+$/ },
  { name: 'aws-iso-e', regions: /^eu-isoe-\w+-\d+$/ },
  { name: 'aws-iso-f', regions: /^us-isof-\w+-\d+$/ },
  { name: 'aws-eusc', regions: /^eusc-(de)-\w+-\d+$/ },
]

/** The names of the partitions the service runs in (the synth's check of `AWS::Partition`). */
export const SUPPORTED_PARTITIONS: readonly Partition['name'][] = PARTITIONS.map(({ name }) => name).sort()

export class UnsupportedPartitionError extends Error {
  override readonly name = 'UnsupportedPartitionError'
}

/** The partition of a region; throws `UnsupportedPartitionError` for a region of a partition the service does not run in. */
export function partitionOf(region: string): Partition {
  const other = UNSUPPORTED.find(({ regions }) => regions.test(region))
  if (other)
    throw new UnsupportedPartitionError(
      `region ${region} is in the ${other.name} partition; the service runs in ${SUPPORTED_PARTITIONS.join(', ')} only`,
    )
  const { name, dnsSuffix } =
    PARTITIONS.find(({ regions }) => regions.test(region)) ?? (PARTITIONS.at(-1) as Partition)
  return { name, dnsSuffix }
}

/**
 * The https endpoint of an AWS API (`lambda`, `secretsmanager`) in a region: `https://<service>.<region>.<suffix>`,
 * or its FIPS host (`<service>-fips`) when `fips` is set, as the SDKs' endpoint rules build it for these two services.
 */
export function serviceEndpoint(service: string, region: string, fips = false): string {
  const { dnsSuffix } = partitionOf(region)
  return `https://${service}${fips ? '-fips' : ''}.${region}.${dnsSuffix}`
}
