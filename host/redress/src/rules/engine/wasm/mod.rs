//! WebAssembly plugins: rulesets shipped by vendors as components of the `redress:ruleset`
//! world (`plugins/wit/<version>/`), run by wasmtime under the same decision contract as the
//! Rhai rulesets.
//!
//! Sandbox: the only imports a plugin gets are `redress:ruleset/host` (logging) and, from
//! interface 1.1.0, `redress:ruleset/calendar` (working-day questions answered from the
//! calendars in force for the decision); a component that imports anything else (WASI files,
//! sockets, clocks, randomness...) is refused at load time with the import named. Every decision runs in a fresh instance (no state carries over
//! from one case to the next) drawn from a pooling allocator, under a fuel budget (a
//! deterministic bound on instructions, like Rhai's operation limit), a memory cap enforced by
//! a `ResourceLimiter`, table and instance caps and a stack limit, with size caps on what goes
//! in and what comes out. Fuel alone does not bound time (host calls and the host's own work
//! on a plugin's behalf cost no instructions), so every call also has a wall-clock deadline:
//! one background thread advances the engine's epoch every `EPOCH_TICK`, and a store whose
//! deadline has passed traps at its next loop header or function entry. The logging import is
//! charged fuel per call and per byte it reads, and reads at most `LOG_MESSAGE_CHARS` of a
//! message; a calendar call is charged per call and per day it classifies. A trap, the fuel, the time or the memory running out, an error the plugin returns
//! and an output that fails validation all become the same recorded rule failure as a failing
//! Rhai rule. A tenant holds at most its share of the instance pool at once, so that one
//! tenant's slow plugin cannot starve another's.
//!
//! Versioning: each released interface version has its own frozen WIT folder and its own
//! bindings file beside this one (`v1_0_0.rs`: bindings, host glue and conversions;
//! `v1_1_0.rs`: its bindings, the calendar import, 1.0.0's unchanged types and conversions;
//! `v1_2_0.rs`: the `additions` interface (repeat candidates and open pauses in, `merge-into`
//! and `end-pause` out) over 1.0.0's types and 1.1.0's imports); the
//! limits and the instance pool are in `limits.rs`. The host reads the version a component
//! exports (`redress:ruleset/decider@<version>`), refuses a version it has no bindings for,
//! naming both, and otherwise keeps the matching bindings (`Bindings`) and dispatches every
//! call by them.

use std::sync::OnceLock;

use redress_domain::{
    Case,
    contract::{Decision, Trigger},
};
use wasmtime::{
    Engine, Store,
    component::{Component, Linker, types::ComponentItem},
};

use self::limits::{
    Limits, POOLED_INSTANCES, Pool, classify_trap, engine_config, spawn_epoch_ticker,
};
pub use self::{
    limits::{EPOCH_TICK, WasmLimits},
    v1_0_0::{Input, PluginSettings},
};
use crate::rules::{
    RuleContext, RuleError, artifact_cache::ArtifactCache, engine::calendar::CalendarQuestions,
    manifest::Manifest,
};

mod limits;
mod v1_0_0;
mod v1_1_0;
mod v1_2_0;

/// The interface versions this host has bindings for.
pub const SUPPORTED_INTERFACES: &[&str] = &[v1_0_0::VERSION, v1_1_0::VERSION, v1_2_0::VERSION];

/// The interfaces a component built for `version` may import (its own version's only).
fn provided_imports(version: &str) -> Vec<String> {
    match version {
        v1_1_0::VERSION => v1_1_0::IMPORTS.iter().map(|i| (*i).to_owned()).collect(),
        v1_2_0::VERSION => v1_2_0::IMPORTS.iter().map(|i| (*i).to_owned()).collect(),
        _ => vec![
            format!("redress:ruleset/host@{version}"),
            format!("redress:ruleset/types@{version}"),
        ],
    }
}

/// The engine version recorded with every decision a plugin makes.
pub const ENGINE_VERSION: &str = "wasmtime 48";

