// The one place where the text iproute2 and the kernel print is interpreted. Callers branch on
// the outcomes these functions derive (already gone, already exists, no such device), never on
// message text, so a wording change in a new iproute2 is fixed here and nowhere else.

// A delete whose object is not there: ESRCH for routes, ENOENT for neighbours and FDB entries,
// EADDRNOTAVAIL (or an extack "Address not found") for addresses, and a missing device for
// anything addressed by device — the object went away with its device.
const absentPatterns: readonly RegExp[] = [
  /No such process/,
  /No such file or directory/,
  /Cannot assign requested address/,
  /address not found/i,
  /Cannot find device/,
  /Device ".*" does not exist/,
];

/** True when a failed delete failed only because its object is already absent. */
export function isAbsentMessage(message: string): boolean {
  return absentPatterns.some((pattern) => pattern.test(message));
}

/** True when a create failed only because the object is already there (EEXIST; e.g. a lost race). */
export function isExistsMessage(message: string): boolean {
  return /File exists/.test(message);
}

/** True when a command failed because the device it names does not exist. */
export function isNoDeviceMessage(message: string): boolean {
  return /Cannot find device|Device ".*" does not exist/.test(message);
}

/**
 * True when the kernel said ENODEV for a line naming a device. A long-lived `ip -batch` caches
 * name → index, so after a device is deleted and created again under the same name, lines
 * naming it reach the kernel with the old index and fail this way until the process is replaced.
 */
export function isStaleDeviceMessage(message: string): boolean {
  return /No such device/.test(message);
}

/** procps's `sysctl` on a key that does not exist: "cannot stat /proc/sys/…: No such file or directory". */
export function isAbsentSysctlMessage(message: string): boolean {
  return /cannot stat|No such file or directory/.test(message);
}
