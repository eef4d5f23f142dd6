// Path and branch globs, compiled once when the settings load: `*` is any characters but `/`,
// `?` one of them, `**` any characters (`**/` also none at all, so `**/package.json` names the
// root's too). A pattern matches the whole path. Linear: a compiled pattern is a RegExp with no
// nested quantifiers.

const SPECIAL = /[.+^${}()|[\]\\]/g;

/** One glob as a RegExp matching the whole string. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(SPECIAL, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A set of globs: which one (if any) matches a path. */
export class GlobSet {
  private readonly compiled: readonly { glob: string; re: RegExp }[];
  constructor(globs: readonly string[]) {
    this.compiled = globs.map((glob) => ({ glob, re: globRegExp(glob) }));
  }
  get size(): number {
    return this.compiled.length;
  }
  match(path: string): string | undefined {
    for (const g of this.compiled) if (g.re.test(path)) return g.glob;
    return undefined;
  }
}
