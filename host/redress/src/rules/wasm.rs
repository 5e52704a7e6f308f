//! WebAssembly plugins: rulesets shipped by vendors as components of the `redress:ruleset`
//! world (`plugins/wit/<version>/`), run by wasmtime under the same decision contract as the
//! Rhai rulesets.
//!
//! Sandbox: the only import a plugin gets is `redress:ruleset/host` (logging); a component
//! that imports anything else (WASI files, sockets, clocks, randomness...) is refused at load
//! time with the import named. Every decision runs in a fresh instance (no state carries over
//! from one case to the next) drawn from a pooling allocator, under a fuel budget (a
//! deterministic bound on instructions, like Rhai's operation limit), a memory cap enforced by
//! a `ResourceLimiter`, table and instance caps and a stack limit, with size caps on what goes
//! in and what comes out. Fuel alone does not bound time (host calls and the host's own work
//! on a plugin's behalf cost no instructions), so every call also has a wall-clock deadline:
//! one background thread advances the engine's epoch every `EPOCH_TICK`, and a store whose
//! deadline has passed traps at its next loop header or function entry. The logging import is
//! charged fuel per call and per byte it reads, and reads at most `LOG_MESSAGE_CHARS` of a
//! message. A trap, the fuel, the time or the memory running out, an error the plugin returns
//! and an output that fails validation all become the same recorded rule failure as a failing
//! Rhai rule. A tenant holds at most its share of the instance pool at once, so that one
//! tenant's slow plugin cannot starve another's.
//!
//! Versioning: each released interface version has its own frozen WIT folder and its own
//! bindings module here (`v1_0_0`). The host reads the version a component exports
//! (`redress:ruleset/decider@<version>`) and refuses a version it has no bindings for, naming
//! both.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock, PoisonError},
    time::Duration,
};

use redress_domain::{
    Case,
    clock::{ClockSpec, ClockUnit, DayEnd, WarnBefore},
    contract::{Action, ClockStart, Decision, Severity, Trigger},
};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    StoreContextMut, Trap,
    component::{Component, HasSelf, Linker, WasmStr, types::ComponentItem},
};

use super::{
    RuleContext, RuleError, artifact_cache::ArtifactCache, manifest::Manifest, view::CaseView,
};

/// The interface versions this host has bindings for.
pub const SUPPORTED_INTERFACES: &[&str] = &["1.0.0"];

/// The engine version recorded with every decision a plugin makes.
pub const ENGINE_VERSION: &str = "wasmtime 48";

mod v1_0_0 {
    wasmtime::component::bindgen!({
        world: "ruleset",
        path: "../../plugins/wit/1.0.0",
        // For `Input::to_json`: the benchmark hands the native build of a plugin the very
        // input the plugin gets.
        additional_derives: [serde::Serialize],
    });
}

use v1_0_0::redress::ruleset::types as wit;

/// The limits every plugin call runs under.
#[derive(Debug, Clone, Copy)]
pub struct WasmLimits {
    /// Fuel per decision (roughly one unit per WebAssembly instruction).
    pub fuel: u64,
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    pub table_elements: usize,
    /// Instances (core modules) per component.
    pub instances: usize,
    /// Stack of the generated machine code.
    pub stack_bytes: usize,
    /// Bytes of text handed to a plugin (the case's free text, attributes...).
    pub max_input_bytes: usize,
    /// Log lines a plugin may write per decision; the rest are dropped (unread).
    pub max_log_lines: u32,
    /// Wall-clock bound on one call (`describe` or `decide`), instantiation included.
    pub timeout: Duration,
    /// Pool instances one tenant may hold at once.
    pub instances_per_tenant: u32,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits {
            fuel: 50_000_000,
            memory_bytes: 32 << 20,
            table_elements: 10_000,
            instances: 16,
            stack_bytes: 512 << 10,
            max_input_bytes: 1 << 20,
            max_log_lines: 20,
            timeout: Duration::from_secs(2),
            instances_per_tenant: (POOLED_INSTANCES / 2).max(8),
        }
    }
}

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