/// The shared wasmtime engine and its configuration.
pub struct WasmEngine {
    engine: Engine,
    linker: Linker<PluginState>,
    limits: WasmLimits,
    /// Instances currently drawn from the pool, to fail cleanly rather than wait.
    pool: Pool,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What the pool accounting calls the instances that `load` uses to ask a plugin to describe
/// itself, which no tenant's decision is waiting for.
const LOADING: &str = "(loading)";

/// What a store holds while one decision runs.
struct PluginState {
    limits: Limits,
    log_lines: u32,
    max_log_lines: u32,
    plugin: String,
    /// What the calendar import (1.1.0) answers from: the calendars in force for the decision.
    calendars: CalendarQuestions,
}

/// A compiled plugin, ready to instantiate.
#[derive(Clone)]
pub struct WasmPlugin {
    bindings: Bindings,
    component: Component,
    /// What the plugin says of itself.
    pub descriptor: Descriptor,
}

impl std::fmt::Debug for WasmPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPlugin")
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

/// What a plugin says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub id: String,
    pub version: String,
    pub sector: String,
    pub interface_version: String,
}

/// A plugin's answer, in the types of the interface it was built for.
enum Answer {
    /// 1.0.0 and 1.1.0 (the same `decision`).
    V1_0(
        Result<
            v1_0_0::redress::ruleset::types::Decision,
            v1_0_0::redress::ruleset::types::DecideError,
        >,
    ),
    V1_2(
        Result<
            v1_2_0::redress::ruleset::additions::Decision12,
            v1_0_0::redress::ruleset::types::DecideError,
        >,
    ),
}

/// A linked plugin, by the interface version it was built for: the one place a call picks the
/// bindings of that version.
#[derive(Clone)]
enum Bindings {
    V1_0_0(v1_0_0::RulesetPre<PluginState>),
    V1_1_0(v1_1_0::RulesetPre<PluginState>),
    V1_2_0(v1_2_0::RulesetPre<PluginState>),
}

impl Bindings {
    /// Links `component` with the bindings of interface `version`.
    fn link(
        linker: &Linker<PluginState>,
        component: &Component,
        version: &str,
    ) -> wasmtime::Result<Bindings> {
        match version {
            v1_0_0::VERSION => v1_0_0::link(linker, component).map(Bindings::V1_0_0),
            v1_1_0::VERSION => v1_1_0::link(linker, component).map(Bindings::V1_1_0),
            v1_2_0::VERSION => v1_2_0::link(linker, component).map(Bindings::V1_2_0),
            other => Err(wasmtime::Error::msg(format!(
                "this host has no bindings for interface version {other}"
            ))),
        }
    }
}

