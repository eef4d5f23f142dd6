// The shapes the policy decision point works with: decision inputs, decisions, entities.

/** A reference to a principal or resource, as callers send it. */
export interface EntityRef {
  readonly type: string;
  readonly id: string;
  readonly [field: string]: unknown;
}

/** What a caller asks: may `principal` do `action` to `resource`, in `context`? */
export interface DecisionInput {
  readonly principal: EntityRef;
  readonly action: string;
  readonly resource: EntityRef;
  readonly context: Readonly<Record<string, unknown>>;
}

/**
 * allow: a rule allowed and no rule denied. deny: a deny rule matched, or no rule allowed.
 * error: a deny rule could not be evaluated, or the input was unusable: denied, and said so.
 */
export type DecisionOutcome = 'allow' | 'deny' | 'error';

export interface Decision {
  readonly decision_id: string;
  readonly allow: boolean;
  readonly outcome: DecisionOutcome;
  readonly reasons: readonly string[];
  /** The rule that decided (absent for "no rule allows"). */
  readonly rule?: string;
  /** Content hash of the policy set that decided. */
  readonly policy_version: string;
  /** Rules that failed to evaluate, with why. */
  readonly errors?: readonly { readonly rule: string; readonly message: string }[];
  /** Where the decision came from: the built-in engine, an external OPA, or the decision cache. */
  readonly source: 'engine' | 'cache' | 'opa';
}

export const NO_RULE_ALLOWS = 'no rule allows';

/** How decisions reach the audit log (see policy.decision_log in docs/configuration.md). */
export type DecisionLogMode = 'async' | 'durable' | 'off';

/**
 * The decision kinds Rampart's own components and callers use, with what each expects. Policies
 * may use other action names too; these are the documented, first-class ones.
 */
export const ACTIONS = {
  'task.run':
    'Task authorization: may this agent run this task with these capabilities? resource: {type: task, id, namespace?, capabilities?}; context.capabilities: the capabilities requested.',
  'message.send':
    'Communication scope: may agent A send messages to agent B? resource: {type: agent, id} (the recipient).',
  'secret.read':
    'Secret access: may this agent read this secret (or any secret of this vault)? resource: {type: secret, id, vault?} or {type: vault, id}.',
  'delegation.request':
    'Delegation approval: may this agent delegate work outside with these capabilities? resource: {type: delegate, id} (the external party); context.capabilities: requested.',
  'namespace.read':
    "Cross-namespace access: may this agent read data in another agent's namespace? resource: {type: namespace, id} or any resource with a namespace.",
  'egress.connect':
    'Egress: may this agent open a connection to this host and port? resource: {type: host, id: host name, host, port}.',
  'egress.request':
    'Egress requests to an inspected host: may this agent send this method to this path? resource: {type: host, id: host name}; context.method, context.path (with the query), context.run.',
  'secret.use':
    "A secret the control plane uses on an agent's behalf, never handing it over (the git gate's upstream credential, an egress injection): resource: {type: secret, id, vault}; context.purpose (gitgate, egress), context.host and context.path for egress.",
} as const;

export type ActionName = keyof typeof ACTIONS;
