// Which keys name a secret in structured data (log objects, audit details, decision inputs):
// shared by structured redaction and by decision-log masking, so the two never disagree.

const SECRET_KEY =
  /(?:^|[_.-])(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|authorization|auth|cookie|set-cookie|session[_-]?id|signature)(?:$|[_.-])|^(?:password|passwd|secret|token|authorization|cookie)$/i;
const NOT_SECRET_KEY =
  /(?:^|[_.-])(?:type|count|len|length|ttl|expires?(?:_at|_in)?|file|path|url|uri|endpoint|name|id_hint|hash_alg|kind|scope|scopes|max|min)$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) && !NOT_SECRET_KEY.test(key);
}