impl WasmEngine {
    /// The process-wide engine: one wasmtime `Engine` (and its instance pool) for all plugins.
    pub fn shared() -> Result<&'static WasmEngine, RuleError> {
        Self::shared_with(WasmLimits::default())
    }

    /// The process-wide engine, created with `limits` if this is the first use (the server
    /// calls it with its configured limits before loading any plugin).
    pub fn shared_with(limits: WasmLimits) -> Result<&'static WasmEngine, RuleError> {
        static SHARED: OnceLock<Result<WasmEngine, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| WasmEngine::new(limits).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| RuleError::Plugin(format!("the WebAssembly engine is unavailable: {e}")))
    }

    pub fn new(limits: WasmLimits) -> Result<WasmEngine, RuleError> {
        let engine_error = |e: wasmtime::Error| RuleError::Plugin(format!("{e:#}"));
        let engine = Engine::new(&engine_config(&limits)).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        v1_0_0::add_to_linker(&mut linker).map_err(engine_error)?;
        v1_1_0::add_to_linker(&mut linker).map_err(engine_error)?;
        v1_2_0::add_to_linker(&mut linker).map_err(engine_error)?;
        spawn_epoch_ticker(&engine)?;
        Ok(WasmEngine {
            engine,
            linker,
            pool: Pool::new(POOLED_INSTANCES, limits.instances_per_tenant),
            limits,
        })
    }

    pub fn limits(&self) -> &WasmLimits {
        &self.limits
    }

    /// Compiles a component, checks its imports and interface version, and asks it to
    /// describe itself.
    pub fn load(&self, wasm: &[u8], origin: &str) -> Result<WasmPlugin, RuleError> {
        self.load_cached(wasm, origin, None)
    }

    /// `load`, taking the compiled code from `cache` when this host compiled it before.
    pub fn load_cached(
        &self,
        wasm: &[u8],
        origin: &str,
        cache: Option<&ArtifactCache>,
    ) -> Result<WasmPlugin, RuleError> {
        let refuse = |message: String| RuleError::Compile {
            origin: origin.to_owned(),
            message,
        };
        let compile = || {
            Component::new(&self.engine, wasm)
                .map_err(|e| refuse(format!("not a WebAssembly component: {e:#}")))
        };
        let component = match cache {
            Some(cache) => cache.get_or_compile(&self.engine, wasm, compile)?.0,
            None => compile()?,
        };
        let ty = component.component_type();
        let mut version = None;
        for (name, _) in ty.exports(&self.engine) {
            if let Some(v) = name.strip_prefix("redress:ruleset/decider@") {
                version = Some(v.to_owned());
            }
        }
        let version = version.ok_or_else(|| {
            refuse("the component does not export `redress:ruleset/decider`".into())
        })?;
        // The world exports the decider and nothing else: anything more is code the host never
        // asked for (a second entry point, a backdoor for another host), refused by name.
        let decider = format!("redress:ruleset/decider@{version}");
        let extra: Vec<String> = ty
            .exports(&self.engine)
            .filter(|(name, _)| *name != decider)
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if !extra.is_empty() {
            return Err(refuse(format!(
                "the plugin exports {} beyond the redress:ruleset world (only `{decider}`)",
                extra.join(", ")
            )));
        }
        if !SUPPORTED_INTERFACES.contains(&version.as_str()) {
            return Err(refuse(format!(
                "the plugin was built for interface redress:ruleset@{version}; this host supports {}",
                SUPPORTED_INTERFACES
                    .iter()
                    .map(|v| format!("redress:ruleset@{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let provided = provided_imports(&version);
        let refused: Vec<String> = ty
            .imports(&self.engine)
            .filter(|(name, item)| {
                let provided = matches!(item.ty, ComponentItem::ComponentInstance(_))
                    && provided.iter().any(|p| p == name);
                !provided
            })
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if !refused.is_empty() {
            return Err(refuse(format!(
                "the plugin imports {}, which this host does not provide (a plugin gets no file \
                 system, network, environment, clock or randomness)",
                refused.join(", ")
            )));
        }
        let bindings = Bindings::link(&self.linker, &component, &version)
            .map_err(|e| refuse(format!("cannot be linked: {e:#}")))?;
        let mut plugin = WasmPlugin {
            bindings,
            component,
            descriptor: Descriptor {
                id: String::new(),
                version: String::new(),
                sector: String::new(),
                interface_version: version,
            },
        };
        // Exports whose names match but whose types do not fail here, at the first
        // instantiation: a plugin built from another revision of the interface.
        let described = self.describe(&plugin, origin).map_err(|e| {
            if let RuleError::Limit(_) | RuleError::Capacity(_) = e {
                return refuse(format!("describe failed: {e}"));
            }
            refuse(format!(
                "does not work as a redress:ruleset@{} plugin (its exports do not have the \
                 interface's types, or describe failed): {e}",
                plugin.descriptor.interface_version
            ))
        })?;
        if described.interface_version != plugin.descriptor.interface_version {
            return Err(refuse(format!(
                "the plugin says it was built for interface {}, but it exports redress:ruleset/decider@{}",
                described.interface_version, plugin.descriptor.interface_version
            )));
        }
        plugin.descriptor = described;
        Ok(plugin)
    }

    /// Writes a plugin's compiled code to `cache` (if it is not there yet), once the package
    /// it belongs to is accepted: a refused package leaves nothing on disk.
    pub fn keep_artifact(&self, plugin: &WasmPlugin, wasm: &[u8], cache: &ArtifactCache) {
        cache.keep(&self.engine, wasm, &plugin.component);
    }

    /// The names of the artifacts `wasm` files are cached under, for eviction.
    pub fn artifact_name(&self, wasm: &[u8]) -> String {
        ArtifactCache::name(&self.engine, wasm)
    }

    /// Runs `call` (which instantiates the plugin in the store it is given, and calls it) in a
    /// fresh store under the limits, holding one of `tenant`'s pool slots; the calendar import
    /// answers from `calendars`.
    fn run<T>(
        &self,
        name: &str,
        tenant: &str,
        calendars: CalendarQuestions,
        call: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<T>,
    ) -> Result<T, RuleError> {
        let _slot = self.pool.take(tenant)?;
        let mut store = Store::new(
            &self.engine,
            PluginState {
                limits: Limits {
                    memory_bytes: self.limits.memory_bytes,
                    table_elements: self.limits.table_elements,
                    instances: self.limits.instances,
                    memory_refused: false,
                },
                log_lines: 0,
                max_log_lines: self.limits.max_log_lines,
                plugin: name.to_owned(),
                calendars,
            },
        );
        store.limiter(|state| &mut state.limits);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| RuleError::Plugin(format!("{e:#}")))?;
        // One tick more than the bound: the current tick may be about to end.
        let ticks = self.limits.timeout.as_nanos() / EPOCH_TICK.as_nanos() + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        let outcome = call(&mut store);
        outcome
            .map_err(|e| classify_trap(&e, store.data().limits.memory_refused, self.limits.timeout))
    }

    /// Instantiates a plugin and asks it to describe itself: the fixed cost of every call.
    /// No calendar is in force while a plugin describes itself: every calendar id is unknown.
    pub fn describe(&self, plugin: &WasmPlugin, name: &str) -> Result<Descriptor, RuleError> {
        let calendars = CalendarQuestions::default();
        self.run(name, LOADING, calendars, |store| match &plugin.bindings {
            Bindings::V1_0_0(pre) => v1_0_0::describe(pre, store),
            Bindings::V1_1_0(pre) => v1_1_0::describe(pre, store),
            Bindings::V1_2_0(pre) => v1_2_0::describe(pre, store),
        })
    }

    /// Asks a plugin to decide.
    pub fn decide(
        &self,
        plugin: &WasmPlugin,
        manifest: &Manifest,
        settings: &PluginSettings,
        trigger: &Trigger,
        case: &Case,
        ctx: &RuleContext<'_>,
    ) -> Result<Decision, RuleError> {
        // 1.1.0's and 1.2.0's types are 1.0.0's: one conversion of the case for all three;
        // 1.2.0 adds what its `additions` interface carries.
        let input = v1_0_0::Input::new(trigger, case, ctx, manifest, settings)?;
        let additions = match &plugin.bindings {
            Bindings::V1_2_0(_) => Some(v1_2_0::additions(case)),
            _ => None,
        };
        let added_bytes = additions.as_ref().map_or(0, |(_, bytes)| *bytes);
        self.check_input_size(input.text_bytes.saturating_add(added_bytes))?;
        let reference = format!("{}@{}", manifest.id, manifest.version);
        let calendars = CalendarQuestions::new(ctx.calendars, &manifest.calendar);
        let answer = self.run(&reference, &case.tenant, calendars, |store| {
            Ok(match (&plugin.bindings, &additions) {
                (Bindings::V1_0_0(pre), _) => Answer::V1_0(v1_0_0::decide(pre, store, &input)?),
                (Bindings::V1_1_0(pre), _) => Answer::V1_0(v1_1_0::decide(pre, store, &input)?),
                (Bindings::V1_2_0(pre), Some((added, _))) => {
                    Answer::V1_2(v1_2_0::decide(pre, store, &input, added)?)
                }
                (Bindings::V1_2_0(_), None) => {
                    return Err(wasmtime::Error::msg("1.2.0 additions were not computed"));
                }
            })
        })?;
        match answer {
            Answer::V1_0(answer) => {
                v1_0_0::to_decision(answer.map_err(v1_0_0::declined)?, manifest)
            }
            Answer::V1_2(answer) => {
                v1_2_0::to_decision(answer.map_err(v1_0_0::declined)?, manifest)
            }
        }
    }

    /// The cap on the text handed to a plugin.
    fn check_input_size(&self, text_bytes: usize) -> Result<(), RuleError> {
        if text_bytes > self.limits.max_input_bytes {
            return Err(RuleError::Limit(format!(
                "the case is too large to hand to a plugin ({} bytes of text; at most {})",
                text_bytes, self.limits.max_input_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Finding 6 of the sandbox review: a component exporting more than the world's decider was
    /// accepted.
    #[test]
    fn a_component_with_extra_exports_is_refused_naming_them() {
        use wasm_encoder::{ComponentExportKind, ComponentExportSection, ComponentInstanceSection};
        let none = || std::iter::empty::<(&str, ComponentExportKind, u32)>();
        let mut component = wasm_encoder::Component::new();
        let mut instances = ComponentInstanceSection::new();
        instances.export_items(none()).export_items(none());
        component.section(&instances);
        let mut exports = ComponentExportSection::new();
        exports
            .export(
                "redress:ruleset/decider@1.0.0",
                ComponentExportKind::Instance,
                0,
                None,
            )
            .export(
                "evil:backdoor/run@1.0.0",
                ComponentExportKind::Instance,
                1,
                None,
            );
        component.section(&exports);
        let bytes = component.finish();
        let error = WasmEngine::shared()
            .unwrap()
            .load(&bytes, "extra.wasm")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("exports `evil:backdoor/run@1.0.0` beyond the redress:ruleset world"),
            "{error}"
        );
    }
}