/// How many instances the pool holds: concurrent decisions beyond this are refused as a rule
/// failure (the case goes to manual handling) instead of allocating outside the pool.
const POOLED_INSTANCES: u32 = 64;

/// Memory per pooled instance that is reset with memset and stays mapped between decisions;
/// beyond it pages go back to the kernel. Measured on the banking plugin (benches/engines.rs):
/// 0 gives 19 µs per instantiation (madvise, TLB shootdowns, page faults), 256 KiB gives 12 µs,
/// larger sizes no better, since the memset grows with the size. It pays off only if a plugin's
/// working set (its stack, data and heap) sits low in its memory, which is why the banking
/// plugin links itself with a 64 KiB stack instead of Rust's 1 MiB (plugins/banking/build.rs).
const KEEP_RESIDENT_BYTES: usize = 256 << 10;

/// How often the ticker thread advances the engine's epoch: the granularity of the time bound.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Fuel a call to the logging import costs on top of a byte per byte read: the host's work
/// for a call, which would otherwise be free (a plugin calling `log` in a loop).
const LOG_CALL_FUEL: u64 = 10_000;

/// Characters of a log message that are kept (and read); the rest is dropped.
const LOG_MESSAGE_CHARS: usize = 1_000;

/// What the pool accounting calls the instances that `load` uses to ask a plugin to describe
/// itself, which no tenant's decision is waiting for.
const LOADING: &str = "(loading)";

/// What a store holds while one decision runs.
struct PluginState {
    limits: Limits,
    log_lines: u32,
    max_log_lines: u32,
    plugin: String,
}

/// Takes `amount` of the store's fuel, trapping as out of fuel when there is not that much.
fn charge_fuel(store: &mut StoreContextMut<'_, PluginState>, amount: u64) -> wasmtime::Result<()> {
    let left = store.get_fuel()?;
    match left.checked_sub(amount) {
        Some(rest) => store.set_fuel(rest),
        None => {
            store.set_fuel(0)?;
            Err(Trap::OutOfFuel.into())
        }
    }
}

/// The logging import, defined by hand instead of through the bindings: the bindings lift the
/// whole message into a `String` before the host sees it, so a plugin could make the host copy
/// 16 MiB per call for free. Taking a `WasmStr` leaves the message in the plugin's memory: a
/// call beyond the line cap reads nothing; a read validates the message in place (no copy),
/// is paid for in fuel per byte, and copies out at most `LOG_MESSAGE_CHARS` characters.
fn log_import(
    mut store: StoreContextMut<'_, PluginState>,
    (level, message): (wit::LogLevel, WasmStr),
) -> wasmtime::Result<()> {
    charge_fuel(&mut store, LOG_CALL_FUEL)?;
    let state = store.data_mut();
    if state.log_lines >= state.max_log_lines {
        return Ok(());
    }
    state.log_lines += 1;
    let (read, kept) = {
        let text = message.to_str(&store)?;
        let kept: String = text.chars().take(LOG_MESSAGE_CHARS).collect();
        (text.len(), kept)
    };
    charge_fuel(&mut store, read as u64)?;
    let plugin = store.data().plugin.as_str();
    match level {
        wit::LogLevel::Debug => tracing::debug!(target: "redress::plugins", plugin, "{kept}"),
        wit::LogLevel::Info => tracing::info!(target: "redress::plugins", plugin, "{kept}"),
        wit::LogLevel::Warn => tracing::warn!(target: "redress::plugins", plugin, "{kept}"),
    }
    Ok(())
}

