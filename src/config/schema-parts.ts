// The building blocks of the configuration schema (schema.ts). Every helper keeps its schema's
// literal type: config/infer.ts derives the configuration's TypeScript types from the schema, so
// the schema and the types cannot drift.

export const DURATION_PATTERN = '^(?:\\d+h)?(?:\\d+m)?(?:\\d+s)?(?:\\d+ms)?$';
export const SIZE_PATTERN = '^\\d+(?:\\.\\d+)?\\s*[kKmMgGtT]?[iI]?[bB]?$';

type Default<D> = D extends undefined ? unknown : { readonly default: D };

export const duration = <const D extends string | undefined = undefined>(description: string, dflt?: D) =>
  ({
    type: 'string',
    pattern: DURATION_PATTERN,
    minLength: 2,
    description,
    ...(dflt === undefined ? {} : { default: dflt }),
  }) as {
    readonly type: 'string';
    readonly pattern: string;
    readonly minLength: 2;
    readonly description: string;
  } & Default<D>;

export const size = <const D extends string | undefined = undefined>(description: string, dflt?: D) =>
  ({
    type: 'string',
    pattern: SIZE_PATTERN,
    description,
    ...(dflt === undefined ? {} : { default: dflt }),
  }) as { readonly type: 'string'; readonly pattern: string; readonly description: string } & Default<D>;

export const path = <const D extends string | undefined = undefined>(description: string, dflt?: D) =>
  ({
    type: 'string',
    minLength: 1,
    description,
    ...(dflt === undefined ? {} : { default: dflt }),
  }) as { readonly type: 'string'; readonly minLength: 1; readonly description: string } & Default<D>;

export function obj<const P extends Record<string, object>, const E extends object = object>(
  properties: P,
  extra?: E,
) {
  return { type: 'object', additionalProperties: false, properties, default: {}, ...extra } as {
    readonly type: 'object';
    readonly additionalProperties: false;
    readonly properties: P;
    readonly default: object;
  } & E;
}

export function bucket(description: string, rate: number, burst: number) {
  return obj(
    {
      rate: {
        type: 'number',
        exclusiveMinimum: 0,
        description: 'Requests per second, sustained.',
        default: rate,
      },
      burst: { type: 'integer', minimum: 1, description: 'Requests allowed at once.', default: burst },
    },
    { description },
  );
}

/** A rate-limit class: one bucket per agent (all its tokens together) and one per token. */
export function limits(what: string, rate: number, burst: number) {
  return obj(
    {
      per_agent: bucket(`${what} Per agent (all its tokens together).`, rate, burst),
      per_token: bucket(`${what} Per token.`, rate, burst),
    },
    { description: `Rate limits for ${what.toLowerCase()}` },
  );
}

export function root<const P extends Record<string, object>>(properties: P) {
  return { type: 'object', additionalProperties: false, properties } as const;
}
