//! Links the plugin with a 64 KiB stack instead of Rust's 1 MiB for wasm32: the plugin's stack,
//! data and heap then sit in the first pages of its memory, which the host keeps resident
//! between decisions, and an instantiation costs about 12 µs instead of 19 µs (measured with
//! `cargo bench --bench engines`; see `KEEP_RESIDENT_BYTES` in host/redress/src/rules/engine/wasm/limits.rs).
//! The rules use little stack; a plugin that needs more traps inside its own memory, which the
//! host contains like any other trap.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=-zstack-size=65536");
    }
}