/// The memory and table caps, remembering a refusal so that the failure can say so: a guest
/// whose allocation fails usually traps with `unreachable`, which alone would not tell why.
struct Limits {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    memory_refused: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes;
        if !allowed {
            self.memory_refused = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

impl v1_0_0::redress::ruleset::types::Host for PluginState {}

/// Never called: `log_import` shadows the bindings' definition in the linker. Required by the
/// bindings' `add_to_linker`, which also defines the interface's types.
impl v1_0_0::redress::ruleset::host::Host for PluginState {
    fn log(&mut self, _level: wit::LogLevel, _message: String) {}
}

/// A compiled plugin, ready to instantiate.
#[derive(Clone)]
pub struct WasmPlugin {
    pre: v1_0_0::RulesetPre<PluginState>,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub id: String,
    pub version: String,
    pub sector: String,
    pub interface_version: String,
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
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOLED_INSTANCES)
            .total_core_instances(POOLED_INSTANCES * limits.instances as u32)
            .total_memories(POOLED_INSTANCES * limits.instances as u32)
            .total_tables(POOLED_INSTANCES * limits.instances as u32)
            .max_memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements)
            .max_core_instances_per_component(limits.instances as u32)
            .max_memories_per_component(limits.instances as u32)
            .max_tables_per_component(limits.instances as u32)
            // Reset a returned instance's memory with memset rather than handing the pages back
            // to the kernel, so that the next decision does not fault them in again.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(limits.stack_bytes)
            // Linear memories are reserved at the cap, so no plugin can grow past it even if
            // the limiter were bypassed; guard pages keep bounds checks cheap.
            .memory_reservation(limits.memory_bytes as u64)
            .memory_reservation_for_growth(0)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        v1_0_0::Ruleset::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(engine_error)?;
        linker.allow_shadowing(true);
        for version in SUPPORTED_INTERFACES {
            linker
                .instance(&format!("redress:ruleset/host@{version}"))
                .and_then(|mut host| host.func_wrap("log", log_import))
                .map_err(engine_error)?;
        }
        linker.allow_shadowing(false);
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
        let refused: Vec<String> = ty
            .imports(&self.engine)
            .filter(|(name, item)| {
                let provided = matches!(item.ty, ComponentItem::ComponentInstance(_))
                    && (*name == format!("redress:ruleset/host@{version}")
                        || *name == format!("redress:ruleset/types@{version}"));
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
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(v1_0_0::RulesetPre::new)
            .map_err(|e| refuse(format!("cannot be linked: {e:#}")))?;
        let mut plugin = WasmPlugin {
            pre,
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

    /// Runs `call` in a fresh instance under the limits, holding one of `tenant`'s pool slots.
    fn run<T>(
        &self,
        plugin: &WasmPlugin,
        name: &str,
        tenant: &str,
        call: impl FnOnce(&v1_0_0::Ruleset, &mut Store<PluginState>) -> wasmtime::Result<T>,
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
        let outcome = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|bindings| call(&bindings, &mut store));
        outcome
            .map_err(|e| classify_trap(&e, store.data().limits.memory_refused, self.limits.timeout))
    }

    /// Instantiates a plugin and asks it to describe itself: the fixed cost of every call.
    pub fn describe(&self, plugin: &WasmPlugin, name: &str) -> Result<Descriptor, RuleError> {
        let described = self.run(plugin, name, LOADING, |bindings, store| {
            bindings.redress_ruleset_decider().call_describe(store)
        })?;
        Ok(Descriptor {
            id: described.id,
            version: described.version,
            sector: described.sector,
            interface_version: described.interface_version,
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
        let input = Input::new(trigger, case, ctx, manifest, settings)?;
        if input.text_bytes > self.limits.max_input_bytes {
            return Err(RuleError::Limit(format!(
                "the case is too large to hand to a plugin ({} bytes of text; at most {})",
                input.text_bytes, self.limits.max_input_bytes
            )));
        }
        let reference = format!("{}@{}", manifest.id, manifest.version);
        let answer = self.run(plugin, &reference, &case.tenant, |bindings, store| {
            bindings.redress_ruleset_decider().call_decide(
                store,
                &input.trigger,
                &input.case,
                &input.context,
            )
        })?;
        let decision = answer.map_err(|error| {
            let (why, message) = match error {
                wit::DecideError::BadSetting(m) => ("a setting is missing or malformed", m),
                wit::DecideError::MissingInput(m) => ("the case lacks information", m),
                wit::DecideError::Unsupported(m) => ("the rules do not cover this case", m),
            };
            RuleError::Declined {
                why,
                message: message.chars().take(2_000).collect(),
            }
        })?;
        self.to_decision(decision, manifest)
    }

    /// Maps the plugin's answer to a `Decision`. Its size is checked once for both engines,
    /// by `rules::check_decision`; the item count is checked here first only so that a huge
    /// answer is not converted before it is refused.
    fn to_decision(
        &self,
        decision: wit::Decision,
        manifest: &Manifest,
    ) -> Result<Decision, RuleError> {
        let items = decision.actions.len() + decision.explanation.len();
        if items > super::MAX_DECISION_ITEMS {
            return Err(RuleError::InvalidOutput(format!(
                "{items} items; at most {} are accepted",
                super::MAX_DECISION_ITEMS
            )));
        }
        let actions = decision
            .actions
            .into_iter()
            .enumerate()
            .map(|(i, action)| {
                let action = from_wit(action, manifest);
                let mut errors = redress_domain::ValidationErrors::default();
                if let Action::StartClock { clock, .. } = &action {
                    clock.validate(&format!("/actions/{i}/clock"), &mut errors);
                }
                errors
                    .into_result()
                    .map(|()| action)
                    .map_err(|e| RuleError::InvalidOutput(format!("item {i} (start_clock): {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Decision {
            actions,
            explanation: decision.explanation,
        })
    }
}

/// The instance pool's accounting: how many instances are drawn, in all and per tenant. A
/// decision beyond either count fails at once as `RuleError::Capacity` (not the plugin's fault,
/// so not counted towards quarantine) instead of waiting. The per-tenant share keeps one
/// tenant's slow or hostile plugin from holding every instance while other tenants' cases go to
/// manual handling.
#[derive(Debug)]
struct Pool {
    capacity: u32,
    per_tenant: u32,
    held: Mutex<PoolHeld>,
}

#[derive(Debug, Default)]
struct PoolHeld {
    total: u32,
    by_tenant: HashMap<String, u32>,
}

impl Pool {
    fn new(capacity: u32, per_tenant: u32) -> Pool {
        Pool {
            capacity,
            per_tenant: per_tenant.clamp(1, capacity.max(1)),
            held: Mutex::new(PoolHeld::default()),
        }
    }

    fn take(&self, tenant: &str) -> Result<PoolSlot<'_>, RuleError> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.total >= self.capacity {
            return Err(RuleError::Capacity(format!(
                "all {} plugin instances are busy",
                self.capacity
            )));
        }
        let own = held.by_tenant.get(tenant).copied().unwrap_or(0);
        if own >= self.per_tenant {
            return Err(RuleError::Capacity(format!(
                "tenant `{tenant}` already holds its share ({}) of the {} plugin instances",
                self.per_tenant, self.capacity
            )));
        }
        held.total += 1;
        held.by_tenant.insert(tenant.to_owned(), own + 1);
        Ok(PoolSlot {
            pool: self,
            tenant: tenant.to_owned(),
        })
    }
}

/// Holds one of the pool's instance slots for the duration of a call.
struct PoolSlot<'a> {
    pool: &'a Pool,
    tenant: String,
}

impl Drop for PoolSlot<'_> {
    fn drop(&mut self) {
        let mut held = self
            .pool
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.total = held.total.saturating_sub(1);
        if let Some(own) = held.by_tenant.get_mut(&self.tenant) {
            *own = own.saturating_sub(1);
            if *own == 0 {
                held.by_tenant.remove(&self.tenant);
            }
        }
    }
}

/// Advances `engine`'s epoch every `EPOCH_TICK` from one background thread, for as long as the
/// engine exists (the thread holds only a weak reference).
fn spawn_epoch_ticker(engine: &Engine) -> Result<(), RuleError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| RuleError::Plugin(format!("cannot start the plugin timer thread: {e}")))
}

/// A specific reason for each way a plugin can fail.
fn classify_trap(error: &wasmtime::Error, memory_refused: bool, timeout: Duration) -> RuleError {
    if memory_refused {
        return RuleError::Limit(format!("the plugin reached its memory cap ({error:#})"));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            RuleError::Limit("the plugin ran out of fuel (an endless loop?)".into())
        }
        Some(Trap::StackOverflow) => {
            RuleError::Limit("the plugin overflowed its stack (endless recursion?)".into())
        }
        Some(Trap::AllocationTooLarge) => {
            RuleError::Limit("the plugin asked for more memory than its cap".into())
        }
        Some(Trap::Interrupt) => RuleError::Limit(format!(
            "the plugin took longer than {} ms (its time bound)",
            timeout.as_millis()
        )),
        Some(trap) => RuleError::Plugin(format!("the plugin trapped: {trap}")),
        None => RuleError::Plugin(format!("the plugin failed: {error:#}")),
    }
}

