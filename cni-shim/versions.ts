// CNI spec versions: which ones the plugin speaks (Flannel's, through the skel: version.All of
// containernetworking/cni v1.3.0), which operations each allows, what VERSION answers, and which
// version the delegate is given.

export const supportedCniVersions = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type CniVersion = (typeof supportedCniVersions)[number];
export const latestCniVersion: CniVersion = "1.1.0";

export function isSupportedCniVersion(version: string): version is CniVersion {
  return (supportedCniVersions as readonly string[]).includes(version);
}

/** The list is in ascending order, so comparing positions compares versions. */
export function cniVersionAtLeast(version: CniVersion, minimum: CniVersion): boolean {
  return supportedCniVersions.indexOf(version) >= supportedCniVersions.indexOf(minimum);
}

/**
 * The VERSION answer. Since spec 1.0.0 its `cniVersion` is "the value of cniVersion specified on
 * input"; before that it was "the version in use for this output". Both are met by echoing a
 * version we support; without one (no input, garbage, a version we do not know) we answer in
 * the latest. Clients only need `supportedVersions` (libcni's decoder reads nothing else).
 */
export function formatVersionResult(requested: string | undefined): string {
  const cniVersion = requested !== undefined && isSupportedCniVersion(requested) ? requested : latestCniVersion;
  return `${JSON.stringify({ cniVersion, supportedVersions: supportedCniVersions })}\n`;
}

/**
 * The cniVersion written into the delegate config. The bridge and host-local plugins that
 * distributions ship (Debian bookworm: containernetworking-plugins 1.1.1) stop at 1.0.0 and
 * refuse 1.1.0 with "incompatible CNI versions". A 1.1.0 ADD result has exactly the 1.0.0
 * format (1.1.0 only added optional fields and the GC/STATUS verbs, which are never
 * delegated), so a 1.1.0 request runs the delegate at 1.0.0 and relabels its result (see
 * hand-off.ts). Newer plugins accept 1.0.0 too, so this holds whatever is installed.
 */
export function delegateCniVersion(requested: string): string {
  return requested === "1.1.0" ? "1.0.0" : requested;
}
