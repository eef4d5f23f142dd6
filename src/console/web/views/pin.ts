// The audit verifier key the operator pinned in this browser (localStorage): the console verifies
// checkpoints with it, never with a key the server hands over at the time.

import { pinKey, type PinnedKey } from '../verify.js';

const KEY = 'rampart.console.audit-vkey';

export async function pinned(): Promise<PinnedKey | undefined> {
  const v = localStorage.getItem(KEY);
  return v ? pinKey(v) : undefined;
}

export async function pin(vkey: string): Promise<PinnedKey> {
  const k = await pinKey(vkey);
  localStorage.setItem(KEY, k.vkey);
  return k;
}

export function unpin(): void {
  localStorage.removeItem(KEY);
}
