// The compiled addon. backends/udp/dgram-native.ts is its only user and owns the typed API.
"use strict";
module.exports = require("./build/Release/dgram_native.node");
