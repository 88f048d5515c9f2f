// Builds flanneld's program, dist/flanneld/: agent/main.ts and everything it imports, npm
// packages included, as minified ES modules split into chunks. A per-node agent pays in memory
// for every byte of source it loads (V8 keeps the source and the compiled bytecode of every
// function it runs); one minified bundle is far smaller than the packages' own files (measured:
// importing @kubernetes/client-node costs 51 MiB RSS from node_modules, 27 MiB bundled).
//
// Code splitting keeps the modes apart: agent/subnet/open-manager.ts imports the etcd client and
// the Kubernetes client dynamically, so each lands in its own chunk and a flanneld in etcd mode
// never loads the Kubernetes one (nor kube mode etcd's). main.js stays the tiny entry point that
// checks the Node version before importing anything (agent/main.ts).
//
// Two things bundling has to supply:
// - `require`: the CommonJS packages (etcd3, gRPC, protobufjs, winston) require Node's built-ins,
//   which an ES module bundle can only do through a require made by createRequire (banner);
// - etcd's .proto files: etcd3 loads `${__dirname}/../proto/rpc.proto` when it is imported, and a
//   bundle has no __dirname of the package; the files are copied to dist/flanneld/proto/ and that
//   one expression is pointed at them (gRPC's own __dirname uses are for server-side channelz and
//   ORCA, which a client never calls).
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";

const chunkUrl = "__flannelChunkUrl";
const etcdProtoExpression = "`${__dirname}/../proto/rpc.proto`";

/** Points etcd3's proto path at dist/flanneld/proto/, relative to the chunk that holds the code. */
function etcdProtoPlugin(chunkDepth: number): Plugin {
  return {
    name: "etcd3-proto-path",
    setup(build) {
      build.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        if (!source.includes(etcdProtoExpression)) throw new Error(`${args.path} no longer loads ${etcdProtoExpression}: check how etcd3 finds its .proto files`);
        const up = "../".repeat(chunkDepth);
        // Not import.meta itself: esbuild would then take the file for an ES module and stop
        // wrapping it as CommonJS. The banner gives every chunk its own URL under this name.
        return { contents: source.replace(etcdProtoExpression, `new URL("${up}proto/rpc.proto", ${chunkUrl}).pathname`), loader: "js" };
      });
    },
  };
}

export async function buildFlanneld(projectRoot: string, outdir: string): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: projectRoot,
    entryPoints: { main: "agent/main.ts" },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node24",
    minify: true,
    // Chunks sit one level below main.js (etcdProtoPlugin's depth).
    chunkNames: "chunks/[name]-[hash]",
    // Third-party licence comments go to .LEGAL.txt files beside the code, not into loaded source.
    legalComments: "external",
    // Minified stack traces are read back through the maps with NODE_OPTIONS=--enable-source-maps;
    // without that flag Node never loads them, so they cost no memory.
    sourcemap: "linked",
    banner: { js: `import{createRequire as __flannelCreateRequire}from"node:module";const ${chunkUrl}=import.meta.url,require=__flannelCreateRequire(${chunkUrl});` },
    plugins: [etcdProtoPlugin(1)],
    // Native addons cannot be bundled: raw-socket (peer probes) is loaded from node_modules when
    // the probes start; dgram-native (udp) through createRequire in backends/udp/dgram-native.ts.
    external: ["raw-socket"],
    logLevel: "error",
  });
  const protoSource = join(projectRoot, "node_modules/etcd3/proto");
  mkdirSync(join(outdir, "proto"), { recursive: true });
  for (const file of readdirSync(protoSource)) if (file.endsWith(".proto")) copyFileSync(join(protoSource, file), join(outdir, "proto", file));
}
