// The scopes an API client may hold: what each route asks for and what a configured client is
// given. One list, for the configuration schema, the server and every component's routes.

export const SCOPES = [
  'admin',
  'audit:read',
  'metrics:read',
  'policy:decide',
  'policy:write',
  'entities:write',
  'admission:review',
  'runs:read',
  'runs:write',
  'runs:kill',
  'egress:control',
  'tokens:issue',
  'tokens:revoke',
  'secrets:read',
  'secrets:write',
  'respond:write',
  'incidents:write',
  'drills:run',
] as const;
export type Scope = (typeof SCOPES)[number];
