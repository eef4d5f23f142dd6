// The TypeScript type of a value the configuration schema accepts, after validation has filled
// in defaults, derived from the schema itself: a key in the schema that the loader does not read,
// or a key the loader reads that the schema lacks, fails the build (load.ts takes every section
// apart with `exhaustive`). It covers the part of JSON Schema the configuration uses: closed
// objects (properties, required, defaults), string maps (additionalProperties), arrays, enums and
// the scalar types. A schema outside that subset infers `never`, which also fails the build.
//
// Written here rather than taken from json-schema-to-ts: the subset is small, and the library's
// general inference over this 500-line schema would cost every build for nothing it adds.

type Scalar<T> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : never;

type Props = Readonly<Record<string, unknown>>;

/** Keys present after validation: listed in `required`, or given a default. */
type Present<P extends Props, R> = {
  [K in keyof P]: K extends R ? K : P[K] extends { readonly default: unknown } ? K : never;
}[keyof P];

type Obj<P extends Props, R> = {
  -readonly [K in Present<P, R>]: Infer<P[K]>;
} & {
  -readonly [K in Exclude<keyof P, Present<P, R>>]?: Infer<P[K]>;
};

type Flat<T> = T extends object ? (T extends readonly unknown[] ? T : { [K in keyof T]: T[K] }) : T;

export type Infer<S> = Flat<
  S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly type: 'array'; readonly items: infer I }
      ? Infer<I>[]
      : S extends { readonly type: 'object'; readonly properties: infer P extends Props }
        ? Obj<P, S extends { readonly required: readonly (infer R)[] } ? R : never>
        : S extends { readonly type: 'object'; readonly additionalProperties: infer A extends object }
          ? Record<string, Infer<A>>
          : S extends { readonly type: infer T }
            ? Scalar<T>
            : never
>;

/** Takes the rest of a section apart: compiles only when every key of it was read. */
export function exhaustive(_rest: Record<string, never>): void {}
