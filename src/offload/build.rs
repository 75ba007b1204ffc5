//! Compiles the offload XDP program (bpf/offload.c) into OUT_DIR with clang; the crate embeds
//! the object. Only clang is needed: the program brings its own kernel definitions.

use std::env;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::{exit, Command};

const SOURCES: [&str; 5] = ["offload.c", "bpf_defs.h", "headers.h", "csum.h", "ol_abi.h"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("offload.o");
    for f in SOURCES {
        println!("cargo:rerun-if-changed=bpf/{f}");
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());

    let result = Command::new(&clang)
        // -g: the maps are BTF-defined, and clang emits BTF only with debug information.
        // -mcpu=v3: 32-bit jumps and ALU; every kernel with DEVMAP_HASH (5.4) has them.
        .args([
            "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror", "-c",
        ])
        .arg(manifest.join("bpf/offload.c"))
        .arg("-o")
        .arg(&out)
        .status();
    match result {
        Ok(status) if status.success() => {}
        Ok(status) => {
            eprintln!("xdp-offload: `{clang}` failed to compile bpf/offload.c ({status})");
            exit(1);
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!(
                "xdp-offload: `{clang}` not found: the XDP offload program is C compiled by \
                 clang at build time. Install it with `netns-tests/install-deps` (as root; \
                 it installs Debian's `clang`), or point the CLANG environment variable at one."
            );
            exit(1);
        }
        Err(e) => {
            eprintln!("xdp-offload: cannot run `{clang}`: {e}");
            exit(1);
        }
    }
}
