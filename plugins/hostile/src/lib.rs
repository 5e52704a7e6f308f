//! A plugin that misbehaves in the way its feature names; the host's sandbox tests load each
//! build and check that the misbehaviour is contained with a specific recorded reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use redress_plugin_sdk::{CaseView, Context, Decision, Descriptor, Ruleset, Trigger};

#[derive(Debug)]
pub struct Hostile;

// Only in the plugin: natively, the component export names (`redress:ruleset/...`) are not
// valid linker symbols, and the native build is for tests and benchmarks.
#[cfg(target_arch = "wasm32")]
redress_plugin_sdk::export_ruleset!(Hostile);

impl Ruleset for Hostile {
    fn describe() -> Descriptor {
        // `describe` runs at load, before any case: its time must be bounded too.
        if cfg!(feature = "slow-describe") {
            let mut n: u64 = 1;
            loop {
                n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        Descriptor {
            id: "hostile".into(),
            version: "0.1.0".into(),
            sector: "banking".into(),
            interface_version: redress_plugin_sdk::INTERFACE_VERSION.into(),
        }
    }

    fn decide(
        _trigger: Trigger,
        case: CaseView,
        _ctx: Context,
    ) -> Result<Decision, redress_plugin_sdk::DecideError> {
        misbehave(&case).map_err(redress_plugin_sdk::DecideError::Unsupported)
    }
}

#[cfg(feature = "endless-loop")]
fn misbehave(case: &CaseView) -> Result<Decision, String> {
    let mut n: u64 = case.claim.len() as u64;
    loop {
        n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

#[cfg(feature = "memory-bomb")]
fn misbehave(case: &CaseView) -> Result<Decision, String> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![case.claim.len() as u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

#[cfg(feature = "endless-recursion")]
fn misbehave(case: &CaseView) -> Result<Decision, String> {
    #[allow(unconditional_recursion)]
    fn deeper(n: u64, pad: [u64; 16]) -> u64 {
        std::hint::black_box(pad);
        deeper(std::hint::black_box(n + 1), pad) + 1
    }
    let n = deeper(case.claim.len() as u64, [0; 16]);
    Err(n.to_string())
}

#[cfg(feature = "trap")]
fn misbehave(case: &CaseView) -> Result<Decision, String> {
    let items: Vec<u8> = Vec::new();
    let index = std::hint::black_box(case.claim.len() + 7);
    Err(items[index].to_string())
}

/// A clock the host must refuse: no name, zero days.
#[cfg(feature = "garbage")]
fn misbehave(_case: &CaseView) -> Result<Decision, String> {
    use redress_plugin_sdk::{Action, ClockSpec, ClockStart, ClockUnit, DayEnd, StartClockAction};
    Ok(Decision {
        actions: vec![Action::StartClock(StartClockAction {
            clock: ClockSpec {
                name: "Not A Name!".into(),
                amount: 0,
                unit: ClockUnit::WorkingDays,
                calendar: String::new(),
                roll_forward: true,
                day_end: DayEnd::Midnight,
                warn_before: None,
                article: None,
                escalation: Vec::new(),
            },
            from: ClockStart::Now,
        })],
        explanation: vec![],
    })
}

#[cfg(feature = "huge-output")]
fn misbehave(case: &CaseView) -> Result<Decision, String> {
    let line = "x".repeat(1000 + case.claim.len());
    Ok(Decision {
        actions: vec![],
        explanation: vec![line; 5_000],
    })
}

#[cfg(feature = "reads-files")]
fn misbehave(_case: &CaseView) -> Result<Decision, String> {
    let secret = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    Err(secret)
}

#[cfg(feature = "opens-sockets")]
fn misbehave(_case: &CaseView) -> Result<Decision, String> {
    let stream = std::net::TcpStream::connect("127.0.0.1:9").map_err(|e| e.to_string())?;
    Err(format!("{stream:?}"))
}

#[cfg(feature = "declines")]
fn misbehave(_case: &CaseView) -> Result<Decision, String> {
    Err("this plugin never decides".into())
}

/// Logs a 16 MiB message over and over: the host's work on each call (reading the message)
/// must be paid for, or fuel does not bound the decision's time.
#[cfg(feature = "log-bomb")]
fn misbehave(case: &CaseView) -> Result<Decision, String> {
    let message = "x".repeat((16 << 20) + case.claim.len() % 2);
    loop {
        redress_plugin_sdk::log(redress_plugin_sdk::LogLevel::Info, &message);
    }
}

/// 400,000 empty flags: no text at all, so no text cap sees them, yet each is stored.
#[cfg(feature = "many-flags")]
fn misbehave(_case: &CaseView) -> Result<Decision, String> {
    use redress_plugin_sdk::{Action, ClassifyAction};
    Ok(Decision {
        actions: vec![Action::Classify(ClassifyAction {
            category: None,
            severity: None,
            flags: vec![String::new(); 400_000],
        })],
        explanation: vec![],
    })
}

#[cfg(not(any(
    feature = "log-bomb",
    feature = "many-flags",
    feature = "endless-loop",
    feature = "memory-bomb",
    feature = "endless-recursion",
    feature = "trap",
    feature = "garbage",
    feature = "huge-output",
    feature = "reads-files",
    feature = "opens-sockets",
    feature = "declines",
)))]
fn misbehave(_case: &CaseView) -> Result<Decision, String> {
    // Without a feature (a plain `cargo build` or `clippy` of the workspace), a harmless plugin.
    Ok(Decision {
        actions: vec![],
        explanation: vec![],
    })
}
