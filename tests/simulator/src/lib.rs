//! The seeded simulator of the integration (issue 14): one seed fixes every choice, tokio's
//! paused clock (through the `clock` crate) is the only time, and the checks run over what the
//! world holds once it is quiet.
//!
//! - [`delivery`]: how AWS delivers to the four Lambdas, as the stack configures it (rule
//!   patterns, asynchronous invocation with retries and DLQs, reserved concurrency, timeouts,
//!   at-least-once, reordering, schedules), generic over handlers given as async closures.
//! - [`invariants`]: the invariants as pure functions over plain data.
//! - [`runner`]: seeds run and judged (one, many over the cores, a failing one shrunk).
//! - [`world`]: the four handlers, both emulators in process and the in-memory table wired to
//!   the delivery model, a seeded responder workload, and the end state for the invariants.

pub mod delivery;
pub mod invariants;
pub mod runner;
pub mod world;
