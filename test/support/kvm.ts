// Whether a test that needs KVM can run. Machines of one kind differ here: one has /dev/kvm,
// another's kernel offers no KVM device at all (no `kvm` in /proc/misc: no hardware
// virtualization). The second cannot run such a test, and says so by name. Under CI a kernel that
// does offer KVM while /dev/kvm is missing is a set-up mistake (.ci/run makes the node), so that
// fails rather than skips.

import { existsSync, readFileSync } from 'node:fs';

/** The KVM driver's character device: misc major 10, minor 232. */
export const KVM_DEVICE = { major: 10, minor: 232 } as const;

function kernelOffersKvm(): boolean {
  try {
    return /^\s*\d+\s+kvm$/m.test(readFileSync('/proc/misc', 'utf8'));
  } catch {
    return false;
  }
}

/** A skip reason, or false when /dev/kvm is there. */
export function kvmSkip(): string | false {
  if (existsSync('/dev/kvm')) return false;
  if (!kernelOffersKvm()) return "this machine's kernel offers no KVM device (no kvm in /proc/misc)";
  if (process.env['CI'] === 'true')
    throw new Error('CI=true and the kernel offers KVM, but /dev/kvm is missing (.ci/run makes it)');
  return 'no /dev/kvm on this machine (mknod /dev/kvm c 10 232)';
}
