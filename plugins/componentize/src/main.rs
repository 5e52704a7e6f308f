//! `redress-componentize <core.wasm> <component.wasm>`: wraps a plugin's core module into a
//! component, which is what the host loads.
//!
//! Why not build for `wasm32-wasip2`, which emits a component directly: Rust's standard library
//! for that target imports WASI interfaces (`wasi:io`, `wasi:cli`...) whether the plugin uses
//! them or not, and the host refuses every import it does not provide. Built for
//! `wasm32-unknown-unknown`, the module imports only what the plugin calls (the host's logging),
//! and `wit-component` (the library behind `wasm-tools component new`) turns it into a
//! component using the WIT that wit-bindgen embedded in it.

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        anyhow::bail!("usage: redress-componentize <core.wasm> <component.wasm>");
    };
    let module = std::fs::read(input).with_context(|| format!("{input}: cannot read"))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| format!("{input}: not a module with embedded component type information"))?
        .validate(true)
        .encode()
        .with_context(|| format!("{input}: cannot be made into a component"))?;
    std::fs::write(output, component).with_context(|| format!("{output}: cannot write"))?;
    Ok(())
}
