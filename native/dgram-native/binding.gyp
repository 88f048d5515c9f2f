{
  "targets": [
    {
      "target_name": "dgram_native",
      "sources": [
        "src/addon.cc",
        "src/coalesce.cc",
        "src/data_plane.cc",
        "src/ipv4.cc",
        "src/peer_table.cc",
        "src/segment.cc",
        "src/tun_device.cc",
        "src/tun_to_udp.cc",
        "src/udp_batch.cc",
        "src/udp_socket.cc",
        "src/udp_to_tun.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
