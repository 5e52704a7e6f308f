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
//! in and what comes out. A trap, the fuel or memory running out, an error the plugin returns
//! and an output that fails validation all become the same recorded rule failure as a failing
//! Rhai rule.
//!
//! Versioning: each released interface version has its own frozen WIT folder and its own
//! bindings module here (`v1_0_0`). The host reads the version a component exports
//! (`redress:ruleset/decider@<version>`) and refuses a version it has no bindings for, naming
//! both.

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use redress_domain::{
    Case,
    clock::{ClockSpec, ClockUnit, DayEnd, WarnBefore},
    contract::{Action, ClockStart, Decision, Severity, Trigger},
};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
    component::{Component, HasSelf, Linker, types::ComponentItem},
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
    /// Actions plus explanation lines in one decision.
    pub max_decision_items: usize,
    /// Bytes of text in one decision.
    pub max_output_bytes: usize,
    /// Log lines a plugin may write per decision; the rest are dropped.
    pub max_log_lines: u32,
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
            max_decision_items: 200,
            max_output_bytes: 1 << 20,
            max_log_lines: 20,
        }
    }
}

/// The shared wasmtime engine and its configuration.
pub struct WasmEngine {
    engine: Engine,
    linker: Linker<PluginState>,
    limits: WasmLimits,
    /// Instances currently drawn from the pool, to fail cleanly rather than wait.
    in_flight: AtomicU64,
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

/// What a store holds while one decision runs.
struct PluginState {
    limits: Limits,
    log_lines: u32,
    max_log_lines: u32,
    plugin: String,
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

impl v1_0_0::redress::ruleset::host::Host for PluginState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        if self.log_lines >= self.max_log_lines {
            return;
        }
        self.log_lines += 1;
        let message: String = message.chars().take(1_000).collect();
        let plugin = self.plugin.as_str();
        match level {
            wit::LogLevel::Debug => {
                tracing::debug!(target: "redress::plugins", plugin, "{message}")
            }
            wit::LogLevel::Info => tracing::info!(target: "redress::plugins", plugin, "{message}"),
            wit::LogLevel::Warn => tracing::warn!(target: "redress::plugins", plugin, "{message}"),
        }
    }
}

/// A compiled plugin, ready to instantiate.
#[derive(Clone)]
pub struct WasmPlugin {
    pre: v1_0_0::RulesetPre<PluginState>,
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
        static SHARED: OnceLock<Result<WasmEngine, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| WasmEngine::new(WasmLimits::default()).map_err(|e| e.to_string()))
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
        Ok(WasmEngine {
            engine,
            linker,
            limits,
            in_flight: AtomicU64::new(0),
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

    /// Runs `call` in a fresh instance under the limits.
    fn run<T>(
        &self,
        plugin: &WasmPlugin,
        name: &str,
        call: impl FnOnce(&v1_0_0::Ruleset, &mut Store<PluginState>) -> wasmtime::Result<T>,
    ) -> Result<T, RuleError> {
        let _slot = PoolSlot::take(&self.in_flight, u64::from(POOLED_INSTANCES))?;
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
        let outcome = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|bindings| call(&bindings, &mut store));
        outcome.map_err(|e| classify_trap(&e, store.data().limits.memory_refused))
    }

    /// Instantiates a plugin and asks it to describe itself: the fixed cost of every call.
    pub fn describe(&self, plugin: &WasmPlugin, name: &str) -> Result<Descriptor, RuleError> {
        let described = self.run(plugin, name, |bindings, store| {
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
        let answer = self.run(plugin, &reference, |bindings, store| {
            bindings.redress_ruleset_decider().call_decide(
                store,
                &input.trigger,
                &input.case,
                &input.context,
            )
        })?;
        let decision = answer.map_err(|error| {
            let (kind, message) = match error {
                wit::DecideError::BadSetting(m) => ("a setting is missing or malformed", m),
                wit::DecideError::MissingInput(m) => ("the case lacks information", m),
                wit::DecideError::Unsupported(m) => ("the rules do not cover this case", m),
            };
            RuleError::Script(format!(
                "the plugin declined to decide ({kind}): {}",
                message.chars().take(2_000).collect::<String>()
            ))
        })?;
        self.to_decision(decision, manifest)
    }

    fn to_decision(
        &self,
        decision: wit::Decision,
        manifest: &Manifest,
    ) -> Result<Decision, RuleError> {
        let items = decision.actions.len() + decision.explanation.len();
        if items > self.limits.max_decision_items {
            return Err(RuleError::InvalidOutput(format!(
                "{items} items; at most {} are accepted",
                self.limits.max_decision_items
            )));
        }
        let bytes: usize = decision.explanation.iter().map(String::len).sum::<usize>()
            + decision
                .actions
                .iter()
                .map(action_text_bytes)
                .sum::<usize>();
        if bytes > self.limits.max_output_bytes {
            return Err(RuleError::InvalidOutput(format!(
                "{bytes} bytes of text; at most {} are accepted",
                self.limits.max_output_bytes
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

/// Holds one of the pool's instance slots for the duration of a call.
struct PoolSlot<'a>(&'a AtomicU64);

impl<'a> PoolSlot<'a> {
    fn take(counter: &'a AtomicU64, capacity: u64) -> Result<PoolSlot<'a>, RuleError> {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        if before >= capacity {
            counter.fetch_sub(1, Ordering::AcqRel);
            return Err(RuleError::Capacity(format!(
                "all {capacity} plugin instances are busy"
            )));
        }
        Ok(PoolSlot(counter))
    }
}

impl Drop for PoolSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A specific reason for each way a plugin can fail.
fn classify_trap(error: &wasmtime::Error, memory_refused: bool) -> RuleError {
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
        Some(trap) => RuleError::Plugin(format!("the plugin trapped: {trap}")),
        None => RuleError::Plugin(format!("the plugin failed: {error:#}")),
    }
}

fn action_text_bytes(action: &wit::Action) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    match action {
        wit::Action::Accept(note) => opt(note),
        wit::Action::Reject(r) => r.ground.len() + r.article.len() + r.reason.len(),
        wit::Action::RequestInformation(r) => {
            r.fields.iter().map(String::len).sum::<usize>() + opt(&r.article) + r.reason.len()
        }
        wit::Action::Route(r) => {
            opt(&r.office) + opt(&r.division_code) + opt(&r.tier) + r.reason.len()
        }
        wit::Action::Transfer(t) => t.to_office.len() + t.reason.len(),
        wit::Action::StartClock(s) => {
            s.clock.name.len()
                + s.clock.calendar.len()
                + opt(&s.clock.article)
                + s.clock.escalation.iter().map(String::len).sum::<usize>()
        }
        wit::Action::PauseClock(p) => p.name.len() + p.reason.len(),
        wit::Action::ResumeClock(name) => name.len(),
        wit::Action::StopClock(s) => s.name.len() + opt(&s.reason),
        wit::Action::ExtendClock(e) => e.name.len() + e.reason.len() + opt(&e.approved_by),
        wit::Action::RestartClock(r) => r.name.len() + r.reason.len(),
        wit::Action::Escalate(e) => e.to.len() + e.reason.len(),
        wit::Action::Classify(c) => {
            opt(&c.category) + c.flags.iter().map(String::len).sum::<usize>()
        }
        wit::Action::Notify(n) => n.recipient.len() + n.template.len(),
        wit::Action::Close(outcome) => outcome.len(),
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
