// A tiny container image for tests, made on the spot from Debian's busybox-static with no
// registry: one uncompressed layer holding /bin/busybox and a symlink per applet, written as an
// OCI image layout and packed into the tar that `ctr images import` takes. Everything is written
// under the directory the caller gives (a test's temporary directory).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../deploy/lab/tools/command.ts";

export const busyboxBinary = "/bin/busybox";

export interface OciImage {
  /** The tar archive (oci-layout, index.json, blobs/) to import. */
  readonly archive: string;
  /** The reference the image is imported under (annotation io.containerd.image.name). */
  readonly name: string;
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** Go's GOARCH for this machine: the image config must name it or containerd will not unpack it. */
function ociArchitecture(): string {
  const map: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return map[process.arch] ?? process.arch;
}

/** Moves a file into blobs/sha256/<digest> and describes it. */
function addBlob(blobs: string, file: string, mediaType: string): Descriptor {
  const content = readFileSync(file);
  const hex = createHash("sha256").update(content).digest("hex");
  renameSync(file, join(blobs, hex));
  return { mediaType, digest: `sha256:${hex}`, size: content.length };
}

function addJsonBlob(blobs: string, work: string, value: unknown, mediaType: string): Descriptor {
  const file = join(work, "blob.json");
  writeFileSync(file, JSON.stringify(value));
  return addBlob(blobs, file, mediaType);
}

/**
 * Builds `<dir>/busybox-oci.tar`. The scratch tree used to build it is removed again; only the
 * archive stays in `dir`.
 */
export async function buildBusyboxImage(dir: string, name = "docker.io/library/flannel-ts-busybox:latest"): Promise<OciImage> {
  const work = join(dir, "image-build");
  const rootfs = join(work, "rootfs");
  const layout = join(work, "oci");
  const blobs = join(layout, "blobs", "sha256");
  for (const sub of ["bin", "etc", "proc", "sys", "dev", "tmp"]) mkdirSync(join(rootfs, sub), { recursive: true });
  mkdirSync(blobs, { recursive: true });

  copyFileSync(busyboxBinary, join(rootfs, "bin", "busybox"));
  const { stdout } = await run([busyboxBinary, "--list"]);
  for (const applet of stdout.split("\n")) {
    if (applet === "" || applet === "busybox" || applet.includes("/")) continue;
    symlinkSync("busybox", join(rootfs, "bin", applet));
  }
  writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/:/bin/sh\n");
  writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\n");

  // A deterministic tar (sorted, owned by root, epoch mtimes): the same busybox gives the same digest.
  const layerTar = join(work, "layer.tar");
  await run(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", rootfs, "-cf", layerTar, "."]);
  const layer = addBlob(blobs, layerTar, "application/vnd.oci.image.layer.v1.tar");

  const config = addJsonBlob(
    blobs,
    work,
    {
      architecture: ociArchitecture(),
      os: "linux",
      config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: [layer.digest] },
      history: [{ created_by: "flannel-ts test/support/oci-image.ts" }],
    },
    "application/vnd.oci.image.config.v1+json",
  );
  const manifest = addJsonBlob(
    blobs,
    work,
    { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: [layer] },
    "application/vnd.oci.image.manifest.v1+json",
  );
  const tag = name.slice(name.lastIndexOf(":") + 1);
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag } }],
    }),
  );
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));

  const archive = join(dir, "busybox-oci.tar");
  await run(["tar", "-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"]);
  rmSync(work, { recursive: true, force: true });
  return { archive, name };
}
