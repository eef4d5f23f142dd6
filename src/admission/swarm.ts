// Advice that works on Swarm. `docker stack deploy` ignores a set of Compose fields
// (SWARM_IGNORED in formats/compose.ts), so a fix that names one of them cannot be followed for a
// stack: here are the fixes that can, and which of them are host settings rather than something
// the stack file can say (harden cannot write those, and does not count them as its failures).

/** A check's fix for a Swarm stack, where its usual fix names a field Swarm ignores. */
export const SWARM_FIX: Readonly<Record<string, { readonly fix: string; readonly host?: true }>> = {
  'no-new-privileges': {
    fix: 'Swarm ignores security_opt: set "no-new-privileges": true in /etc/docker/daemon.json on every node (`rampart check daemon.json` verifies it); dockerd then applies it to every container, service tasks included.',
    host: true,
  },
  'pids-limit': {
    fix: 'deploy.resources.limits.pids (pids_limit is ignored by docker stack deploy).',
  },
  'bounded-restart': {
    fix: 'deploy.restart_policy: {condition: on-failure, max_attempts: 5} (restart is ignored by docker stack deploy).',
  },
};

/** What to do instead of a field `docker stack deploy` ignores. */
export const SWARM_EQUIVALENT: Readonly<Record<string, { readonly fix: string; readonly host?: true }>> = {
  security_opt: {
    fix: 'Remove it from the stack and set the option for every container on each node in /etc/docker/daemon.json ("no-new-privileges": true, "seccomp-profile": FILE).',
    host: true,
  },
  userns_mode: {
    fix: 'Remove it; user namespaces are a node setting ("userns-remap" in /etc/docker/daemon.json).',
    host: true,
  },
  mem_limit: { fix: 'deploy.resources.limits.memory.' },
  cpus: { fix: 'deploy.resources.limits.cpus.' },
  cpu_quota: { fix: 'deploy.resources.limits.cpus.' },
  pids_limit: { fix: 'deploy.resources.limits.pids.' },
  restart: { fix: 'deploy.restart_policy with max_attempts.' },
  devices: {
    fix: 'A Swarm service cannot use a host device on Engine 20.10: run this one with docker compose on the node that has it.',
    host: true,
  },
  network_mode: { fix: 'Remove it: the service gets its own network namespace on an overlay network.' },
  pid: { fix: 'Remove it: the service gets its own PID namespace.' },
  ipc: { fix: 'Remove it: the service gets its own IPC namespace.' },
};