fn unit_from(unit: wit::ClockUnit) -> ClockUnit {
    match unit {
        wit::ClockUnit::WorkingDays => ClockUnit::WorkingDays,
        wit::ClockUnit::CalendarDays => ClockUnit::CalendarDays,
        wit::ClockUnit::Hours => ClockUnit::Hours,
    }
}

fn from_wit(action: wit::Action, manifest: &Manifest) -> Action {
    match action {
        wit::Action::Accept(note) => Action::Accept { note },
        wit::Action::Reject(r) => Action::Reject {
            ground: r.ground,
            article: r.article,
            reason: r.reason,
        },
        wit::Action::RequestInformation(r) => Action::RequestInformation {
            fields: r.fields,
            article: r.article,
            reason: r.reason,
        },
        wit::Action::Route(r) => Action::Route {
            office: r.office,
            division_code: r.division_code,
            tier: r.tier,
            reason: r.reason,
        },
        wit::Action::Transfer(t) => Action::Transfer {
            to_office: t.to_office,
            reason: t.reason,
        },
        wit::Action::StartClock(s) => Action::StartClock {
            clock: ClockSpec {
                name: s.clock.name,
                amount: s.clock.amount,
                unit: unit_from(s.clock.unit),
                calendar: if s.clock.calendar.is_empty() {
                    manifest.calendar.clone()
                } else {
                    s.clock.calendar
                },
                roll_forward: s.clock.roll_forward,
                day_end: match s.clock.day_end {
                    wit::DayEnd::Midnight => DayEnd::Midnight,
                    wit::DayEnd::CloseOfBusiness => DayEnd::CloseOfBusiness,
                },
                warn_before: s.clock.warn_before.map(|w| WarnBefore {
                    amount: w.amount,
                    unit: unit_from(w.unit),
                }),
                article: s.clock.article,
                escalation: s.clock.escalation,
                // Declared in the package's manifest (`[clocks.<name>] met_by`), filled in by
                // `rules::apply` for both engines alike.
                met_by: Vec::new(),
            },
            from: match s.from {
                wit::ClockStart::Received => ClockStart::Received,
                wit::ClockStart::Now => ClockStart::Now,
            },
        },
        wit::Action::PauseClock(p) => Action::PauseClock {
            name: p.name,
            reason: p.reason,
        },
        wit::Action::ResumeClock(name) => Action::ResumeClock { name },
        wit::Action::StopClock(s) => Action::StopClock {
            name: s.name,
            met: s.met,
            reason: s.reason,
        },
        wit::Action::ExtendClock(e) => Action::ExtendClock {
            name: e.name,
            amount: e.amount,
            reason: e.reason,
            approved_by: e.approved_by,
            complainant_notified: e.complainant_notified,
        },
        wit::Action::RestartClock(r) => Action::RestartClock {
            name: r.name,
            reason: r.reason,
        },
        wit::Action::Escalate(e) => Action::Escalate {
            to: e.to,
            reason: e.reason,
        },
        wit::Action::Classify(c) => Action::Classify {
            category: c.category,
            severity: c.severity.map(|s| match s {
                wit::Severity::Low => Severity::Low,
                wit::Severity::Normal => Severity::Normal,
                wit::Severity::High => Severity::High,
                wit::Severity::Major => Severity::Major,
            }),
            flags: c.flags,
        },
        wit::Action::Notify(n) => Action::Notify {
            recipient: n.recipient,
            template: n.template,
        },
        wit::Action::Close(outcome) => Action::Close { outcome },
    }
}

