// Drill agents: a drill (`rampart drill`) runs its scenarios as agents named `drill:<id>:<name>`,
// a name the control plane gives only while that drill is active. Every component that acts
// beyond a run reads the name the same way: response confines a drill's actions to the drill's
// own runs and agent, notifications stay quiet, incidents keep drills out of their statistics.

/** The prefix of every drill agent's name. */
export const DRILL_PREFIX = 'drill:';

const DRILL_ID = /^[a-z0-9]{6,32}$/;

/** The drill an agent belongs to, or undefined for every other agent. */
export function drillOf(agent: string | undefined): string | undefined {
  if (!agent || !agent.startsWith(DRILL_PREFIX)) return undefined;
  const end = agent.indexOf(':', DRILL_PREFIX.length);
  const id = agent.slice(DRILL_PREFIX.length, end < 0 ? undefined : end);
  return DRILL_ID.test(id) ? id : undefined;
}

/** Whether an agent's name is in the drills' namespace (well-formed or not: a malformed one is refused, never trusted). */
export function isDrillName(agent: string | undefined): boolean {
  return agent !== undefined && agent.startsWith(DRILL_PREFIX);
}

/** Whether a drill id is well-formed. */
export function isDrillId(id: string): boolean {
  return DRILL_ID.test(id);
}
