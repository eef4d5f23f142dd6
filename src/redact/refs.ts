// A reference to a secret is not a secret. Code and configuration name where a secret comes from
// (the environment, a file, a template, a vault, a variable) far more often than they hold one,
// and flagging those teaches people to ignore the scanner. These tell a value that points at a
// secret from a value that is one; generic rules (a key named like a password) consult them.

/**
 * Shell, Compose and template references: $VAR, ${VAR}, $(cmd), `cmd`, Compose's escaped $$VAR
 * and $$(cmd), Windows %VAR%, Ruby and Groovy #{...}, ERB <%= %>, Jinja and Go {{ }}.
 */
export function isReference(s: string): boolean {
  return /^(?:\$\$?[({A-Za-z_]|`|%[A-Za-z_]\w*%$|#\{|<%|\{\{)/.test(s);
}

// An identifier path (a.b.c) whose segments read as names: letters, underscores, a numeric tail.
const SEGMENT = '[A-Za-z_$][A-Za-z_$]*\\d*';
const PATH = `${SEGMENT}(?:\\.${SEGMENT})*`;
/** A call or an index: os.environ.get(, config[, pf.read(). */
const CALL = new RegExp(`^${PATH}[(\\[]`);
/** A member path: process.env.DB_PASSWORD, settings.DATABASE_PASSWORD, var.db_password. */
const MEMBER = new RegExp(`^${SEGMENT}(?:\\.${SEGMENT})+[),;]*$`);
/** A bare name closing a call's arguments: connect(..., password=password). */
const ARGUMENT = new RegExp(`^${SEGMENT}\\)[),;]*$`);

/**
 * Whether an unquoted value is an expression in code rather than a literal: a string literal in
 * code is quoted, so an unquoted call, index or member path is code reading the secret from
 * somewhere. (A quoted value is a literal, whatever it looks like.)
 */
export function isCode(s: string): boolean {
  return CALL.test(s) || MEMBER.test(s) || ARGUMENT.test(s);
}