/// Everything a plugin is handed for one decision.
#[derive(Debug)]
pub struct Input {
    pub trigger: wit::Trigger,
    pub case: wit::CaseView,
    pub context: wit::Context,
    /// Bytes of text in the input, for the size cap.
    pub text_bytes: usize,
}

impl Input {
    /// The input as JSON in the SDK's serde form: `[trigger, case, context]`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!([self.trigger, self.case, self.context])
    }
}

fn name<T: serde::Serialize>(value: &T) -> String {
    super::view::enum_name(value).unwrap_or_default()
}

/// A package's settings as WIT values, converted once when the package is loaded.
#[derive(Debug, Clone)]
pub struct PluginSettings(Vec<(String, wit::SettingValue)>);

impl PluginSettings {
    pub fn of(manifest: &Manifest) -> PluginSettings {
        PluginSettings(
            manifest
                .settings
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        toml::Value::Boolean(b) => wit::SettingValue::Boolean(*b),
                        toml::Value::Integer(i) => wit::SettingValue::Integer(*i),
                        toml::Value::Float(f) => wit::SettingValue::Float(*f),
                        toml::Value::String(s) => wit::SettingValue::Text(s.clone()),
                        toml::Value::Array(items) => wit::SettingValue::Texts(
                            items
                                .iter()
                                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                                .collect(),
                        ),
                        other => wit::SettingValue::Text(other.to_string()),
                    };
                    (key.clone(), value)
                })
                .collect(),
        )
    }
}

impl Input {
    pub fn new(
        trigger: &Trigger,
        case: &Case,
        ctx: &RuleContext<'_>,
        manifest: &Manifest,
        settings: &PluginSettings,
    ) -> Result<Input, RuleError> {
        let view = CaseView::of(case);
        let mut bytes = 0usize;
        let mut text = |s: &str| {
            bytes += s.len();
            s.to_owned()
        };
        let trigger = match trigger {
            Trigger::CaseReceived => wit::Trigger::CaseReceived,
            Trigger::HandlerEvent { action } => {
                let json = serde_json::to_value(action)
                    .map_err(|e| RuleError::InvalidOutput(e.to_string()))?;
                let mut kind = String::new();
                let mut fields = Vec::new();
                if let serde_json::Value::Object(map) = json {
                    for (key, value) in map {
                        match (key.as_str(), value) {
                            ("type", serde_json::Value::String(s)) => kind = s,
                            (_, serde_json::Value::String(s)) => fields.push((key, text(&s))),
                            (_, serde_json::Value::Bool(b)) => fields.push((key, b.to_string())),
                            (_, serde_json::Value::Number(n)) => fields.push((key, n.to_string())),
                            // A list of texts (`documents`): one a line; each is one line.
                            (_, serde_json::Value::Array(items)) => {
                                let lines: Vec<&str> =
                                    items.iter().filter_map(serde_json::Value::as_str).collect();
                                fields.push((key, text(&lines.join("\n"))));
                            }
                            _ => {}
                        }
                    }
                }
                wit::Trigger::HandlerEvent(wit::HandlerAction { kind, fields })
            }
            Trigger::ClockWarning { clock } => wit::Trigger::ClockWarning(clock.clone()),
            Trigger::ClockBreach { clock } => wit::Trigger::ClockBreach(clock.clone()),
        };
        let c = &view.complainant;
        let r = &view.respondent;
        let case_view = wit::CaseView {
            id: view.id.clone(),
            tenant: view.tenant.to_owned(),
            sector: view.sector.to_owned(),
            kind: name(&view.kind),
            channel: name(&view.channel),
            status: view.status.to_owned(),
            stage: view.stage.as_ref().map(name),
            received_at: view.received_at.clone(),
            received_date: view.received_date.clone(),
            transferred_from: view.transferred_from.map(&mut text),
            complainant: wit::ComplainantView {
                has_name: c.has_name,
                has_phone: c.has_phone,
                has_address: c.has_address,
                has_identity_document: c.has_identity_document,
                anonymous: c.anonymous,
                has_agent: c.has_agent,
                agent_has_identity_document: c.agent_has_identity_document,
                agent_power_of_attorney: c.agent_power_of_attorney,
            },
            complainant_count: view.complainant_count,
            respondent: wit::RespondentView {
                name: text(r.name),
                has_address: r.has_address,
                division_code: r.division_code.map(str::to_owned),
                online_role: r.online_role.as_ref().map(name),
                platform_name: r.platform_name.map(&mut text),
                platform_division_code: r.platform_division_code.map(str::to_owned),
            },
            claim: text(view.claim),
            facts: text(view.facts),
            category: view.category.map(&mut text),
            amount: view.amount.map(str::to_owned),
            evidence: view.evidence.iter().map(name).collect(),
            harm_known_on: view.harm_known_on.clone(),
            purpose: view.purpose.as_ref().map(name),
            filed_by: view.filed_by.as_ref().map(name),
            handled_elsewhere: view
                .handled_elsewhere
                .iter()
                .map(|p| wit::ProceedingView {
                    body: name(&p.body),
                    status: name(&p.status),
                    reference: p.reference.clone(),
                })
                .collect(),
            attributes: view
                .attributes
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        serde_json::Value::Bool(b) => wit::AttributeValue::Boolean(*b),
                        serde_json::Value::Number(n) => match n.as_i64() {
                            Some(i) => wit::AttributeValue::Integer(i),
                            None => wit::AttributeValue::Float(n.as_f64().unwrap_or_default()),
                        },
                        serde_json::Value::String(s) => wit::AttributeValue::Text(text(s)),
                        other => wit::AttributeValue::Json(text(&other.to_string())),
                    };
                    (text(key), value)
                })
                .collect(),
            transfers: u32::try_from(view.transfers).unwrap_or(u32::MAX),
            reopen_count: view.reopen_count,
            flags: view.flags.iter().map(|f| text(f)).collect(),
            clocks: view
                .clocks
                .iter()
                .map(|(clock_name, clock)| wit::ClockView {
                    name: (*clock_name).to_owned(),
                    state: clock.state.to_owned(),
                    due_at: clock.due_at.clone(),
                    started_at: clock.started_at.clone(),
                    extended_by: clock.extended_by,
                    breached: clock.breached,
                })
                .collect(),
        };
        let context = wit::Context {
            now: ctx.now.to_string(),
            today: ctx.now.to_zoned(case.time_zone()).date().to_string(),
            ruleset: format!("{}@{}", manifest.id, manifest.version),
            settings: settings.0.clone(),
        };
        Ok(Input {
            trigger,
            case: case_view,
            context,
            text_bytes: bytes,
        })
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

    /// A handler action crosses the WIT as its `kind` and its fields as text: booleans,
    /// numbers and dates as text, a list of texts one a line; absent optional fields are not
    /// sent.
    #[test]
    fn a_handler_action_crosses_as_kind_and_text_fields() {
        use redress_domain::{Actor, CaseId, TrackingCode};
        let manifest = Manifest::parse(
            "id = \"x\"\nversion = \"1.0.0\"\nname = \"X\"\nsector = \"banking\"\neffective_from = 2020-03-01\nengine = \"wasm\"\nentry = \"x.wasm\"\n",
            "ruleset.toml",
        )
        .unwrap();
        let intake = serde_json::from_value(serde_json::json!({
            "sector": "banking", "channel": "hotline",
            "respondent": {"name": "某银行"}, "claim": "退款"
        }))
        .unwrap();
        let now: jiff::Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
        let (case, _) = Case::register(
            CaseId::from_parts(1, 1),
            TrackingCode::from_random(1),
            "default".into(),
            intake,
            Actor::api("intake"),
            now,
        )
        .unwrap();
        let calendars = redress_calendar::CalendarSet::default();
        let ctx = RuleContext {
            now,
            calendars: &calendars,
        };
        let fields_of = |action: serde_json::Value| {
            let trigger = Trigger::HandlerEvent {
                action: serde_json::from_value(action).unwrap(),
            };
            let input = Input::new(
                &trigger,
                &case,
                &ctx,
                &manifest,
                &PluginSettings::of(&manifest),
            )
            .unwrap();
            let wit::Trigger::HandlerEvent(mut action) = input.trigger else {
                panic!("not a handler event");
            };
            // In the order serde_json's map gives, which a dependency's features may change.
            action.fields.sort();
            (action.kind, action.fields)
        };
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            fields_of(
                serde_json::json!({"type": "agree_mediation_extension", "amount": 15,
                "unit": "working_days", "reason": "约定延长", "agreed_by": "医调委与双方"})
            ),
            (
                "agree_mediation_extension".into(),
                pairs(&[
                    ("agreed_by", "医调委与双方"),
                    ("amount", "15"),
                    ("reason", "约定延长"),
                    ("unit", "working_days")
                ])
            )
        );
        assert_eq!(
            fields_of(serde_json::json!({"type": "request_documents",
                "documents": ["授权委托书原件", "代理人身份证件"], "reason": "art. 14"})),
            (
                "request_documents".into(),
                pairs(&[
                    ("documents", "授权委托书原件\n代理人身份证件"),
                    ("reason", "art. 14")
                ])
            )
        );
        assert_eq!(
            fields_of(
                serde_json::json!({"type": "give_notice", "recipient": "reporter",
                "means": "sms", "about": "decision_notice"})
            ),
            (
                "give_notice".into(),
                pairs(&[
                    ("about", "decision_notice"),
                    ("means", "sms"),
                    ("recipient", "reporter")
                ])
            )
        );
        assert_eq!(
            fields_of(serde_json::json!({"type": "record_callback", "satisfied": false})).1,
            pairs(&[("satisfied", "false")])
        );
        assert_eq!(
            fields_of(serde_json::json!({"type": "request_review",
                "requested_on": "2026-12-01", "reason": "不服"}))
            .1,
            pairs(&[("reason", "不服"), ("requested_on", "2026-12-01")])
        );
    }

    /// Finding 7 of the sandbox review: one tenant's slow plugin took every pooled instance and
    /// sent another tenant's cases to manual handling.
    #[test]
    fn one_tenant_cannot_hold_the_whole_instance_pool() {
        let pool = Pool::new(POOLED_INSTANCES, WasmLimits::default().instances_per_tenant);
        let greedy: Vec<PoolSlot<'_>> = std::iter::from_fn(|| pool.take("greedy").ok())
            .take(POOLED_INSTANCES as usize)
            .collect();
        assert_eq!(greedy.len(), 32, "a tenant's share: half the pool");
        let refused = pool.take("greedy").err().unwrap();
        assert!(
            refused
                .to_string()
                .contains("tenant `greedy` already holds its share"),
            "{refused}"
        );
        // Another tenant is still served, up to the pool's size.
        let others: Vec<PoolSlot<'_>> = (0..32)
            .map(|i| pool.take(&format!("tenant-{i}")).unwrap())
            .collect();
        let full = pool.take("late").err().unwrap();
        assert!(
            full.to_string()
                .contains("all 64 plugin instances are busy"),
            "{full}"
        );
        drop(greedy);
        drop(others);
        let held = pool.held.lock().unwrap();
        assert_eq!((held.total, held.by_tenant.len()), (0, 0));
    }
}
